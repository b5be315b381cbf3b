"""core/console: the History filter language, exports, and the digest filter staying on its index."""

from __future__ import annotations

import csv
import json
from datetime import timedelta

import pytest

from core.clock import iso
from core.console.export import export_history
from core.console.filters import describe_filter, parse_history_filter
from core.errors import InputError
from core.history.records import HistoryFilter, _where, record_verifications
from tests.support.console import NOW, console_context
from tests.support.store import history


def test_filter_words_and_loose_text():
    filt = parse_history_filter("result:invalid source:sweep key:AB12 payments api", now=NOW)
    assert filt == HistoryFilter(image="payments api", result="invalid", source="sweep", key="AB12")
    assert describe_filter(filt) == "image:payments api result:invalid source:sweep key:AB12"


def test_filter_time_bounds_relative_and_absolute():
    filt = parse_history_filter("since:24h until:2026-11-22T11:00:00Z", now=NOW)
    assert filt.since == iso(NOW - timedelta(hours=24)) and filt.until == "2026-11-22T11:00:00.000000Z"


def test_unknown_filter_key_is_an_error_but_text_with_colons_is_searched():
    with pytest.raises(InputError, match="unknown filter key 'foo'.*image:foo:bar"):
        parse_history_filter("foo:bar", now=NOW)
    for text in ("image:nginx:1.25", "registry.example/app:v1", "sha256:ab12"):
        assert parse_history_filter(text, now=NOW).image == text.removeprefix("image:")


@pytest.mark.parametrize("text", ["result:maybe", "source:elsewhere", "since:yesterday", "x" * 501])
def test_bad_filters_are_input_errors(text):
    with pytest.raises(InputError):
        parse_history_filter(text, now=NOW)


@pytest.fixture
def ctx(tmp_path):
    context = console_context(tmp_path)
    with context.store.write() as db:
        record_verifications(db, [dict(at=NOW - timedelta(minutes=i), actor="a", source="cli",
                                       reference=f"r/app:{i}", digest=f"sha256:{i:064x}",
                                       result="verified" if i % 2 else "invalid", reason="")
                                  for i in range(300)])
    yield context
    context.close()


def test_digest_prefix_filter_matches_and_uses_the_digest_index(ctx):
    filt = parse_history_filter("sha256:" + "0" * 62 + "1", now=NOW)  # prefix of ids 16..31 (0x10-0x1f)
    rows = history(ctx.store, filt, limit=1000)
    assert sorted(int(r.digest[7:], 16) for r in rows) == list(range(16, 32))
    with ctx.store.read() as db:
        clauses, params = _where(db, filt)
    plan = ctx.store.query("EXPLAIN QUERY PLAN SELECT * FROM verifications WHERE " + " AND ".join(clauses), params)
    assert any("verifications_digest" in step["detail"] for step in plan), plan


def test_export_csv_and_json_write_every_matching_row(ctx, tmp_path):
    filt = HistoryFilter(result="invalid")
    assert export_history(ctx.store, filt, tmp_path / "h.csv", "csv") == 150
    rows = list(csv.DictReader((tmp_path / "h.csv").open()))
    assert len(rows) == 150 and rows[0]["reference"] == "r/app:0"
    assert export_history(ctx.store, filt, tmp_path / "h.json", "json") == 150
    assert [r["result"] for r in json.loads((tmp_path / "h.json").read_text())] == ["invalid"] * 150
    assert not list(tmp_path.glob("*.partial"))


def test_export_refuses_bad_targets_and_stops_when_cancelled(ctx, tmp_path):
    with pytest.raises(InputError):
        export_history(ctx.store, HistoryFilter(), tmp_path / "missing-dir" / "h.csv", "csv")
    with pytest.raises(InputError):
        export_history(ctx.store, HistoryFilter(), tmp_path / "h.xml", "xml")
    assert export_history(ctx.store, HistoryFilter(), tmp_path / "c.csv", "csv", cancelled=lambda: True) == 0
    assert not (tmp_path / "c.csv").exists() and not list(tmp_path.glob("*.partial"))
