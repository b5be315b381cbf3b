"""Input rules for a bypass request: narrow scope, a real justification, a ticket, a capped duration.

Meaningful justification: after trimming, at least MIN_JUSTIFICATION non-whitespace characters,
at least MIN_JUSTIFICATION_LETTERS of them letters, and at least MIN_DISTINCT_CHARS distinct
characters (so "aaaaaaaaaaaaaaaaaaaa", "12345678901234567890" or "x x x x ..." are refused).
"""

from __future__ import annotations

import re

from core.bypass.model import BypassScope, ScopeKind
from core.config.loader import format_duration, parse_duration
from core.config.model import PolicyConfig
from core.errors import ConfigError, InputError
from core.text import has_control_chars

MIN_JUSTIFICATION = 20
MIN_JUSTIFICATION_LETTERS = 10
MIN_DISTINCT_CHARS = 8
MAX_JUSTIFICATION = 2000
MIN_DURATION_SECONDS = 60
MAX_REASON = 500

DIGEST = re.compile(r"^sha256:[0-9a-f]{64}$")
# DNS-1123 label (namespaces) and subdomain (workload names).
NAMESPACE = re.compile(r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$")
WORKLOAD = re.compile(r"^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$")
# Kube context names are free-form (EKS ARNs, gke_project_zone_name); refuse only what could widen a match.
CLUSTER = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:/@+-]{0,252}$")
FUNCTION = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
REGION = re.compile(r"^[a-z]{2}(-[a-z]+)+-\d{1,2}$")
# A project-style reference (INC-1234, SEC-42, OPS_TEAM-7) or an https link to the ticket.
TICKET = re.compile(r"^([A-Za-z][A-Za-z0-9_]{1,15}-\d{1,12}|https://[^\s]{4,300})$")
# Words that mean "everything" in some tool; a bypass must name one thing.
EVERYTHING = {"*", "all", "any", "everything", "_all", "-"}


def validate_digest(digest: str) -> str:
    text = digest or ""
    if text.lower() in EVERYTHING or any(c in text for c in "*?["):
        raise InputError("bypass scope refuses wildcards and 'all': give one image digest sha256:<64 hex>")
    if "@" in text or (":" in text and not text.startswith("sha256:")):
        raise InputError(f"'{_shown(text)}' is an image reference or tag; a bypass names one digest sha256:<64 hex>")
    if not DIGEST.fullmatch(text):
        raise InputError(f"'{_shown(text)}' is not an image digest (sha256: followed by 64 lowercase hex)")
    return text


def _name(value: str | None, pattern: re.Pattern[str], what: str) -> str:
    text = (value or "").strip()
    if not text:
        raise InputError(f"{what} is required")
    if has_control_chars(text):
        raise InputError(f"{what} contains control characters")
    if text.lower() in EVERYTHING or any(c in text for c in "*?[]{}"):
        raise InputError(f"{what} '{_shown(text)}': wildcards and 'all' are refused; name exactly one")
    if not pattern.fullmatch(text):
        raise InputError(f"{what} '{_shown(text)}' is not a valid name")
    return text


SCOPE_FIELDS = {"cluster": CLUSTER, "namespace": NAMESPACE, "workload": WORKLOAD, "function": FUNCTION,
                "region": REGION}


def validate_scope_field(what: str, value: str | None) -> str:
    """One part of a scope (a key of SCOPE_FIELDS), checked on its own."""
    return _name(value, SCOPE_FIELDS[what], what)


def validate_scope(*, cluster: str | None = None, namespace: str | None = None, workload: str | None = None,
                   function: str | None = None, region: str | None = None) -> BypassScope:
    """Exactly one of: cluster + namespace (+ workload), or function + region."""
    cluster_side = any(v for v in (cluster, namespace, workload))
    lambda_side = any(v for v in (function, region))
    if cluster_side and lambda_side:
        raise InputError("a bypass is for a cluster namespace or for a Lambda function, not both")
    if cluster_side:
        return BypassScope(kind=ScopeKind.CLUSTER, cluster=validate_scope_field("cluster", cluster),
                           namespace=validate_scope_field("namespace", namespace),
                           workload=validate_scope_field("workload", workload) if workload else None)
    if lambda_side:
        return BypassScope(kind=ScopeKind.LAMBDA, function=validate_scope_field("function", function),
                           region=validate_scope_field("region", region))
    raise InputError("a bypass needs a scope: --cluster and --namespace, or --function and --region")


def validate_justification(text: str | None) -> str:
    value = (text or "").strip()
    if has_control_chars(value):
        raise InputError("justification contains control characters")
    if len(value) > MAX_JUSTIFICATION:
        raise InputError(f"justification is longer than {MAX_JUSTIFICATION} characters")
    visible = [c for c in value if not c.isspace()]
    letters = sum(1 for c in visible if c.isalpha())
    if (len(visible) < MIN_JUSTIFICATION or letters < MIN_JUSTIFICATION_LETTERS
            or len(set(c.lower() for c in visible)) < MIN_DISTINCT_CHARS):
        raise InputError(f"justification must say why in at least {MIN_JUSTIFICATION} meaningful characters "
                         f"(non-blank, at least {MIN_JUSTIFICATION_LETTERS} letters, "
                         f"{MIN_DISTINCT_CHARS} different characters)")
    return value


def validate_ticket(ticket: str | None) -> str:
    value = (ticket or "").strip()
    if not value:
        raise InputError("a ticket or incident reference is required (e.g. INC-1234)")
    if has_control_chars(value) or not TICKET.fullmatch(value):
        raise InputError(f"ticket '{_shown(value)}' is not a reference like INC-1234 or an https:// link")
    return value


def validate_duration(duration: str | int, policy: PolicyConfig) -> int:
    """Seconds; capped by the configured maximum, which only the config file can change."""
    try:
        seconds = parse_duration(duration, field="duration")
    except ConfigError:
        raise InputError(f"'{_shown(str(duration))}' is not a duration like 30m, 2h or 1d") from None
    if seconds < MIN_DURATION_SECONDS:
        raise InputError(f"duration must be at least {format_duration(MIN_DURATION_SECONDS)}")
    if seconds > policy.max_bypass_seconds:
        raise InputError(f"duration {format_duration(seconds)} is over the configured maximum of "
                         f"{format_duration(policy.max_bypass_seconds)} (policy.max_bypass_duration)")
    return seconds


def validate_reason(reason: str | None, *, required: bool) -> str:
    """A deny or revoke reason: plain one-paragraph text."""
    value = (reason or "").strip()
    if required and not value:
        raise InputError("a reason is required")
    if has_control_chars(value) or len(value) > MAX_REASON:
        raise InputError(f"reason must be plain text of at most {MAX_REASON} characters")
    return value


def _shown(text: str) -> str:
    return text[:80] + ("..." if len(text) > 80 else "")
