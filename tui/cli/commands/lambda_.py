"""`signet lambda ...`: Lambda functions packaged as images, and the release gate for CI.

Accounts/regions: `--profile`/`--region`, else every `[aws] profiles` × `[aws] regions` (endpoints
from boto3's chain, e.g. AWS_ENDPOINT_URL). Trust flags are those of `signet verify` (`--key`,
keyless `--certificate-*`), else `[trust] keys`.

- `lambda list [--verify]`: image functions with ImageUri, ResolvedImageUri and the digest that runs;
  `--verify` verifies each (exit 1 unless all verified). JSON: list of {profile, region, error,
  functions [{profile, region, name, arn, image_uri, resolved_image_uri, digest, digest_source,
  reference, problem, result, reason, bypass_id, covered_by}]} (`covered_by`: "index sha256:..." when the
  digest is a platform child covered by the signature on the index ImageUri names; else null).
- `lambda verify FUNCTION`: the same for one function; exit 0 only when verified.
- `lambda deploy FUNCTION IMAGE`: resolve IMAGE to a digest, verify it, and only then
  `update_function_code(ImageUri=repository@digest)`. Exit 0 when deployed (verified, or under an
  active bypass for exactly this function and digest: result `bypassed`), 1 when refused, 3 when
  AWS failed. Fails closed on the audit trail: an audit entry `lambda.deploy.started` is committed
  before AWS is called, and when the store cannot write it nothing is deployed (exit 3, or 2 when the
  team store's grants refuse; the decision is still printed). When the result cannot be recorded after
  AWS answered, stderr says so naming that entry, and the exit is 3 (2) even though it deployed.
  JSON: {function, region, profile, image, digest, image_uri, result, deployed, reason, bypass_id,
  previous_image_uri, revision_id, aws_error, started_audit_seq (the started entry, null when none was
  written), store_error ("" when recorded), verification}.
"""

from __future__ import annotations

import sys
from dataclasses import replace
from typing import Any

import click

from core.aws.regions import aws_targets
from core.errors import EXIT_CHECK_FAILED, EXIT_EXTERNAL, UsageError
from core.lambdas.client import lambda_client
from core.lambdas.inventory import describe_function, list_image_functions, verify_functions
from core.lambdas.release_gate import deploy_function_image
from tui.cli.context import signet_context
from tui.cli.output import diagnostic, emit_json, emit_line, emit_table
from tui.cli.trust_options import trust_options, verifier_from_flags


def _where(fn):
    fn = click.option("--region", default=None, help="AWS region (default: [aws] regions, else the profile's).")(fn)
    fn = click.option("--profile", default=None,
                      help="AWS profile (default: [aws] profiles, else the default chain).")(fn)
    return fn


def _one_target(sc: Any, profile: str | None, region: str | None):
    targets = aws_targets(sc.config, profile=profile, region=region)
    if len(targets) != 1:
        raise UsageError(f"{len(targets)} profile/region pairs are configured; give --profile and --region")
    return targets[0]


@click.group("lambda")
def command() -> None:
    """AWS Lambda image functions: inventory, verification, the release gate."""


@command.command("list")
@_where
@click.option("--verify", "verify_now", is_flag=True, help="Verify the digest each function runs.")
@trust_options
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
def list_functions(ctx: click.Context, /, profile: str | None, region: str | None, verify_now: bool, as_json: bool,
                   allow_http_registry: bool, **flags: Any) -> None:
    """Image functions in every configured account and region."""
    sc = signet_context(ctx)
    inventories = list_image_functions(sc.config, aws_targets(sc.config, profile=profile, region=region))
    if verify_now:
        verifier = verifier_from_flags(sc, flags)
        checked = iter(verify_functions(sc, [f for inv in inventories for f in inv.functions], verifier,
                                        allow_http=allow_http_registry))
        inventories = [replace(inv, functions=tuple(next(checked) for _ in inv.functions)) for inv in inventories]
    functions = [f for inv in inventories for f in inv.functions]
    if as_json:
        emit_json([inv.as_dict() for inv in inventories])
    else:
        for inv in inventories:
            if inv.error:
                diagnostic(inv.error)
        emit_table(["profile/region", "function", "digest", "from", "result", "reason / problem"],
                   [(f"{f.profile or 'default'}/{f.region}", f.name, f.digest or "(unknown)", f.digest_source,
                     f.result, f.reason or f.problem) for f in functions])
    if any(inv.error for inv in inventories):
        sys.exit(EXIT_EXTERNAL)
    if verify_now and any(f.result != "verified" for f in functions):
        sys.exit(EXIT_CHECK_FAILED)


@command.command("verify")
@click.argument("function")
@_where
@trust_options
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
def verify_function(ctx: click.Context, /, function: str, profile: str | None, region: str | None, as_json: bool,
                    allow_http_registry: bool, **flags: Any) -> None:
    """Verify the digest FUNCTION runs. Exit 0 only when verified."""
    sc = signet_context(ctx)
    verifier = verifier_from_flags(sc, flags)
    target = _one_target(sc, profile, region)
    found = describe_function(lambda_client(sc.config, target), target, function)
    (checked,) = verify_functions(sc, [found], verifier, allow_http=allow_http_registry)
    if as_json:
        emit_json(checked.as_dict())
    else:
        emit_line(f"{checked.result}: {checked.name} ({target.label}) runs {checked.reference or checked.image_uri}")
        emit_line(f"  {checked.reason}")
    sys.exit(0 if checked.result == "verified" else EXIT_CHECK_FAILED)


@command.command("deploy")
@click.argument("function")
@click.argument("image")
@_where
@trust_options
@click.option("--json", "as_json", is_flag=True, help="The decision as JSON (fields in the module doc).")
@click.pass_context
def deploy(ctx: click.Context, /, function: str, image: str, profile: str | None, region: str | None, as_json: bool,
           allow_http_registry: bool, **flags: Any) -> None:
    """Release gate: deploy IMAGE to FUNCTION only if its digest is verified (or covered by a bypass)."""
    sc = signet_context(ctx)
    verifier = verifier_from_flags(sc, flags)
    target = _one_target(sc, profile, region)
    decision = deploy_function_image(sc, function=function, image=image, verifier=verifier, target=target,
                                     allow_http=allow_http_registry)
    if as_json:
        emit_json(decision.as_dict())
    else:
        state = "DEPLOYED" if decision.deployed else "REFUSED"
        emit_line(f"{state} ({decision.result}): {decision.function} ({target.label}) "
                  f"{decision.image_uri or decision.image}")
        emit_line(f"  {decision.reason}")
    if decision.store_error:
        diagnostic(decision.store_error)
    sys.exit(decision.exit_code)
