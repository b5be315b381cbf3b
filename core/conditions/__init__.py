"""Conditions on what a verified attestation says: CEL expressions and built-in named checks."""

from __future__ import annotations

from typing import Sequence

from core.conditions.cel import CelCondition
from core.conditions.named_checks import MaxSeverity, SlsaField
from core.conditions.outcome import AttestationCondition


def attestation_conditions(expressions: Sequence[str] = (), *, max_severity: str | None = None,
                           slsa_builder_id: str | None = None,
                           slsa_source_repo: str | None = None) -> tuple[AttestationCondition, ...]:
    """Every condition an interface was given, compiled and validated up front (InputError, exit 2), in the
    order the user gave them."""
    found: list[AttestationCondition] = [CelCondition(text) for text in expressions]
    if max_severity is not None:
        found.append(MaxSeverity(max_severity))
    if slsa_builder_id is not None:
        found.append(SlsaField("builder_id", slsa_builder_id))
    if slsa_source_repo is not None:
        found.append(SlsaField("source_repository", slsa_source_repo))
    return tuple(found)
