"""The Lambda view's starting point: functions as last recorded (table lambda_functions), so the
view has content without calling AWS; listing live is an explicit refresh."""

from __future__ import annotations

from core.context import SignetContext
from core.lambdas.inventory import LambdaFunction, running_image

MAX_STORED = 10_000


def stored_functions(ctx: SignetContext, *, limit: int = MAX_STORED) -> list[LambdaFunction]:
    rows = ctx.store.query("SELECT profile, region, name, arn, image_uri, resolved_digest, last_result "
                           "FROM lambda_functions ORDER BY profile, region, name LIMIT ?", (limit,))
    functions = []
    for r in rows:
        image_uri = r["image_uri"] or ""
        resolved = _resolved_uri(image_uri, r["resolved_digest"])
        digest, source, reference, problem = running_image(image_uri, resolved)
        functions.append(LambdaFunction(profile=r["profile"], region=r["region"], name=r["name"], arn=r["arn"] or "",
                                        image_uri=image_uri, resolved_image_uri=resolved, digest=digest,
                                        digest_source=source, reference=reference, problem=problem,
                                        result=r["last_result"] or ""))
    return functions


def _resolved_uri(image_uri: str, digest: str | None) -> str:
    """ResolvedImageUri as Lambda reports it: the repository of ImageUri at the resolved digest."""
    if not digest:
        return ""
    base = image_uri.split("@", 1)[0]
    last = base.rsplit("/", 1)[-1]
    if ":" in last:
        base = base[: len(base) - len(last)] + last.split(":", 1)[0]
    return f"{base}@{digest}"
