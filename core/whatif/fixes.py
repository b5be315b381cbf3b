"""The cheapest fix for a workload a change would deny, as a step someone can run.

Cheapest first: re-sign the digest with a key the gate trusts (only when a known key already signed it
or the index it was deployed from — then the index, when index signatures cover children: the image
went through a signing pipeline once; an unsigned or tampered image is never "fixed" by
signing it blind), make the notation trust policy trust the notation signer it refused (its identity in
the statement's trustedIdentities), attach the missing attestation, narrow the new policy's scope (when
the policy, not the image, is what changed), and last a time-limited bypass. The prefilled `signet bypass request ...`
line is always offered as the fallback.
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass
from typing import Any, Mapping, Sequence

from core.keys.inventory import KeyRecord
from core.sigstore.attestation import PREDICATE_TYPES
from core.whatif.evaluate import Failure, Verdict
from core.whatif.world import RunningWorkload

SIGNING_STATES = ("active",)
_TYPE_NAMES = {uri: name for name, uri in reversed(list(PREDICATE_TYPES.items()))}


@dataclass(frozen=True)
class Fix:
    kind: str        # re-sign | notation-trust | attest | narrow-scope | bypass
    text: str
    command: str = ""

    def as_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "text": self.text, "command": self.command}


def bypass_command(w: RunningWorkload, why: str) -> str:
    if not w.digest:
        return ""
    place = (["--function", w.name, "--region", w.namespace] if w.place == "lambda" else
             ["--cluster", w.cluster, "--namespace", w.namespace, "--workload", w.name])
    justification = f"what-if: {why}"[:200]
    return shlex.join(["signet", "bypass", "request", *place, "--digest", w.digest, "--ticket", "TICKET",
                       "--duration", "4h", "--justification", justification])


def cheapest_fixes(w: RunningWorkload, after: Verdict, before: Verdict, signed_once: str | None,
                   keys: Mapping[str, KeyRecord], change_label: str, *,
                   scope_changed: bool = False) -> tuple[Fix, ...]:
    """One step per distinct blocking failure (all of them are needed); () when nothing blocks.
    `signed_once`: what to re-sign when a known key already signed the digest (or its index), else None.
    `scope_changed`: the change applies or enforces a policy (so narrowing its scope is a way out)."""
    blocking = [f for f in after.failures if f.enforced]
    if after.allowed or not blocking:
        return ()
    steps: list[Fix] = []
    for failure in blocking:
        fix = _fix_for(w, failure, before, signed_once, keys, change_label, scope_changed)
        if fix not in steps:
            steps.append(fix)
    if any(s.kind == "bypass" for s in steps):  # a bypass covers everything: nothing else is needed
        return tuple(s for s in steps if s.kind == "bypass")[:1]
    return tuple(steps)


def _fix_for(w: RunningWorkload, f: Failure, before: Verdict, signed_once: str | None,
             keys: Mapping[str, KeyRecord], change_label: str, scope_changed: bool) -> Fix:
    signing = _signing_key(f.keys, keys)
    if f.missing == "signature" and signing and signed_once:
        return Fix("re-sign", f"re-sign {signed_once} with {signing.name}",
                   shlex.join(["signet", "sign", signed_once, "--key", signing.name]))
    if f.missing == "signature" and f.notation_fix:
        resign = f", or re-sign it with {signing.name}" if signing else ", or re-sign it with a trusted key"
        return Fix("notation-trust", f"{f.notation_fix}{resign}")
    if f.missing == "attestation" and signing and w.reference and f.predicate_type:
        type_name = _TYPE_NAMES.get(f.predicate_type, f.predicate_type)
        return Fix("attest", f"attach a {type_name} attestation signed by {signing.name}",
                   shlex.join(["cosign", "attest", "--key", signing.name, "--type", type_name,
                               "--predicate", "PREDICATE.json", w.reference]))
    if f.namespace_scoped and before.allowed and scope_changed:
        return Fix("narrow-scope", f"exclude namespace {w.namespace} from {f.gate} (exclude.resources.namespaces), "
                   "or keep it out of Enforce until the workload is signed")
    why = f"{change_label} would deny {w.label}: {f.reason}"
    rebuild = "rebuild without the findings, or " if f.missing == "attestation-condition" else ""
    return Fix("bypass", f"{rebuild}request a time-limited bypass ({f.reason[:120]})", bypass_command(w, why))


def _signing_key(trusted: frozenset[str], keys: Mapping[str, KeyRecord]) -> KeyRecord | None:
    candidates: Sequence[KeyRecord] = sorted((keys[fp] for fp in trusted if fp in keys
                                              and keys[fp].state in SIGNING_STATES), key=lambda k: k.name)
    return candidates[0] if candidates else None
