"""Verification history on both store backends: writing, keyset paging, every filter, counts."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
import sqlite3
from itertools import pairwise

import psycopg
import pytest

from core.clock import iso
from core.history.records import (HistoryFilter, append_verifications, count_by_result, iter_history,
                                  record_verification, record_verifications)
from tests.support.store import history, open_target

NOW = datetime(2026, 11, 22, 12, 0, tzinfo=timezone.utc)


@pytest.fixture
def store(store_target):
    s = open_target(store_target)
    with s.write() as db:
        record_verifications(db, [dict(at=NOW - timedelta(minutes=i), actor="a", source="cli",
                                       reference=f"reg.example/Team/app:{i}", digest=f"sha256:{i:064x}",
                                       result="verified" if i % 2 else "invalid",
                                       matched_keys=["ab12" * 16] if i % 2 else [])
                                  for i in range(300)])
    yield s
    s.close()


def test_record_returns_the_new_rows_id_and_it_reads_back(store):
    with store.write() as db:
        new_id = record_verification(db, at=NOW + timedelta(hours=1), actor="bob", source="gate",
                                     reference="x/y:1", digest=None, result="bypassed", reason="bp-1",
                                     duration_ms=12.3456, bypass_id="bp-1", details={"k": "v"})
    (row,) = history(store, HistoryFilter(source="gate"))
    assert row.id == new_id == 301
    assert (row.actor, row.result, row.duration_ms, row.bypass_id, row.details) == ("bob", "bypassed", 12.346,
                                                                                  "bp-1", {"k": "v"})


def test_appended_rows_read_back_and_a_batch_is_all_or_nothing(store):
    rows = [dict(at=NOW + timedelta(hours=1, seconds=i), actor="bob", source="cli", reference=f"x/y:{i}",
                 digest=f"sha256:{i:064x}", result="verified", matched_keys=["cd" * 32], details={"n": i})
            for i in range(3)]
    assert append_verifications(store, rows) == 3
    assert append_verifications(store, rows[:1]) == 1  # one row alone takes the single-INSERT path
    written = history(store, HistoryFilter(image="x/y:"))
    assert [(r.reference, r.actor, r.matched_keys, r.details) for r in written] == [
        ("x/y:2", "bob", ["cd" * 32], {"n": 2}), ("x/y:1", "bob", ["cd" * 32], {"n": 1}),
        ("x/y:0", "bob", ["cd" * 32], {"n": 0}), ("x/y:0", "bob", ["cd" * 32], {"n": 0})]

    columns = ("at", "actor", "source", "reference", "result")
    good = (iso(NOW), "bob", "cli", "x/z:good", "verified")
    with pytest.raises((sqlite3.IntegrityError, psycopg.errors.NotNullViolation)):
        store.append("verifications", columns, [good, (iso(NOW), None, "cli", "x/z:bad", "verified")])
    assert history(store, HistoryFilter(image="x/z:")) == []  # the good row did not stay either


def test_an_append_inside_a_write_transaction_is_part_of_it(store):
    with pytest.raises(RuntimeError):
        with store.write():
            append_verifications(store, [dict(at=NOW, actor="bob", source="cli", reference="x/rolled:1",
                                              digest=None, result="error")])
            raise RuntimeError("the change it went with failed")
    assert history(store, HistoryFilter(image="x/rolled")) == []


def test_keyset_pages_walk_every_row_newest_first_without_repeats(store):
    rows = list(iter_history(store, page=64))
    assert len(rows) == 300
    assert [r.reference for r in rows[:2]] == ["reg.example/Team/app:0", "reg.example/Team/app:1"]
    assert len({r.id for r in rows}) == 300
    assert all(a.at >= b.at for a, b in pairwise(rows))


@pytest.mark.parametrize("filt, expected", [
    (HistoryFilter(image="team/APP:12"), 11),          # substring, any case: 12, 120..129
    (HistoryFilter(image="sha256:" + "0" * 62 + "1"), 16),  # digest prefix: ids 16..31
    (HistoryFilter(result="invalid"), 150),
    (HistoryFilter(key="AB12"), 150),                   # fingerprint prefix, any case
    (HistoryFilter(since=iso(NOW - timedelta(minutes=9))), 10),
    (HistoryFilter(until=iso(NOW - timedelta(minutes=289)), result="verified"), 5),
    (HistoryFilter(image="100%_"), 0),                  # LIKE wildcards in the text are literal
])
def test_filters(store, filt, expected):
    assert len(history(store, filt, limit=1000)) == expected


def test_counts_by_result_overall_and_since(store):
    with store.read() as db:
        assert count_by_result(db) == {"verified": 150, "invalid": 150, "unsigned": 0, "error": 0, "bypassed": 0}
        recent = count_by_result(db, since=iso(NOW - timedelta(minutes=3)))
    assert recent["verified"] + recent["invalid"] == 4


def test_dashboard_attention_lists_images_whose_newest_result_fails(store, tmp_path):
    """Per image only the newest result counts: image a failed last (listed), image b was fixed (not)."""
    from core.clock import FixedClock
    from core.config.model import Config
    from core.console.dashboard import dashboard_summary
    from core.context import SignetContext
    from core.identity import principal_for
    from core.paths import SignetPaths

    with store.write() as db:
        for minutes, digest, result in ((50, "sha256:" + "a" * 64, "invalid"), (40, "sha256:" + "a" * 64, "verified"),
                                        (30, "sha256:" + "b" * 64, "verified"), (20, "sha256:" + "b" * 64, "unsigned")):
            record_verification(db, at=NOW + timedelta(hours=1, minutes=minutes), actor="a", source="cli",
                                reference="r/x:1", digest=digest, result=result)
    config = Config()
    ctx = SignetContext(config=config, store=store, principal=principal_for(config),
                        paths=SignetPaths(db=tmp_path / "x.db", config=tmp_path / "c.toml", key_store=tmp_path),
                        clock=FixedClock(NOW + timedelta(hours=2)))
    summary = dashboard_summary(ctx, window=timedelta(hours=1, minutes=30))
    assert [(a.digest, a.result) for a in summary.attention] == [("sha256:" + "a" * 64, "invalid")]


def test_the_dashboard_says_which_store_it_is_on(store, store_target):
    from core.console.dashboard import store_label

    expected = "local file" if store_backend_of(store_target) == "sqlite" else "team: local socket/"
    assert store_label(store).startswith(expected)
    if expected != "local file":
        assert store_label(store).endswith(" as postgres")  # the login the database authenticated


def store_backend_of(target) -> str:
    return "postgresql" if isinstance(target, str) else "sqlite"
