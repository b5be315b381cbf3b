"""What checking one condition on one verified attestation found: passed, failed, or could not check."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from core.sigstore.attestation import Statement


@dataclass(frozen=True)
class ConditionOutcome:
    label: str
    status: str   # passed | failed | unknown
    reason: str = ""

    @classmethod
    def passed(cls, label: str) -> ConditionOutcome:
        return cls(label, "passed")

    @classmethod
    def failed(cls, label: str, reason: str) -> ConditionOutcome:
        return cls(label, "failed", reason)

    @classmethod
    def unknown(cls, label: str, reason: str) -> ConditionOutcome:
        return cls(label, "unknown", f"could not check: {reason}")

    def describe(self) -> str:
        return f"{self.label[:120]}: {self.reason}" if self.reason else self.label[:120]


class AttestationCondition(Protocol):
    """A CEL expression or a built-in named check; all of an image's conditions must pass."""

    @property
    def label(self) -> str: ...

    def evaluate(self, statement: Statement) -> ConditionOutcome: ...
