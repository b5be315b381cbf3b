"""in-toto statements carried in DSSE envelopes: parsing (strict: any error is a failure,
CVE-2026-39395), the subject-digest binding to the image, predicate types (cosign's `--type` names,
cosign-formats.md §4.2), and a summary people can read (SLSA builder, source, SBOM size).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from core.errors import CheckFailed, InputError
from core.sigstore.encoding import load_json, obj, text

MAX_STATEMENT_BYTES = 64 * 1024 * 1024
MAX_SUBJECTS = 1024
MAX_SUBJECT_DIGESTS = 32
STATEMENT_TYPES = frozenset({"https://in-toto.io/Statement/v0.1", "https://in-toto.io/Statement/v1"})
COSIGN_SIGN_PREDICATE = "https://sigstore.dev/cosign/sign/v1"  # what cosign v3 `sign` writes
PREDICATE_TYPES = {
    "custom": "https://cosign.sigstore.dev/attestation/v1",
    "slsaprovenance": "https://slsa.dev/provenance/v0.2",
    "slsaprovenance02": "https://slsa.dev/provenance/v0.2",
    "slsaprovenance1": "https://slsa.dev/provenance/v1",
    "spdx": "https://spdx.dev/Document",
    "spdxjson": "https://spdx.dev/Document",
    "cyclonedx": "https://cyclonedx.org/bom",
    "link": "https://in-toto.io/Link/v1",
    "vuln": "https://cosign.sigstore.dev/attestation/vuln/v1",
    "openvex": "https://openvex.dev/ns",
}


@dataclass(frozen=True)
class Subject:
    name: str
    digests: dict[str, str]
    annotations: dict[str, object] = field(default_factory=dict)  # cosign v3 `sign -a` values


@dataclass(frozen=True)
class Statement:
    statement_type: str
    subjects: tuple[Subject, ...]
    predicate_type: str
    predicate: object = field(compare=False)

    def names_digest(self, digest: str) -> bool:
        """True when some subject carries this `sha256:<hex>` digest."""
        return bool(self.subjects_for(digest))

    def subjects_for(self, digest: str) -> tuple[Subject, ...]:
        algorithm, _, value = digest.partition(":")
        return tuple(subject for subject in self.subjects if subject.digests.get(algorithm) == value)


@dataclass(frozen=True)
class AttestationSummary:
    """What the console shows for a verified attestation; empty fields were not in the predicate."""

    predicate_type: str
    builder_id: str = ""
    source_repository: str = ""
    package_count: int | None = None


def predicate_type_for(name: str) -> str:
    """cosign's `--type` short names, or a full URI."""
    if name in PREDICATE_TYPES:
        return PREDICATE_TYPES[name]
    if "://" in name and len(name) <= 1024 and name.isprintable():
        return name
    raise InputError(f"unknown attestation type {name[:60]!r}: use one of {', '.join(sorted(PREDICATE_TYPES))} "
                     "or a predicate type URI")


def parse_statement(payload: bytes) -> Statement:
    doc = obj(load_json(payload, "in-toto statement", max_bytes=MAX_STATEMENT_BYTES), "in-toto statement")
    statement_type = doc.get("_type")
    if not isinstance(statement_type, str) or statement_type not in STATEMENT_TYPES:
        raise CheckFailed(f"in-toto statement: unsupported _type {str(statement_type)[:80]!r}")
    subjects_doc = doc.get("subject")
    if not isinstance(subjects_doc, list) or not 1 <= len(subjects_doc) <= MAX_SUBJECTS:
        raise CheckFailed(f"in-toto statement: subject must be a list of 1 to {MAX_SUBJECTS}")
    subjects = []
    for i, item in enumerate(subjects_doc):
        item = obj(item, f"subject[{i}]")  # null subjects are refused (cosign d996ce12)
        digests = obj(item.get("digest"), f"subject[{i}].digest")
        if not 1 <= len(digests) <= MAX_SUBJECT_DIGESTS:
            raise CheckFailed(f"in-toto statement: subject[{i}] needs 1 to {MAX_SUBJECT_DIGESTS} digests")
        subjects.append(Subject(name=text(item.get("name", ""), f"subject[{i}].name"),
                                digests={text(k, "digest algorithm", max_len=32): text(v, "digest", max_len=256)
                                         for k, v in digests.items()},
                                annotations=obj(item.get("annotations", {}), f"subject[{i}].annotations")))
    return Statement(statement_type=statement_type, subjects=tuple(subjects),
                     predicate_type=text(doc.get("predicateType"), "predicateType", max_len=1024),
                     predicate=doc.get("predicate"))


def summarize(statement: Statement) -> AttestationSummary:
    predicate = statement.predicate if isinstance(statement.predicate, dict) else {}
    ptype = statement.predicate_type
    if ptype == PREDICATE_TYPES["slsaprovenance"]:
        materials = predicate.get("materials")
        return AttestationSummary(
            ptype, builder_id=_str(_path(predicate, "builder", "id")),
            source_repository=_str(_path(predicate, "invocation", "configSource", "uri"))
            or _str(_path(materials[0], "uri") if isinstance(materials, list) and materials else ""))
    if ptype == PREDICATE_TYPES["slsaprovenance1"]:
        deps = _path(predicate, "buildDefinition", "resolvedDependencies")
        return AttestationSummary(
            ptype, builder_id=_str(_path(predicate, "runDetails", "builder", "id")),
            source_repository=_str(_path(predicate, "buildDefinition", "externalParameters", "workflow", "repository"))
            or _str(_path(deps[0], "uri") if isinstance(deps, list) and deps else ""))
    if ptype == PREDICATE_TYPES["spdx"]:
        packages = predicate.get("packages")
        return AttestationSummary(ptype, package_count=len(packages) if isinstance(packages, list) else None)
    if ptype == PREDICATE_TYPES["cyclonedx"]:
        components = predicate.get("components")
        return AttestationSummary(ptype, package_count=len(components) if isinstance(components, list) else None)
    return AttestationSummary(ptype)


def _path(value: object, *keys: str) -> object:
    for key in keys:
        if not isinstance(value, dict):
            return None
        value = value.get(key)
    return value


def _str(value: object) -> str:
    return value[:1024] if isinstance(value, str) else ""
