"""Request input rules: narrow scope, meaningful justification, ticket, capped duration."""

from __future__ import annotations

import pytest

from core.bypass.model import ScopeKind
from core.bypass.validation import (validate_digest, validate_duration, validate_justification, validate_reason,
                                    validate_scope, validate_ticket)
from core.config.model import PolicyConfig
from core.errors import InputError
from tests.support.bypass_world import DIGEST, JUSTIFICATION


@pytest.mark.parametrize("digest", [
    "latest", "nginx:1.25", "registry.example/app:v1", f"registry.example/app@{DIGEST}", "*", "all",
    "sha256:*", "sha256:" + "AB" * 32, "sha256:" + "ab" * 31, "sha512:" + "ab" * 64, "", "sha256:" + "ab" * 32 + "\n",
])
def test_digest_refuses_tags_references_wildcards_and_malformed(digest):
    with pytest.raises(InputError):
        validate_digest(digest)


def test_digest_accepts_exact_sha256():
    assert validate_digest(DIGEST) == DIGEST


@pytest.mark.parametrize("kwargs", [
    {"cluster": "prod", "namespace": "*"},
    {"cluster": "prod", "namespace": "all"},
    {"cluster": "prod", "namespace": "team-*"},
    {"cluster": "*", "namespace": "payments"},
    {"cluster": "prod", "namespace": "payments", "workload": "web*"},
    {"cluster": "prod", "namespace": "Payments"},
    {"cluster": "prod", "namespace": "pay\x1bments"},
    {"cluster": "prod"},
    {"namespace": "payments"},
    {"function": "*", "region": "eu-west-1"},
    {"function": "checkout", "region": "all"},
    {"function": "checkout"},
    {"function": "checkout", "region": "eu-west-1", "cluster": "prod", "namespace": "payments"},
    {},
])
def test_scope_refuses_wildcards_everything_and_incomplete(kwargs):
    with pytest.raises(InputError):
        validate_scope(**kwargs)


def test_scope_accepts_cluster_and_lambda_shapes():
    cluster = validate_scope(cluster="arn:aws:eks:eu-west-1:123456789012:cluster/prod", namespace="payments",
                             workload="web")
    assert (cluster.kind, cluster.namespace, cluster.workload) == (ScopeKind.CLUSTER, "payments", "web")
    fn = validate_scope(function="checkout-api", region="us-gov-west-1")
    assert (fn.kind, fn.function, fn.region) == (ScopeKind.LAMBDA, "checkout-api", "us-gov-west-1")


@pytest.mark.parametrize("text", [
    "", "   ", "urgent", "a" * 40, "12345678901234567890123", "ab " * 15, "x y z x y z x y z x y z x y z x y z x y z",
    "fix!" * 10, JUSTIFICATION + "\x1b[2J",
])
def test_justification_needs_meaningful_text(text):
    with pytest.raises(InputError):
        validate_justification(text)


def test_justification_accepts_a_real_reason():
    assert validate_justification("  " + JUSTIFICATION + " ") == JUSTIFICATION
    assert validate_justification("Prod outage INC-9: hotfix now") == "Prod outage INC-9: hotfix now"


@pytest.mark.parametrize("ticket", ["", "1234", "INC 1234", "INC-", "-1234", "http://tickets/1", "INC-12\x1b"])
def test_ticket_pattern(ticket):
    with pytest.raises(InputError):
        validate_ticket(ticket)


@pytest.mark.parametrize("ticket", ["INC-1234", "sec-42", "OPS_TEAM-7", "https://tickets.example/browse/INC-1"])
def test_ticket_accepted(ticket):
    assert validate_ticket(ticket) == ticket


def test_duration_capped_by_config_only():
    policy = PolicyConfig(max_bypass_seconds=4 * 3600)
    assert validate_duration("4h", policy) == 4 * 3600
    with pytest.raises(InputError, match="over the configured maximum"):
        validate_duration("4h1s", policy)
    with pytest.raises(InputError):
        validate_duration("30s", policy)
    with pytest.raises(InputError):
        validate_duration("forever", policy)
    assert validate_duration("1d", PolicyConfig(max_bypass_seconds=2 * 86400)) == 86400


def test_reason_rules():
    with pytest.raises(InputError):
        validate_reason(" ", required=True)
    with pytest.raises(InputError):
        validate_reason("x" * 501, required=False)
    assert validate_reason("", required=False) == ""


def test_duration_errors_are_written_as_people_write_durations():
    with pytest.raises(InputError) as over:
        validate_duration("48h", PolicyConfig(max_bypass_seconds=86400))
    assert str(over.value) == "duration 48h is over the configured maximum of 24h (policy.max_bypass_duration)"
    with pytest.raises(InputError) as short:
        validate_duration("30s", PolicyConfig())
    assert str(short.value) == "duration must be at least 1m"


@pytest.mark.parametrize(("seconds", "text"), [(172800, "48h"), (86400, "24h"), (5400, "1h30m"), (600, "10m"),
                                               (90, "1m30s"), (45, "45s"), (3661, "1h1m1s")])
def test_the_duration_formatter_writes_what_parse_duration_reads(seconds, text):
    from core.config import format_duration, parse_duration

    assert format_duration(seconds) == text and parse_duration(text) == seconds
