"""The command line and the console give the same verdict and reason for the same image under the
same configuration: both build their Verifier through `policy_for` (core/verify/policy.py).

Each case sets up a repository in a real registry and a `[trust]` configuration, runs
`signet verify REF --json` (click runner, same config and database files), then opens the console on
that configuration and presses `v` on the image: in the registries view (browse, select the tag) or,
for an unreachable registry, in the history view (verify the recorded row again). The console's
answer is read from the history row it wrote. Refusals (an unusable policy) must be refused by both,
with the same message: exit 2 on the command line, an error notification in the console.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import pytest
from click.testing import CliRunner

from core.bypass.service import approve_bypass, request_bypass
from core.clock import system_clock
from core.context import SignetContext, open_context
from tests.support.console import press, running, write_config
from tests.support.oci import (SignatureLayer, cosign_payload, new_key, push_image, push_signatures, sign,
                               signature_layer, write_public_key)
from tests.support.processes import free_port
from tests.support.sigstore_factory import FakeSigstore
from tui.cli.main import cli

ALICE_KEY, BOB_KEY = new_key(), new_key()
SIGSTORE = FakeSigstore()
IDENTITY = '\ncertificate_identity = "alice@example.com"\ncertificate_oidc_issuer = "https://issuer.example"\n'


@dataclass(frozen=True)
class World:
    home: Path
    host: str
    url: str
    keys: dict[str, str]   # name -> public key file
    root: str              # trusted_root.json of the fake Sigstore


@dataclass(frozen=True)
class Case:
    name: str
    trust: Callable[[World], str]                  # the [trust] table's body
    sign: Callable[[World, str, str], None] = lambda w, repo, digest: None
    expected: str = ""                             # verdict both must give ("" for a refusal)
    refusal: str = ""                              # message both must refuse with
    unreachable: bool = False
    bypass: bool = False


def keys_toml(w: World, *names: str) -> str:
    return "keys = [" + ", ".join(json.dumps(w.keys[n]) for n in names) + "]\n"


def classic(key, optional: str = "null", kind: str = "") -> Callable[[World, str, str], None]:
    def push(w: World, repo: str, digest: str) -> None:
        layer = signature_layer(key, f"{w.host}/{repo}", digest, optional)
        if kind:  # another critical.type, signed as such
            payload = cosign_payload(f"{w.host}/{repo}", digest).replace(b"cosign container image signature",
                                                                          kind.encode())
            layer = SignatureLayer(payload, sign(key, payload))
        push_signatures(w.url, repo, digest, [layer])
    return push


def keyless_and(*keys) -> Callable[[World, str, str], None]:
    def push(w: World, repo: str, digest: str) -> None:
        payload = cosign_payload(f"{w.host}/{repo}", digest)
        layers = [SignatureLayer(payload, b"", annotations=SIGSTORE.classic_layer(SIGSTORE.leaf(), payload))]
        layers += [signature_layer(k, f"{w.host}/{repo}", digest) for k in keys]
        push_signatures(w.url, repo, digest, layers)
    return push


CASES = [
    Case("key-based", lambda w: keys_toml(w, "alice"), classic(ALICE_KEY), "verified"),
    Case("key-based-wrong-key", lambda w: keys_toml(w, "bob"), classic(ALICE_KEY), "invalid"),
    Case("keyless-only-config", lambda w: f"trusted_root = {json.dumps(w.root)}{IDENTITY}", keyless_and(),
         "verified"),
    Case("keyless-only-config-without-root", lambda w: IDENTITY, keyless_and(),
         refusal="keyless verification needs --trusted-root"),
    # mixed: a trusted key or the keyless identity; a threshold above the keys is refused (one identity
    # signing twice, with two fresh keys, must not pass for two signers)
    Case("mixed-signed-keyless", lambda w: keys_toml(w, "alice") + f"trusted_root = {json.dumps(w.root)}" + IDENTITY,
         keyless_and(), "verified"),
    Case("mixed-signed-by-other-key", lambda w: keys_toml(w, "alice") + f"trusted_root = {json.dumps(w.root)}"
         + IDENTITY, classic(BOB_KEY), "invalid"),
    Case("mixed-threshold-2", lambda w: keys_toml(w, "alice") + f"trusted_root = {json.dumps(w.root)}" + IDENTITY
         + "threshold = 2\n", keyless_and(ALICE_KEY), refusal="threshold 2 is more than the 1 distinct"),
    Case("threshold-2-both-signed", lambda w: keys_toml(w, "alice", "bob") + "threshold = 2\n",
         keyless_and(ALICE_KEY, BOB_KEY), "verified"),
    Case("threshold-2-one-signer", lambda w: keys_toml(w, "alice", "bob") + "threshold = 2\n", classic(ALICE_KEY),
         "invalid"),
    Case("threshold-above-keys", lambda w: keys_toml(w, "alice") + "threshold = 2\n", classic(ALICE_KEY),
         refusal="threshold 2 is more than the 1 distinct trusted key(s)"),
    Case("required-annotation-differs", lambda w: keys_toml(w, "alice") + 'annotations = ["env=prod"]\n',
         classic(ALICE_KEY, '{"env":"dev"}'), "invalid"),
    Case("required-annotation-present", lambda w: keys_toml(w, "alice") + 'annotations = ["env=prod"]\n',
         classic(ALICE_KEY, '{"env":"prod"}'), "verified"),
    Case("extra-payload-type", lambda w: keys_toml(w, "alice") + 'payload_types = ["acme build attestation"]\n',
         classic(ALICE_KEY, kind="acme build attestation"), "verified"),
    Case("payload-type-not-allowed", lambda w: keys_toml(w, "alice"),
         classic(ALICE_KEY, kind="acme build attestation"), "invalid"),
    Case("bypassed-digest", lambda w: keys_toml(w, "alice"), expected="unsigned", bypass=True),
    Case("unreachable-registry", lambda w: keys_toml(w, "alice"), expected="error", unreachable=True),
]


@pytest.fixture(scope="module")
def world(registry_session, tmp_path_factory) -> World:
    home = tmp_path_factory.mktemp("agreement")
    keys = {name: str(write_public_key(home / f"{name}.pub", key)) for name, key in
            (("alice", ALICE_KEY), ("bob", BOB_KEY))}
    root = home / "trusted_root.json"
    root.write_bytes(SIGSTORE.trusted_root())
    return World(home, registry_session.host, registry_session.url, keys, str(root))


def configure(world: World, case: Case) -> tuple[Path, Path, str, str]:
    """(config file, database, repository, reference) for the case; the image is pushed and signed."""
    home = world.home / case.name
    home.mkdir()
    repo = f"agree/{case.name}"
    url = f"http://127.0.0.1:{free_port()}" if case.unreachable else world.url
    extra = (f'\n[[registries]]\nname = "local"\nurl = "{url}"\nauth = "anonymous"\n\n'
             f"[trust]\n{case.trust(world)}")
    config = write_config(home, "alice", extra=extra)
    host = url.split("://", 1)[1]
    if not case.unreachable:
        digest = push_image(world.url, repo, "v1")
        case.sign(world, repo, digest)
        if case.bypass:
            _grant_bypass(config, home / "signet.db", digest)
    return config, home / "signet.db", repo, f"{host}/{repo}:v1"


def _grant_bypass(config: Path, db: Path, digest: str) -> None:
    alice = open_context(db=str(db), config=str(config))
    bob_config = write_config(config.parent, "bob")
    bob = open_context(db=str(db), config=str(bob_config))
    try:
        bypass = request_bypass(alice, digest=digest, justification="Outage INC-9: the signing pipeline is down, "
                                "ship the fix", ticket="INC-9", duration="2h", function="checkout", region="us-east-1")
        assert approve_bypass(bob, bypass.id).bypass.state.value == "active"
    finally:
        alice.close()
        bob.close()


def cli_verdict(config: Path, db: Path, reference: str) -> tuple[str, str, int]:
    """(result, reason, exit code); for a refusal ("", message, exit code)."""
    run = CliRunner().invoke(cli, ["--config", str(config), "--db", str(db), "verify", reference, "--json"])
    if run.exit_code == 2:
        return "", run.stderr.strip(), run.exit_code
    (row,) = json.loads(run.stdout)  # stderr carries the one-line reason of an unverifiable image
    return row["result"], row["reason"], run.exit_code


async def console_verdict(config: Path, db: Path, repo: str, case: Case) -> tuple[str, str, list[str]]:
    """(result, reason) from the history row the console's `v` wrote, and its error notifications."""
    ctx: SignetContext = open_context(db=str(db), config=str(config), interface="tui", clock=system_clock)
    start = "history" if case.unreachable else "registries"
    try:
        async with running(ctx, start, notifications=True) as (app, pilot):
            view = app.view
            if case.unreachable:  # the command line's row (no digest) is the newest: verify it again
                view.table.move_cursor(row=0)
            else:
                await press(app, pilot, "enter")  # into registry "local"
                view.table.move_cursor(row=next(i for i, r in enumerate(view.shown_repos) if r.name == repo))
                await press(app, pilot, "enter")
                view.table.move_cursor(row=next(i for i, t in enumerate(view.shown_tags) if t.tag == "v1"))
            await press(app, pilot, "v")
            errors = [str(n.message) for n in app._notifications if n.severity == "error"]
        rows = ctx.store.query("SELECT result, reason FROM verifications WHERE source = 'tui' ORDER BY id DESC LIMIT 1")
    finally:
        ctx.close()
    return (rows[0]["result"], rows[0]["reason"], errors) if rows else ("", "", errors)


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
async def test_cli_and_console_agree(world, case):
    config, db, repo, reference = configure(world, case)
    cli_result, cli_reason, exit_code = cli_verdict(config, db, reference)
    console_result, console_reason, errors = await console_verdict(config, db, repo, case)
    if case.refusal:
        assert exit_code == 2 and case.refusal in cli_reason
        assert console_result == "" and any(case.refusal in e for e in errors), errors
        return
    assert cli_result == case.expected, cli_reason
    assert (console_result, console_reason) == (cli_result, cli_reason)
    assert exit_code == {"verified": 0, "error": 3}.get(case.expected, 1)
