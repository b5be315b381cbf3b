"""The Lambda release gate: deploy an image to a function only when its exact digest is verified.

1. The function must exist and be packaged as an image (read before anything else).
2. IMAGE is resolved to a digest and that digest is verified (one registry read; the tag is never
   looked at again, so what was verified is what is deployed).
3. Verified → `update_function_code(ImageUri=repository@digest)`. Not verified → refused, unless an
   active bypass covers exactly this function, region and digest: then deployed and reported as
   `bypassed` with the bypass id (never `verified`).
4. Recording fails closed. Before AWS is called, an audit entry `lambda.deploy.started` (function,
   region, profile, digest, image_uri, result, bypass_id) is committed on its own: if the store cannot
   write it (a SQLite file locked past its busy timeout, a team store unreachable or refusing), AWS is
   not called and the decision is `not deployed` with the store's reason (`store_error`). After AWS
   answered, one history row (source `gate`) and one audit entry (`lambda.deploy`) are written together
   with what was decided and what AWS answered (`lambda.deploy` names the started entry). If that write
   fails the function may have changed unrecorded: the decision's `store_error` says so and names
   `started_audit_seq` (the entry saying the deploy was about to happen), and callers show it loudly.

Deploying needs no Signet role, only a writable session (read-only mode refuses it): the gate can
deploy nothing but a verified digest or one an approved bypass covers, and who may change the function
at all is AWS IAM's business. So a CI stage runs it as a reader (on a team store a login holding only
signet_reader, which may record history and audit). The decision is returned, never raised, store
failures included: callers (CI) read `deployed`, `result`, `reason`, `store_error` and `exit_code`.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from core.aws.accounts import aws_reason
from core.aws.regions import AwsTarget
from core.bypass.coverage import standing_at
from core.clock import iso
from core.context import SignetContext
from core.errors import EXIT_CHECK_FAILED, EXIT_EXTERNAL, SignetError
from core.lambdas.client import lambda_client
from core.history.records import record_verification
from core.lambdas.inventory import LambdaFunction, describe_function, save_function
from core.registry.reference import parse_reference
from core.results import BYPASSED, VERIFIED
from core.verify.result import VerificationResult
from core.verify.service import verify_image
from core.verify.verifier import Verifier

STARTED = "lambda.deploy.started"   # committed before AWS is called
FINISHED = "lambda.deploy"           # committed with the history row after AWS answered


@dataclass(frozen=True)
class GateDecision:
    function: str
    region: str
    profile: str
    image: str
    digest: str | None
    image_uri: str | None         # the digest-pinned URI deployed (or that would have been)
    result: str                   # verified | unsigned | invalid | error | bypassed
    deployed: bool
    reason: str
    bypass_id: str | None = None
    previous_image_uri: str = ""
    revision_id: str = ""
    aws_error: str = ""            # the verdict allowed it, but Lambda refused or failed the update
    verification: VerificationResult | None = None
    started_audit_seq: int | None = None  # the `lambda.deploy.started` entry committed before AWS was called
    store_error: str = ""          # "" or one line for people: the store could not record, before AWS was
                                   # called (not deployed) or after it answered (names the started entry)
    store_exit_code: int = 0       # that error's exit code (3 store/server failed, 2 refused by its grants)

    @property
    def exit_code(self) -> int:
        """0 deployed and recorded; the store error's code; 3 AWS failed the update; 1 refused."""
        if self.store_error:
            return self.store_exit_code or EXIT_EXTERNAL
        if self.deployed:
            return 0
        return EXIT_EXTERNAL if self.aws_error else EXIT_CHECK_FAILED

    def as_dict(self) -> dict[str, Any]:
        return {"function": self.function, "region": self.region, "profile": self.profile, "image": self.image,
                "digest": self.digest, "image_uri": self.image_uri, "result": self.result, "deployed": self.deployed,
                "reason": self.reason, "bypass_id": self.bypass_id, "previous_image_uri": self.previous_image_uri,
                "revision_id": self.revision_id, "aws_error": self.aws_error,
                "started_audit_seq": self.started_audit_seq, "store_error": self.store_error,
                "verification": self.verification.as_dict() if self.verification else None}


def deploy_function_image(ctx: SignetContext, *, function: str, image: str, verifier: Verifier, target: AwsTarget,
                          allow_http: bool = False) -> GateDecision:
    ctx.require_write(action="deploying a Lambda function")
    ref = parse_reference(image)
    client = lambda_client(ctx.config, target)
    current = describe_function(client, target, function)  # raises when missing or not an image function
    verdict = verify_image(ctx, ref, verifier, source="gate", record=False, allow_http=allow_http)
    pinned = str(ref.with_tag(None).with_digest(verdict.digest)) if verdict.digest else None
    standing = standing_at(ctx, verdict.result, verdict.reason, verdict.digest, function=current.name,
                           region=target.region)
    result, reason, bypass_id = standing.result, standing.reason, standing.bypass_id
    undeployed = GateDecision(function=current.name, region=target.region, profile=target.profile, image=image,
                              digest=verdict.digest, image_uri=pinned, result=result, deployed=False, reason=reason,
                              bypass_id=bypass_id, previous_image_uri=current.image_uri, verification=verdict)
    deployed, revision, aws_error = False, "", ""
    started: int | None = None
    if result in (VERIFIED, BYPASSED) and pinned:
        try:
            started = _record_started(ctx, function=current.name, target=target, image=image, digest=verdict.digest,
                                      image_uri=pinned, result=result, bypass_id=bypass_id)
        except SignetError as exc:  # fail closed: what cannot be recorded is not deployed
            refused = f"not deployed: the store could not record it: {exc}"
            return replace(undeployed, reason=refused, store_error=refused, store_exit_code=exc.exit_code)
        try:
            answer = client.update_function_code(FunctionName=current.name, ImageUri=pinned)
            deployed, revision = True, str(answer.get("RevisionId", ""))
        except (ClientError, BotoCoreError) as exc:
            aws_error = aws_reason(exc)
            reason = f"{result}, but Lambda did not take the update: {aws_error}"
    elif result not in (VERIFIED, BYPASSED):
        reason = f"refused: {reason}"
    decision = replace(undeployed, deployed=deployed, reason=reason, revision_id=revision, aws_error=aws_error,
                       started_audit_seq=started)
    try:
        _record(ctx, decision, current.arn)
    except Exception as exc:  # noqa: BLE001 - AWS may have changed the function: whatever failed, say so
        return replace(decision, store_error=_unrecorded(decision, exc),
                       store_exit_code=exc.exit_code if isinstance(exc, SignetError) else EXIT_EXTERNAL)
    return decision


def _unrecorded(d: GateDecision, exc: Exception) -> str:
    why = str(exc) if isinstance(exc, SignetError) else f"{type(exc).__name__}: {exc}"
    if d.deployed:
        what = f"DEPLOYED BUT NOT RECORDED: {d.function} ({d.region}) now runs {d.image_uri}"
    else:
        what = f"NOT RECORDED: the decision on {d.function} ({d.region}) ({d.reason})"
    if d.started_audit_seq is not None:
        what += f"; audit entry #{d.started_audit_seq} ({STARTED}) records that this deploy was about to happen"
    return f"{what}; the store could not record the result: {why}"


def _record_started(ctx: SignetContext, *, function: str, target: AwsTarget, image: str, digest: str | None,
                    image_uri: str, result: str, bypass_id: str | None) -> int:
    """Commit, on its own, that this deploy is about to happen; its sequence number traces it."""
    with ctx.store.write():
        entry = ctx.audit(STARTED, f"lambda:{target.region}/{function}",
                          {"function": function, "region": target.region, "profile": target.profile, "image": image,
                           "digest": digest, "image_uri": image_uri, "result": result, "bypass_id": bypass_id})
    return entry.seq


def _record(ctx: SignetContext, d: GateDecision, arn: str) -> None:
    at = iso(ctx.clock())
    where = {"function": d.function, "region": d.region, "profile": d.profile}
    with ctx.store.write() as db:
        record_verification(db, at=at, actor=ctx.actor, source="gate", reference=d.image_uri or d.image,
                            digest=d.digest, result=d.result, reason=d.reason,
                            matched_keys=d.verification.matched_keys if d.verification else (),
                            duration_ms=d.verification.duration_ms if d.verification else 0.0,
                            bypass_id=d.bypass_id, details={"lambda": where, "deployed": d.deployed})
        if d.deployed and d.image_uri:
            save_function(db, _deployed_record(d, arn), at)
        ctx.audit(FINISHED, f"lambda:{d.region}/{d.function}",
                  {**where, "image": d.image, "digest": d.digest, "image_uri": d.image_uri, "result": d.result,
                   "deployed": d.deployed, "reason": d.reason[:500], "bypass_id": d.bypass_id,
                   "previous_image_uri": d.previous_image_uri, "revision_id": d.revision_id,
                   "started_audit_seq": d.started_audit_seq})


def _deployed_record(d: GateDecision, arn: str) -> LambdaFunction:
    return LambdaFunction(profile=d.profile, region=d.region, name=d.function, arn=arn, image_uri=d.image_uri or "",
                          resolved_image_uri="", digest=d.digest, digest_source="ImageUri", reference=d.image_uri,
                          result=d.result, reason=d.reason)
