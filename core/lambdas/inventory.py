"""Lambda functions packaged as container images, in every configured profile and region, and the
digest each one really runs.

What runs is the digest in `Code.ResolvedImageUri` (Lambda resolves a tag once, at deploy time).
When ResolvedImageUri is missing or does not name the same repository as `ImageUri` (it always does
on AWS; moto's stub does not: it hashes the URI string and cuts the repository at the first ':'), a
digest pinned in ImageUri is used, since a pinned URI runs exactly that digest. Both present and
different, or neither usable, is a problem reported on the function (never a guess).
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from typing import Any, Sequence

from botocore.exceptions import BotoCoreError, ClientError

from core.aws.accounts import aws_reason
from core.aws.regions import AwsTarget
from core.bypass.coverage import standing_at
from core.clock import iso
from core.config.model import Config
from core.context import SignetContext
from core.errors import AwsError, InputError, LimitExceeded
from core.lambdas.client import lambda_client
from core.history.records import record_verifications
from core.registry.reference import ImageReference, parse_reference
from core.results import ERROR
from core.verify.index_coverage import covered, index_coverage
from core.verify.result import VerificationResult
from core.verify.service import verify_images
from core.verify.verifier import Verifier

MAX_FUNCTIONS = 10_000      # per profile/region
MAX_DETAIL_THREADS = 8


@dataclass(frozen=True)
class LambdaFunction:
    profile: str
    region: str
    name: str
    arn: str
    image_uri: str
    resolved_image_uri: str
    digest: str | None            # what runs, when it can be told
    digest_source: str            # ResolvedImageUri | ImageUri | ""
    reference: str | None         # repository@digest to verify
    problem: str = ""             # why the running digest is unknown or inconsistent
    result: str = ""              # verification result, once verified
    reason: str = ""
    bypass_id: str | None = None
    covered_by: str | None = None  # "index sha256:..." when the signature on ImageUri's index covers the digest
    matched_keys: tuple[str, ...] = ()  # the trusted signers of what verified (the index's when covered_by)

    def as_dict(self) -> dict[str, Any]:
        return {"profile": self.profile, "region": self.region, "name": self.name, "arn": self.arn,
                "image_uri": self.image_uri, "resolved_image_uri": self.resolved_image_uri, "digest": self.digest,
                "digest_source": self.digest_source, "reference": self.reference, "problem": self.problem,
                "result": self.result, "reason": self.reason, "bypass_id": self.bypass_id,
                "covered_by": self.covered_by}


@dataclass(frozen=True)
class LambdaInventory:
    target: AwsTarget
    functions: tuple[LambdaFunction, ...] = ()
    error: str = ""

    def as_dict(self) -> dict[str, Any]:
        return {"profile": self.target.profile, "region": self.target.region, "error": self.error,
                "functions": [f.as_dict() for f in self.functions]}


def running_image(image_uri: str, resolved_image_uri: str) -> tuple[str | None, str, str | None, str]:
    """(digest, source, repository@digest, problem) from a function's ImageUri and ResolvedImageUri."""
    try:
        declared = parse_reference(image_uri, default_tag=None)
    except InputError as exc:
        return None, "", None, f"ImageUri is not an image reference: {exc}"
    repository = declared.with_tag(None)
    resolved: ImageReference | None = None
    if resolved_image_uri:
        try:
            candidate = parse_reference(resolved_image_uri, default_tag=None)
            if candidate.digest and candidate.name == declared.name:
                resolved = candidate
        except InputError:
            resolved = None
    if resolved is not None and declared.digest and resolved.digest != declared.digest:
        return None, "", None, (f"ResolvedImageUri runs {resolved.digest} but ImageUri pins {declared.digest}")
    if resolved is not None:
        return resolved.digest, "ResolvedImageUri", str(repository.with_digest(resolved.digest or "")), ""
    if declared.digest:
        return declared.digest, "ImageUri", str(repository.with_digest(declared.digest)), ""
    return None, "", None, "ImageUri is a tag and ResolvedImageUri does not name its digest"


def describe_function(client: Any, target: AwsTarget, name: str) -> LambdaFunction:
    """One function by name or ARN (get_function); AwsError when Lambda refuses or fails."""
    try:
        answer = client.get_function(FunctionName=name)
    except (ClientError, BotoCoreError) as exc:
        raise AwsError(f"Lambda {target.label}: get_function {name[:140]}: {aws_reason(exc)}") from None
    config, code = answer.get("Configuration") or {}, answer.get("Code") or {}
    if config.get("PackageType") != "Image":
        raise InputError(f"Lambda function {config.get('FunctionName', name)} is not packaged as a container image")
    image_uri, resolved = str(code.get("ImageUri") or ""), str(code.get("ResolvedImageUri") or "")
    digest, source, reference, problem = running_image(image_uri, resolved)
    return LambdaFunction(profile=target.profile, region=target.region, name=str(config.get("FunctionName", name)),
                          arn=str(config.get("FunctionArn", "")), image_uri=image_uri, resolved_image_uri=resolved,
                          digest=digest, digest_source=source, reference=reference, problem=problem)


def list_image_functions(config: Config, targets: Sequence[AwsTarget]) -> list[LambdaInventory]:
    """Image functions of every target; a failing account/region is reported and does not hide others."""
    return [_list_one(config, t) for t in targets]


def _list_one(config: Config, target: AwsTarget) -> LambdaInventory:
    try:
        client = lambda_client(config, target)
        names: list[str] = []
        for page in client.get_paginator("list_functions").paginate():
            names += [f["FunctionName"] for f in page.get("Functions") or [] if f.get("PackageType") == "Image"]
            if len(names) > MAX_FUNCTIONS:
                raise LimitExceeded("Lambda functions listed", len(names), target.label)
        with ThreadPoolExecutor(max_workers=MAX_DETAIL_THREADS, thread_name_prefix="lambda") as pool:
            functions = list(pool.map(lambda n: describe_function(client, target, n), sorted(names)))
    except (ClientError, BotoCoreError) as exc:
        return LambdaInventory(target, error=f"Lambda {target.label}: {aws_reason(exc)}")
    except (AwsError, LimitExceeded) as exc:
        return LambdaInventory(target, error=str(exc))
    return LambdaInventory(target, functions=tuple(functions))


def verify_functions(ctx: SignetContext, functions: Sequence[LambdaFunction], verifier: Verifier, *,
                     allow_http: bool = False) -> list[LambdaFunction]:
    """Verify each function's running digest (once per unique reference); a platform child with no
    signature of its own is covered by the index its ImageUri names when the policy allows it
    (core/verify/index_coverage.py); a function whose digest is not verified is `bypassed` only under
    an active bypass for exactly that function, region and digest. Writes history rows and the
    lambda_functions table."""
    references = sorted({f.reference for f in functions if f.reference})
    results: dict[str, VerificationResult] = dict(zip(references, verify_images(
        ctx, references, verifier, source=ctx.interface, record=False, allow_http=allow_http), strict=True)) \
        if references else {}
    coverage = index_coverage(ctx, verifier, ((f.image_uri, f.digest) for f in functions
                                              if f.reference and f.digest and not results[f.reference].verified),
                              allow_http=allow_http)
    checked = []
    for f in functions:
        verdict = results.get(f.reference or "")
        covered_by = None
        matched: tuple[str, ...] = ()
        if verdict is None:
            result, reason = ERROR, f.problem or "no running digest"
        else:
            result, reason, matched, covered_by = covered(verdict.result, verdict.reason, verdict.matched_keys,
                                                    coverage.get((f.image_uri, f.digest or "")))
        standing = standing_at(ctx, result, reason, f.digest, function=f.name, region=f.region)
        checked.append(replace(f, result=standing.result, reason=standing.reason, bypass_id=standing.bypass_id,
                               covered_by=covered_by, matched_keys=matched))
    record_functions(ctx, checked)
    return checked


def record_functions(ctx: SignetContext, functions: Sequence[LambdaFunction]) -> None:
    at = iso(ctx.clock())
    with ctx.store.write() as db:
        record_verifications(db, ({
            "at": at, "actor": ctx.actor, "source": ctx.interface,
            "reference": f.reference or f.image_uri or f.name, "digest": f.digest, "result": f.result,
            "reason": f.reason, "bypass_id": f.bypass_id,
            "matched_keys": f.matched_keys,
            "details": {"lambda": {"function": f.name, "region": f.region, "profile": f.profile}}}
            for f in functions))
        for f in functions:
            save_function(db, f, at)


def save_function(db: Any, f: LambdaFunction, at: str) -> None:
    db.execute(
        "INSERT INTO lambda_functions (profile, region, name, arn, image_uri, resolved_digest, last_result, "
        "last_checked_at) VALUES (?,?,?,?,?,?,?,?) ON CONFLICT(profile, region, name) DO UPDATE SET "
        "arn = excluded.arn, image_uri = excluded.image_uri, resolved_digest = excluded.resolved_digest, "
        "last_result = COALESCE(excluded.last_result, lambda_functions.last_result), "
        "last_checked_at = COALESCE(excluded.last_checked_at, lambda_functions.last_checked_at)",
        (f.profile, f.region, f.name, f.arn, f.image_uri, f.digest, f.result or None, at if f.result else None))

