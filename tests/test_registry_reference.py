"""Reference parsing: docker normalisation, digests, oci: layouts, and refusal of malformed input."""

from __future__ import annotations

import pytest

from core.errors import InputError
from core.registry.reference import parse_reference, parse_repository

DIGEST = "sha256:" + "ab" * 32


@pytest.mark.parametrize("text,registry,repository,tag,digest", [
    ("nginx", "docker.io", "library/nginx", "latest", None),
    ("nginx:1.25", "docker.io", "library/nginx", "1.25", None),
    ("docker.io/nginx", "docker.io", "library/nginx", "latest", None),
    ("index.docker.io/library/nginx:1", "docker.io", "library/nginx", "1", None),
    ("bitnami/redis", "docker.io", "bitnami/redis", "latest", None),
    ("ghcr.io/org/team/app:v1", "ghcr.io", "org/team/app", "v1", None),
    ("localhost/app", "localhost", "app", "latest", None),
    ("127.0.0.1:5000/a/b:t", "127.0.0.1:5000", "a/b", "t", None),
    (f"reg.example:443/app@{DIGEST}", "reg.example:443", "app", None, DIGEST),
    (f"reg.example/app:v2@{DIGEST}", "reg.example", "app", "v2", DIGEST),
    ("[::1]:5000/app", "[::1]:5000", "app", "latest", None),
])
def test_docker_normalisation(text, registry, repository, tag, digest):
    ref = parse_reference(text)
    assert (ref.registry, ref.repository, ref.tag, ref.digest) == (registry, repository, tag, digest)
    assert parse_reference(str(ref)) == ref  # str() is a parseable, normalised form


def test_identity_uses_go_containerregistry_hub_name():
    assert parse_reference("securesystemsengineering/testimage").identity == \
        "index.docker.io/securesystemsengineering/testimage"
    assert parse_reference("127.0.0.1:5000/a:b").identity == "127.0.0.1:5000/a"


def test_layout_references(tmp_path):
    ref = parse_reference(f"oci:{tmp_path}/layout:v1")
    assert ref.is_layout and ref.layout_path == f"{tmp_path}/layout" and ref.tag == "v1"
    assert parse_reference(f"oci:{tmp_path}").tag == "latest"
    by_digest = parse_reference(f"oci:{tmp_path}@{DIGEST}")
    assert by_digest.digest == DIGEST and by_digest.tag is None
    assert str(by_digest) == f"oci:{tmp_path}@{DIGEST}"


def test_a_layout_path_may_have_plain_spaces(tmp_path):
    ref = parse_reference(f"oci:{tmp_path}/Application Support/app:v1")
    assert ref.layout_path == f"{tmp_path}/Application Support/app" and ref.tag == "v1"
    assert str(ref) == f"oci:{tmp_path}/Application Support/app:v1"


@pytest.mark.parametrize("text", [
    "reg.example/app b:v1", "oci:/D\twith tab/app", "oci:/D\u00a0nbsp/app", "oci:/D\u3000wide/app",
    "oci: /leading/app", "oci:/trailing /:v1", "oci:/trailing @sha256:" + "a" * 64, "oci:/app:v 1",
])
def test_whitespace_other_than_a_space_inside_a_layout_path_is_refused(text):
    with pytest.raises(InputError, match="whitespace|space|tag"):
        parse_reference(text)


@pytest.mark.parametrize("text", [
    "", "UPPER/case", "app:bad tag", "app@sha256:abc", f"app@sha512:{'a' * 128}", "app:" + "t" * 129,
    "a" * 2000, "app\x1b[31m", "app\n", "-app", "reg.example//app", "reg.example/app/", "oci:", "oci::tag",
    "bad_host_name!/app", "app@" + DIGEST.upper(), "a/" * 40 + "b",
])
def test_malformed_references_are_refused(text):
    with pytest.raises(InputError):
        parse_reference(text)


def test_repository_only():
    assert parse_repository("127.0.0.1:5000/sigs").repository == "sigs"
    with pytest.raises(InputError):
        parse_repository("127.0.0.1:5000/sigs:tag")


def test_with_digest_validates():
    ref = parse_reference("app:v1")
    assert ref.with_digest(DIGEST).digest == DIGEST
    with pytest.raises(InputError):
        ref.with_digest("sha256:xyz")
