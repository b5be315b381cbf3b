"""`signet verify-attestation IMAGE --type T`: in-toto attestations of one predicate type, from the
classic `.att` tag and from Sigstore bundle referrers, signed by a trusted key or a keyless identity.

`--type` takes cosign's names (custom, slsaprovenance, slsaprovenance02, slsaprovenance1, spdx, spdxjson,
cyclonedx, link, vuln, openvex) or a full predicate-type URI. Only attestations whose *verified*
statement has that type count (CVE-2022-35929). Every run is one row of the verification history
(`signet history`; its details name the predicate type).

`--condition CEL` (repeatable), `--max-severity LEVEL`, `--slsa-builder-id ID` and `--slsa-source-repo REPO`
must all hold on an attestation's verified statement for it to count; a condition that cannot be evaluated
(a missing field, a bound exceeded) is "could not check", never a pass.

Exit codes: 0 verified; 1 unsigned (no attestation of that type) or invalid; 3 registry error;
2 bad arguments (unknown --type, malformed reference, unusable trust flags).

`--platform OS/ARCH[/VARIANT]`: for an index, the attestations of that platform child are checked (an
index and its children each carry their own); `digest` is then the child's.

`--json` prints one object: `reference`, `digest`, `predicate_type`, `result` (verified | unsigned |
invalid | error), `reason`, `duration_ms`, and `attestations`: per attestation `source`
(cosign-att | sigstore-bundle), `index`, `ok`, `reason`, `predicate_type`, `key_fingerprint`,
`identity`, `issuer`, `summary` (`predicate_type`, `builder_id`, `source_repository`,
`package_count`, or null), `conditions` (per condition: `condition`, `status` passed | failed | unknown,
`reason`).
"""

from __future__ import annotations

import sys
from typing import Any

import click

from core.conditions import attestation_conditions
from core.registry.reference import parse_reference
from core.sigstore.attestation import predicate_type_for
from core.verify.attestations import AttestationResult, verify_attestations
from tui.cli.context import signet_context
from tui.cli.output import emit_json, emit_table
from tui.cli.trust_options import diagnose_errors, trust_options, verdict_exit_code, verifier_from_flags


@click.command("verify-attestation")
@click.argument("image")
@click.option("--type", "type_", default="custom", show_default=True, metavar="TYPE",
              help="Predicate type: a cosign name (slsaprovenance, slsaprovenance1, spdxjson, cyclonedx, vuln, "
                   "custom, ...) or a full URI.")
@trust_options
@click.option("--signature-repository", default=None, envvar="COSIGN_REPOSITORY", metavar="REPO",
              help="Repository holding the .att manifests (default: the image's; env COSIGN_REPOSITORY).")
@click.option("--condition", "conditions", multiple=True, metavar="CEL",
              help="A CEL condition on the verified statement (variables predicate, subject, statement); "
                   "repeat for several, all must hold.")
@click.option("--max-severity", default=None, metavar="LEVEL",
              help="Vulnerability report (cosign vuln predicate or Trivy JSON): no finding above LEVEL "
                   "(LOW, MEDIUM, HIGH, CRITICAL).")
@click.option("--slsa-builder-id", default=None, metavar="ID", help="SLSA provenance: the builder id must be ID.")
@click.option("--slsa-source-repo", default=None, metavar="REPO",
              help="SLSA provenance: built from this source repository.")
@click.option("--platform", default=None, metavar="OS/ARCH[/VARIANT]",
              help="For an index, check the attestations of this platform's image (its digest is reported).")
@click.option("--json", "as_json", is_flag=True, help="One JSON object.")
@click.pass_context
def command(ctx: click.Context, /, image: str, type_: str, signature_repository: str | None,
            conditions: tuple[str, ...], max_severity: str | None, slsa_builder_id: str | None,
            slsa_source_repo: str | None, platform: str | None, allow_http_registry: bool, as_json: bool,
            **flags: Any) -> None:
    """Verify attestations of IMAGE (the tag is resolved to a digest first)."""
    sc = signet_context(ctx)
    reference = parse_reference(image)  # a malformed reference is a usage error, before any network
    predicate_type = predicate_type_for(type_)
    wanted = attestation_conditions(conditions, max_severity=max_severity, slsa_builder_id=slsa_builder_id,
                                    slsa_source_repo=slsa_source_repo)
    verifier = verifier_from_flags(sc, flags, signature_repository=signature_repository)
    result = verify_attestations(sc, reference, verifier, predicate_type=predicate_type,
                                 allow_http=allow_http_registry, conditions=wanted, platform=platform)
    if as_json:
        emit_json(result.as_dict())
    else:
        _table(result)
    diagnose_errors([result])
    sys.exit(verdict_exit_code([result.result]))


def _table(result: AttestationResult) -> None:
    rows = [(result.result, result.reference, (result.digest or "")[:19], result.predicate_type, result.reason)]
    for check in result.checks:
        what = check.identity or (check.key_fingerprint or "")[:12]
        summary = check.summary
        facts = ""
        if summary is not None:
            facts = "; ".join(f for f in (summary.builder_id and f"builder {summary.builder_id}",
                                          summary.source_repository and f"source {summary.source_repository}",
                                          summary.package_count is not None and f"{summary.package_count} packages")
                              if f)
        rows.append(("ok" if check.ok else "", f"  {check.source} #{check.index}", what, check.predicate_type,
                     facts if check.ok else check.reason))
    emit_table(["result", "reference", "digest / signer", "predicate type", "reason"], rows)
