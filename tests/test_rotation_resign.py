"""Rotation re-signs only what verifies under the old key: unsigned, tampered and foreign-signed images are
never signed with the new key (on a real registry, on the demo through the CLI, across a kill), the plan is
shown and confirmed first, and each new signature records the old signature it carries over."""

from __future__ import annotations

import dataclasses
import io
import json

import httpx
import pytest

from core.keys.backup import ShareScheme
from core.errors import InputError, InvalidState, WrongPassphrase
from core.keys.custody import generate_key
from core.keys.inventory import find_key
from core.rotation.key_policy import fresh_key_verifier
from core.rotation.rotation import (
    AdvanceOptions,
    StageInputs,
    advance_rotation,
    resign_plan,
    rotation_status,
    start_rotation,
)
from core.sign.signers import signer_for
from core.sign.service import sign_image
from core.verify.policy import TrustArgs
from core.verify.service import verify_images
from core.verify.verifier import Verifier
from tests.support.crash import assert_store_intact, kill_at_marker
from tests.support.keys import ctx  # noqa: F401 (fixture)
from tests.support.oci import SignatureLayer, cosign_payload, push_image, push_signatures, signature_tag
from tests.support.rotation import RESIGN_UNTIL_SECOND_SIGNATURE, next_step
from tests.support.store import audit_entries

OLD_PASS = b"old key passphrase"
NEW_PASS = b"new key passphrase"
OCI = "application/vnd.oci.image.manifest.v1+json"


def _sig_manifest(registry, repo: str, digest: str) -> dict | None:
    """The `.sig` manifest as the registry holds it (None: there is none), with its digest."""
    response = httpx.get(f"{registry.url}/v2/{repo}/manifests/{signature_tag(digest)}", headers={"Accept": OCI})
    if response.status_code == 404:
        return None
    response.raise_for_status()
    return {**response.json(), "_digest": response.headers["Docker-Content-Digest"]}


@pytest.fixture
def world(ctx, registry, tmp_path):
    """In use: two images the old key signed, one unsigned, one tampered (the old key's signature of
    another digest replayed, plus a payload altered after signing) and one signed by another key."""
    generate_key(ctx, name="old", passphrase=OLD_PASS)
    generate_key(ctx, name="other", passphrase=OLD_PASS)
    old = signer_for(ctx, "old", passphrase_provider=lambda _n: OLD_PASS)
    refs: dict[str, str] = {}
    for name in ("app0", "app1"):
        digest = push_image(registry.url, f"team/{name}", "v1")
        sign_image(ctx, f"{registry.host}/team/{name}:v1", old)
        refs[name] = f"{registry.host}/team/{name}@{digest}"
    for name in ("unsigned", "tampered", "foreign"):
        refs[name] = f"{registry.host}/team/{name}@{push_image(registry.url, f'team/{name}', 'v1')}"
    replayed = cosign_payload(f"{registry.host}/team/tampered", refs["app0"].split("@")[1])
    altered = cosign_payload(f"{registry.host}/team/tampered", refs["tampered"].split("@")[1])
    push_signatures(registry.url, "team/tampered", refs["tampered"].split("@")[1], [
        SignatureLayer(replayed, old.sign(replayed)),
        SignatureLayer(altered, old.sign(altered.replace(b"tampered", b"tampere_")))])
    sign_image(ctx, f"{registry.host}/team/foreign:v1",
               signer_for(ctx, "other", passphrase_provider=lambda _n: OLD_PASS))
    # Seen by a verification (so in use), and failing it under the old key.
    verify_images(ctx, [refs["unsigned"], refs["tampered"], refs["foreign"]],
                  Verifier.for_args(ctx, TrustArgs(keys=("old",))), source="sweep")
    return {"refs": refs, "registry": registry, "policies": tmp_path / "policies"}


def _to_resign(ctx, tmp_path, world):
    stage = StageInputs(new_name="new", backup=ShareScheme(2, 2), new_passphrase=NEW_PASS,
                        backup_out=tmp_path / "new-backup.json")
    status = start_rotation(ctx, "old", stage, policy_dir=world["policies"]).status
    status = next_step(ctx, status.id)
    status = next_step(ctx, status.id)
    assert status.step == "resign"
    return status


def _repo_digest(ref: str) -> tuple[str, str]:
    name, digest = ref.split("@")
    return name.split("/", 1)[1], digest


def _sig_state(world) -> dict[str, str | None]:
    return {name: (m or {}).get("_digest") for name, ref in world["refs"].items()
            for m in [_sig_manifest(world["registry"], *_repo_digest(ref))]}


def _new_key_verdicts(ctx, world) -> dict[str, str]:
    refs = list(world["refs"].values())
    results = verify_images(ctx, refs, fresh_key_verifier(ctx, [find_key(ctx, "new")], refs), record=False)
    return {name: result.result for name, result in zip(world["refs"], results, strict=True)}


def test_only_images_verifying_under_the_old_key_are_carried_over(ctx, world, tmp_path):
    refs = world["refs"]
    status = _to_resign(ctx, tmp_path, world)
    before = _sig_state(world)
    assert before["unsigned"] is None

    plan = resign_plan(ctx, status.id)
    assert sorted(i.reference for i in plan.carry) == sorted([refs["app0"], refs["app1"]])
    skipped = {i.reference: i.reason for i in plan.skip}
    assert skipped[refs["unsigned"]].startswith("unsigned:")
    assert skipped[refs["tampered"]].startswith("invalid:") and "payload is for" in skipped[refs["tampered"]]
    assert skipped[refs["foreign"]].startswith("invalid:")
    text = "\n".join(plan.lines())
    assert "2 of 5 in-use image(s) verify under the old key old" in text and "3 image(s) NOT carried over" in text
    layer_of = {name: _sig_manifest(world["registry"], *_repo_digest(refs[name]))["layers"][0]["digest"]
                for name in ("app0", "app1")}

    # A tag moved after the check cannot bring another image in: signing is by digest.
    moved = push_image(world["registry"].url, "team/app0", "v1", None)
    status = next_step(ctx, status.id, AdvanceOptions(passphrase_provider=lambda _n: NEW_PASS, resign_plan=plan))
    assert status.step == "soak"
    resign = status.details["resign"]
    assert (resign["verified_under_old"], resign["carried_over"], resign["signed"], resign["not_carried_over"]) \
        == (2, 2, 2, 3)
    assert set(resign["not_carried"]) == {refs["unsigned"], refs["tampered"], refs["foreign"]}

    after = _sig_state(world)
    assert after["unsigned"] is None                                      # still no signature at all
    assert after["tampered"] == before["tampered"] and after["foreign"] == before["foreign"]  # untouched
    assert all(after[n] != before[n] for n in ("app0", "app1"))
    assert _sig_manifest(world["registry"], "team/app0", moved) is None   # the moved tag's image: not signed
    assert _new_key_verdicts(ctx, world) == {"app0": "verified", "app1": "verified", "unsigned": "unsigned",
                                             "tampered": "invalid", "foreign": "invalid"}

    # Each new signature names the old one it carries over, in its audit entry and its history row.
    old_fp = status.old_key.fingerprint
    audits = {json.loads(r["details"])["digest"]: json.loads(r["details"]) for r in ctx.store.query(
        "SELECT details FROM audit WHERE action = 'image.sign' AND details LIKE '%provenance%'")}
    assert set(audits) == {_repo_digest(refs[n])[1] for n in ("app0", "app1")}
    for name in ("app0", "app1"):
        provenance = audits[_repo_digest(refs[name])[1]]["provenance"]
        assert provenance["rotation"] == status.id and provenance["carried_over_from"] == old_fp
        assert provenance["old_signatures"] == [{"source": "cosign-sig", "index": 0, "layer_digest": layer_of[name]}]
    rows = ctx.store.query("SELECT digest, details FROM verifications WHERE details LIKE '%provenance%'")
    assert {r["digest"] for r in rows} == set(audits)
    step_audit = json.loads(ctx.store.query("SELECT details FROM audit WHERE action = 'key.rotation.resign.done'")
                            [0]["details"])
    assert {c["digest"] for c in step_audit["carried"]} == set(audits)

    # Coverage counts what the old key vouched for: 2 of 2, not 2 of 5.
    status = next_step(ctx, status.id)
    assert status.step == "retire" and status.coverage == 1.0 and status.details["soak"]["vouched_by_old"] == 2


def test_a_digest_that_stops_verifying_after_the_plan_is_not_signed(ctx, world, tmp_path):
    refs = world["refs"]
    status = _to_resign(ctx, tmp_path, world)
    plan = resign_plan(ctx, status.id)
    assert refs["app1"] in {i.reference for i in plan.carry}
    # After the plan was confirmed, app1's old signature is replaced by one from another key.
    other = signer_for(ctx, "other", passphrase_provider=lambda _n: OLD_PASS)
    repo, digest = _repo_digest(refs["app1"])
    payload = cosign_payload(f"{world['registry'].host}/{repo}", digest)
    push_signatures(world["registry"].url, repo, digest, [SignatureLayer(payload, other.sign(payload))])
    replaced = _sig_state(world)["app1"]

    status = next_step(ctx, status.id, AdvanceOptions(passphrase_provider=lambda _n: NEW_PASS, resign_plan=plan))
    assert status.details["resign"]["signed"] == 1
    assert status.details["resign"]["not_carried"][refs["app1"]].startswith("no longer verifies under old")
    assert _sig_state(world)["app1"] == replaced
    assert _new_key_verdicts(ctx, world)["app1"] == "invalid"


class _AnswerAfter(io.BytesIO):
    """Standard input whose first read first runs `meanwhile`: the world changes while the plan is on
    screen, before the person confirms it (no timing involved)."""

    def __init__(self, answer: bytes, meanwhile) -> None:
        super().__init__(answer)
        self._meanwhile = meanwhile

    def _first(self, size: int | None) -> None:
        if self._meanwhile is not None and size != 0:  # click probes the stream with read(0)
            self._meanwhile, run = None, self._meanwhile
            run()

    def read(self, size: int | None = -1) -> bytes:
        self._first(size)
        return super().read(size)

    def read1(self, size: int = -1) -> bytes:
        self._first(size)
        return super().read1(size)

    def readline(self, size: int | None = -1) -> bytes:
        self._first(size)
        return super().readline(size)


def test_the_cli_warns_per_image_that_changed_between_the_plan_and_the_resign(ctx, world, tmp_path):
    from click.testing import CliRunner

    from tui.cli.main import cli

    refs = world["refs"]
    status = _to_resign(ctx, tmp_path, world)
    (tmp_path / "new-pass").write_bytes(NEW_PASS + b"\n")
    repo, digest = _repo_digest(refs["app1"])

    def replace_app1_signature() -> None:  # app1's old signature replaced by another key's
        other = signer_for(ctx, "other", passphrase_provider=lambda _n: OLD_PASS)
        payload = cosign_payload(f"{world['registry'].host}/{repo}", digest)
        push_signatures(world["registry"].url, repo, digest, [SignatureLayer(payload, other.sign(payload))])

    result = CliRunner().invoke(cli, ["key", "rotate", "next", status.id, "--passphrase-file",
                                      str(tmp_path / "new-pass")], input=_AnswerAfter(b"y\n", replace_app1_signature))
    assert result.exit_code == 0, result.stderr
    assert f"carry  {refs['app1']}" in result.stdout  # the plan confirmed had it
    warned = [line for line in result.stderr.splitlines() if line.startswith("signet: warning:")]
    assert len(warned) == 1, result.stderr
    assert warned[0].startswith(f"signet: warning: {refs['app1']}: changed since the re-sign plan, not signed "
                                "(no longer verifies under old: invalid: ")
    assert "re-sign: 1 of 1 image(s) verifying under old carried over" in result.stdout
    (done,) = [e for e in audit_entries(ctx.store) if e.action == "key.rotation.resign.done"]
    assert list(done.details["changed_since_plan"]) == [refs["app1"]] and done.details["signed"] == 1
    assert done.details["changed_since_plan"][refs["app1"]] in warned[0]
    assert _new_key_verdicts(ctx, world)["app1"] == "invalid"  # not signed with the new key


def test_the_step_refuses_without_a_plan_of_this_rotation(ctx, world, tmp_path):
    status = _to_resign(ctx, tmp_path, world)
    with pytest.raises(InputError, match="confirmed plan"):
        advance_rotation(ctx, status.id, AdvanceOptions(passphrase_provider=lambda _n: NEW_PASS))
    forged = dataclasses.replace(resign_plan(ctx, status.id), rotation_id="rot_000000000000")
    with pytest.raises(InvalidState, match="not for rotation"):
        next_step(ctx, status.id, AdvanceOptions(passphrase_provider=lambda _n: NEW_PASS, resign_plan=forged))
    assert rotation_status(ctx, status.id).status == "pending"
    assert _sig_state(world)["unsigned"] is None


def test_sigkill_during_resign_never_signs_a_non_verifying_image(ctx, world, tmp_path):
    refs = world["refs"]
    status = _to_resign(ctx, tmp_path, world)
    before = _sig_state(world)
    kill_at_marker(RESIGN_UNTIL_SECOND_SIGNATURE, status.id, line_timeout=120)
    assert_store_intact(ctx)
    crashed = rotation_status(ctx, status.id)
    assert crashed.step == "resign" and crashed.status == "running"
    during = _sig_state(world)
    assert during["app0"] != before["app0"] and during["app1"] == before["app1"]  # killed before app1's
    assert {n: during[n] for n in ("unsigned", "tampered", "foreign")} == \
        {n: before[n] for n in ("unsigned", "tampered", "foreign")}

    # While it was down, app1's old signature went away: the resumed step re-evaluates and skips it.
    repo, digest = _repo_digest(refs["app1"])
    other = signer_for(ctx, "other", passphrase_provider=lambda _n: OLD_PASS)
    payload = cosign_payload(f"{world['registry'].host}/{repo}", digest)
    push_signatures(world["registry"].url, repo, digest, [SignatureLayer(payload, other.sign(payload))])
    resumed = next_step(ctx, status.id, AdvanceOptions(passphrase_provider=lambda _n: NEW_PASS))
    assert resumed.step == "soak"
    resign = resumed.details["resign"]
    assert (resign["carried_over"], resign["already_carried"], resign["signed"]) == (1, 1, 0)
    assert set(resign["not_carried"]) == {refs["app1"], refs["unsigned"], refs["tampered"], refs["foreign"]}
    assert _new_key_verdicts(ctx, world) == {"app0": "verified", "app1": "invalid", "unsigned": "unsigned",
                                             "tampered": "invalid", "foreign": "invalid"}
    assert _sig_state(world)["unsigned"] is None


def test_wrong_passphrase_fails_the_step_with_the_reason_and_a_retry_works(ctx, world, tmp_path):
    status = _to_resign(ctx, tmp_path, world)
    before = _sig_state(world)
    with pytest.raises(WrongPassphrase):
        next_step(ctx, status.id, AdvanceOptions(passphrase_provider=lambda _n: b"not the passphrase"))
    failed = rotation_status(ctx, status.id)
    assert failed.step == "resign" and failed.status == "failed"
    assert "wrong passphrase" in failed.next_action and "resume" not in failed.next_action
    assert failed.details["failure"]["reason"].startswith("wrong passphrase")
    assert ctx.store.query("SELECT COUNT(*) AS n FROM audit WHERE action = 'key.rotation.resign.failed'")[0]["n"] == 1
    assert _sig_state(world) == before  # nothing was signed
    retried = next_step(ctx, status.id, AdvanceOptions(passphrase_provider=lambda _n: NEW_PASS))
    assert retried.step == "soak" and retried.details["resign"]["signed"] == 2 and "failure" not in retried.details


# --- the walk-through of issue 13, on the demo, through the CLI ------------------------------------


def _layout_tags(root, repo: str) -> dict[str, str]:
    index = json.loads((root / "registry" / repo / "index.json").read_text())
    return {m["annotations"]["org.opencontainers.image.ref.name"]: m["digest"] for m in index["manifests"]}


def test_demo_rotation_through_the_cli_signs_only_what_release_a_signed(tmp_path, monkeypatch):
    from click.testing import CliRunner

    from tui.cli.main import cli

    root = tmp_path / "D"
    for name in ("SIGNET_DB", "SIGNET_CONFIG", "SIGNET_KEY_STORE", "SIGNET_PASSWORD", "COSIGN_REPOSITORY"):
        monkeypatch.delenv(name, raising=False)

    def run(*args: str, input: str | None = None):
        return CliRunner().invoke(cli, list(args), input=input)

    assert run("demo", "--dir", str(root), "--no-open").exit_code == 0
    monkeypatch.setenv("SIGNET_DB", str(root / "signet.db"))
    monkeypatch.setenv("SIGNET_CONFIG", str(root / "config.toml"))
    monkeypatch.setenv("SIGNET_IDENTITY", "alice")
    passphrase = ["--passphrase-file", str(root / "demo-passphrase")]
    repos = ("payments-api", "checkout", "ledger", "web-frontend", "hotfix-worker")
    before = {repo: _layout_tags(root, repo) for repo in repos}

    started = run("key", "rotate", "start", "release-a", "--new-name", "ra2", "--shares", "2-of-3",
                  "--custodian", "alice", "--custodian", "carol", "--custodian", "dave", *passphrase, "--json")
    assert started.exit_code == 0, started.stderr
    rid = json.loads(started.stdout)["id"]
    for _ in ("publish", "switch"):
        assert run("key", "rotate", "next", rid, *passphrase).exit_code == 0
    unanswered = run("key", "rotate", "next", rid, *passphrase, input="")
    assert unanswered.exit_code == 2 and "--yes" in unanswered.stderr
    assert "2 of 6 in-use image(s) verify under the old key release-a" in unanswered.stdout
    declined = run("key", "rotate", "next", rid, *passphrase, input="n\n")
    assert declined.exit_code == 2 and "nothing was signed" in declined.stderr
    assert {repo: _layout_tags(root, repo) for repo in repos} == before

    (tmp_path / "wrong").write_text("not the demo passphrase\n")
    wrong = run("key", "rotate", "next", rid, "--passphrase-file", str(tmp_path / "wrong"), "--yes")
    assert wrong.exit_code == 2 and "wrong passphrase" in wrong.stderr
    failed = json.loads(run("key", "rotate", "status", rid, "--json").stdout)
    assert failed["status"] == "failed" and "wrong passphrase" in failed["next_action"]
    assert "resume" not in failed["next_action"]
    assert {repo: _layout_tags(root, repo) for repo in repos} == before

    signed = run("key", "rotate", "next", rid, *passphrase, input="y\n")
    assert signed.exit_code == 0, signed.stderr
    assert "re-sign: 2 of 2 image(s) verifying under release-a carried over; 4 not carried over" in signed.stdout
    assert "4 image(s) NOT carried over" in signed.stdout
    for repo in ("checkout", "ledger", "web-frontend", "hotfix-worker"):
        assert f"skip   oci:{root}/registry/{repo}@" in signed.stdout
    assert "Sign these 2 image(s) with ra2?" in signed.stderr

    # What the layouts hold now: new signatures only for release-a's images.
    after = {repo: _layout_tags(root, repo) for repo in repos}
    for repo in ("checkout", "ledger", "web-frontend", "hotfix-worker"):
        assert after[repo] == before[repo], repo
    assert not any(tag.endswith(".sig") for tag in after["ledger"]) and \
        not any(tag.endswith(".sig") for tag in after["hotfix-worker"])
    assert all(after["payments-api"][t] != before["payments-api"][t] for t in after["payments-api"]
               if t.endswith(".sig"))
    verdicts = {ref: run("verify", "--key", "ra2", f"oci:{root}/registry/{ref}").exit_code for ref in (
        "payments-api:v1.4.2", "payments-api:v1.4.1", "checkout:v2.0.0", "ledger:v0.9.0", "web-frontend:v3.1.0",
        "hotfix-worker:v0.1.0-hotfix")}
    assert verdicts == {"payments-api:v1.4.2": 0, "payments-api:v1.4.1": 0, "checkout:v2.0.0": 1,
                        "ledger:v0.9.0": 1, "web-frontend:v3.1.0": 1, "hotfix-worker:v0.1.0-hotfix": 1}

    soak = run("key", "rotate", "next", rid, "--json")
    assert soak.exit_code == 0, soak.stderr
    status = json.loads(soak.stdout)
    assert status["step"] == "retire" and status["coverage"] == 1.0
    assert status["details"]["resign"]["carried_over"] == 2 and status["details"]["soak"]["vouched_by_old"] == 2


# --- the console's rotation form ------------------------------------------------------------------


async def test_console_rotation_form_lists_the_plan_before_signing(tmp_path, registry):
    from tests.support.console import console_context, running, screen_text, settle
    from tui.screens.form import FormModal

    alice = console_context(tmp_path, "alice")
    generate_key(alice, name="old", passphrase=OLD_PASS)
    old = signer_for(alice, "old", passphrase_provider=lambda _n: OLD_PASS)
    signed = push_image(registry.url, "team/app", "v1")
    sign_image(alice, f"{registry.host}/team/app:v1", old)
    changes = push_image(registry.url, "team/changes", "v1")  # its signature is replaced once the form is shown
    sign_image(alice, f"{registry.host}/team/changes:v1", old)
    unsigned = push_image(registry.url, "team/unsigned", "v1")
    verify_images(alice, [f"{registry.host}/team/unsigned:v1", f"{registry.host}/team/changes:v1"],
                  Verifier.for_args(alice, TrustArgs(keys=("old",))),
                  source="sweep")
    stage = StageInputs(new_name="new", backup=ShareScheme(2, 2), new_passphrase=NEW_PASS,
                        backup_out=tmp_path / "b.json")
    status = start_rotation(alice, "old", stage, policy_dir=tmp_path / "pol").status
    status = next_step(alice, next_step(alice, status.id).id)
    assert status.step == "resign"

    async with running(alice, "keys", notifications=True) as (app, pilot):
        app.view.query_one("DataTable").move_cursor(row=[r.key.name for r in app.view.shown].index("old"))
        await pilot.press("n")
        await settle(app, pilot)
        modal = app.screen
        assert isinstance(modal, FormModal)
        text = screen_text(app)
        plan = modal.explanation.plain
        assert "2 of 3 in-use image(s) verify under the old key old" in plan
        assert "1 image(s) NOT carried over" in plan and "team/unsigned@" in plan
        assert "Sign 2 image(s)" in text
        generate_key(alice, name="other", passphrase=OLD_PASS)
        payload = cosign_payload(f"{registry.host}/team/changes", changes)
        push_signatures(registry.url, "team/changes", changes, [SignatureLayer(payload, signer_for(
            alice, "other", passphrase_provider=lambda _n: OLD_PASS).sign(payload))])
        modal.query_one("#field-passphrase").value = NEW_PASS.decode()
        modal.query_one("#confirm-word").value = "resign"
        await pilot.pause()
        await pilot.click("#submit")
        await settle(app, pilot)
        (warned,) = [str(n.message) for n in app._notifications if n.title == "re-sign"]
        assert warned.startswith(f"{registry.host}/team/changes@{changes}: changed since the re-sign plan, not "
                                 "signed (no longer verifies under old")
    final = rotation_status(alice, status.id)
    assert final.step == "soak" and final.details["resign"]["signed"] == 1
    assert _sig_manifest(registry, "team/unsigned", unsigned) is None
    assert len(_sig_manifest(registry, "team/app", signed)["layers"]) == 2
    alice.close()
