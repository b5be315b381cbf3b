"""Mutated real bundles and classic annotations (seeded, reproducible) fail as CheckFailed / InputError,
never with another exception; the few mutations that may still pass (a duplicated tlog entry, a dropped
timestamp, trailing bytes after a PEM block) must verify exactly the same facts as the original.
Mutations reach the bundle JSON, the Rekor body inside it, the DSSE statement and the `.sig` annotations."""

from __future__ import annotations

import base64
import binascii
import json
import random

import pytest

from core.errors import CheckFailed, InputError
from core.sigstore.bundle import parse_bundle
from core.sigstore.verifier import SigstoreTrust, verify_bundle, verify_cosign_signature
from tests.support.sigstore_fixtures import (
    ANY_IDENTITY, NOW, conformance_case, conformance_cases, connaisseur_keyless_layer, connaisseur_root,
)

ODD_VALUES = (None, 0, -1, "", [], {}, "AAAA", 1e308, True, 2**70)


def mutate(value, rng: random.Random):
    """One random change somewhere inside `value` (a JSON document)."""
    if isinstance(value, dict) and value:
        key = rng.choice(sorted(value))
        roll = rng.random()
        if roll < 0.15:
            del value[key]
        elif roll < 0.3:
            value[key] = rng.choice(ODD_VALUES)
        else:
            value[key] = mutate(value[key], rng)
        return value
    if isinstance(value, list) and value:
        index = rng.randrange(len(value))
        roll = rng.random()
        if roll < 0.2:
            value.append(value[index])
        elif roll < 0.3:
            value.pop(index)
        else:
            value[index] = mutate(value[index], rng)
        return value
    if isinstance(value, str):
        try:
            raw = bytearray(base64.b64decode(value, validate=True))
        except (binascii.Error, ValueError):
            raw = bytearray()
        if raw and rng.random() < 0.7:
            raw[rng.randrange(len(raw))] ^= 1 << rng.randrange(8)
            return base64.b64encode(bytes(raw)).decode()
        return value[:-1] if rng.random() < 0.5 else value + "x"
    return rng.choice(ODD_VALUES)


def assert_same_facts(result, original) -> None:
    assert (result.identity, result.issuer, result.key_fingerprint, result.statement) == \
        (original.identity, original.issuer, original.key_fingerprint, original.statement)
    assert set(result.signed_at) <= set(original.signed_at)
    assert set(result.tlog_indexes) <= set(original.tlog_indexes)


def _cases():
    return [conformance_case(n) for n in conformance_cases() if not n.endswith("_fail") and "managed" not in n]


@pytest.mark.parametrize("seed", range(4))
def test_mutated_bundles_fail_cleanly(seed):
    rng = random.Random(seed)
    cases = _cases()
    for _ in range(150):
        case = rng.choice(cases)
        doc = json.loads(case["bundle"])
        if rng.random() < 0.5:
            entry = doc["verificationMaterial"]["tlogEntries"][0]
            body = mutate(json.loads(base64.b64decode(entry["canonicalizedBody"])), rng)
            entry["canonicalizedBody"] = base64.b64encode(json.dumps(body).encode()).decode()
        elif "dsseEnvelope" in doc and rng.random() < 0.5:
            statement = mutate(json.loads(base64.b64decode(doc["dsseEnvelope"]["payload"])), rng)
            doc["dsseEnvelope"]["payload"] = base64.b64encode(json.dumps(statement).encode()).decode()
        else:
            doc = mutate(doc, rng)
        data = json.dumps(doc).encode()
        trust = SigstoreTrust(root=case["root"], identities=(case["identity"],))
        original = verify_bundle(parse_bundle(case["bundle"]), digest=case["digest"], trust=trust, now=NOW)
        try:
            result = verify_bundle(parse_bundle(data), digest=case["digest"], trust=trust, now=NOW)
        except (CheckFailed, InputError):
            continue
        assert_same_facts(result, original)


def test_mutated_classic_annotations_fail_cleanly():
    rng = random.Random(7)
    payload, annotations, _ = connaisseur_keyless_layer()
    trust = SigstoreTrust(root=connaisseur_root(), identities=(ANY_IDENTITY,))
    original = verify_cosign_signature(payload, annotations, trust=trust, now=NOW)
    for _ in range(300):
        changed = dict(annotations)
        key = rng.choice(sorted(changed))
        if key == "dev.sigstore.cosign/bundle" and rng.random() < 0.7:
            changed[key] = json.dumps(mutate(json.loads(changed[key]), rng))
        else:
            changed[key] = mutate(changed[key], rng)
        changed = {k: v for k, v in changed.items() if isinstance(v, str)}
        try:
            result = verify_cosign_signature(payload, changed, trust=trust, now=NOW)
        except (CheckFailed, InputError):
            continue
        assert_same_facts(result, original)
