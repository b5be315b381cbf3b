"""Built-in checks for the common cases, so nobody has to write CEL for them:

- `--max-severity LEVEL` over a vulnerability report: cosign's vuln predicate
  (`https://cosign.sigstore.dev/attestation/vuln/v1`, the scanner's report under `scanner.result`) or a
  Trivy JSON report as the predicate itself; fails when any finding is more severe than LEVEL.
- `--slsa-builder-id ID` and `--slsa-source-repo REPO` over SLSA provenance v0.2 and v1 (the fields
  core/sigstore/attestation.py `summarize` reads).
A predicate without the fields a check needs is "could not check", never a pass.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from core.conditions.outcome import ConditionOutcome
from core.errors import InputError
from core.sigstore.attestation import PREDICATE_TYPES, Statement, summarize

SEVERITIES = ("UNKNOWN", "LOW", "MEDIUM", "HIGH", "CRITICAL")
MAX_FINDINGS = 1_000_000
_SLSA = (PREDICATE_TYPES["slsaprovenance"], PREDICATE_TYPES["slsaprovenance1"])


@dataclass(frozen=True)
class MaxSeverity:
    level: str
    label: str = ""

    def __post_init__(self) -> None:
        if self.level.upper() not in SEVERITIES:
            raise InputError(f"--max-severity {self.level[:20]!r} is not one of {', '.join(SEVERITIES[1:])}")
        object.__setattr__(self, "level", self.level.upper())
        object.__setattr__(self, "label", f"max-severity {self.level.upper()}")

    def evaluate(self, statement: Statement) -> ConditionOutcome:
        predicate = statement.predicate if isinstance(statement.predicate, dict) else {}
        scanner = predicate.get("scanner")
        report = scanner.get("result") if isinstance(scanner, dict) else predicate
        results = report.get("Results") if isinstance(report, dict) else None
        if not isinstance(results, list):
            return ConditionOutcome.unknown(self.label, "the predicate holds no Trivy-style Results list")
        allowed = SEVERITIES.index(self.level)
        worse: dict[str, int] = {}
        seen = 0
        for result in results:
            for finding in (result.get("Vulnerabilities") or []) if isinstance(result, dict) else []:
                seen += 1
                if seen > MAX_FINDINGS:
                    return ConditionOutcome.unknown(self.label, f"more than {MAX_FINDINGS} findings")
                severity = str(finding.get("Severity", "UNKNOWN")).upper() if isinstance(finding, dict) else "UNKNOWN"
                if severity in SEVERITIES and SEVERITIES.index(severity) > allowed:
                    worse[severity] = worse.get(severity, 0) + 1
        if worse:
            counts = ", ".join(f"{worse[s]} {s}" for s in reversed(SEVERITIES) if s in worse)
            return ConditionOutcome.failed(self.label, f"{counts} finding(s) above {self.level}")
        return ConditionOutcome.passed(self.label)


@dataclass(frozen=True)
class SlsaField:
    field: str     # builder_id | source_repository
    wanted: str
    label: str = ""

    def __post_init__(self) -> None:
        if not self.wanted.strip():
            raise InputError(f"--slsa-{self.field.replace('_', '-')} is empty")
        name = "builder-id" if self.field == "builder_id" else "source-repo"
        object.__setattr__(self, "label", f"slsa-{name} {self.wanted}")

    def evaluate(self, statement: Statement) -> ConditionOutcome:
        if statement.predicate_type not in _SLSA:
            return ConditionOutcome.unknown(self.label, f"{statement.predicate_type[:80]} is not SLSA provenance")
        have = getattr(summarize(statement), self.field)
        if not have:
            return ConditionOutcome.unknown(self.label, f"the provenance names no {self.field.replace('_', ' ')}")
        same = (have == self.wanted if self.field == "builder_id"
                else normalise_repository(have) == normalise_repository(self.wanted))
        return ConditionOutcome.passed(self.label) if same else ConditionOutcome.failed(
            self.label, f"provenance says {have[:160]}")


def normalise_repository(uri: str) -> str:
    """`git+https://github.com/acme/app@refs/heads/main`, `https://github.com/acme/app.git` and
    `github.com/acme/app` all name the same repository."""
    text = uri.strip()
    text = re.sub(r"^git\+", "", text)
    text = re.sub(r"^[a-z]+://", "", text)
    text = text.split("@", 1)[0].rstrip("/")
    return re.sub(r"\.git$", "", text).lower()
