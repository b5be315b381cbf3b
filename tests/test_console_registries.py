"""Registries and Lambda views on the demo environment: drill in and back, verify (real code), an
unreachable registry shown as such while the app stays usable."""

from __future__ import annotations

import pytest

from tests.support.console import confirm, demo_context, press, running, screen_text, selected_key


@pytest.fixture
def demo(tmp_path):
    """The demo environment's context (its registries, cluster and Lambda answered from files), closed after."""
    context = demo_context(tmp_path / "demo")
    yield context
    context.close()


async def open_repo(app, pilot, name: str) -> None:
    view = app.view
    row = next(i for i, r in enumerate(view.shown_repos) if r.name == name)
    view.table.move_cursor(row=row)
    await press(app, pilot, "enter")


async def open_demo_repo(app, pilot, name: str) -> None:
    """From the top level: into the demo registry (the first row), then into repository `name`."""
    await press(app, pilot, "enter")
    await open_repo(app, pilot, name)


async def test_browse_verify_and_come_back(demo):
    async with running(demo, "registries", notifications=True) as (app, pilot):
        view = app.view
        assert view.probes["demo"][0] == "reachable"
        assert view.probes["offline-mirror"][0] == "unreachable"
        text = screen_text(app)
        assert "unreachable" in text and "5 repositories" in text
        await press(app, pilot, "enter")  # into registry "demo"
        assert view.level == 1 and {r.name for r in view.repos} == {
            "payments-api", "checkout", "ledger", "web-frontend", "hotfix-worker"}
        await open_repo(app, pilot, "web-frontend")
        assert view.level == 2 and [t.tag for t in view.tags] == ["v3.1.0"]  # the .sig tag is hidden
        assert "demo › web-frontend" in screen_text(app).splitlines()[0]
        await press(app, pilot, "v")
        result = view.verified[view.tags[0].reference]
        assert result.result == "invalid" and "payload is for" in result.reason
        assert "invalid" in screen_text(app)
        # up one level, into payments-api, verify every tag shown
        await press(app, pilot, "escape")
        assert view.level == 1
        await open_repo(app, pilot, "payments-api")
        await press(app, pilot, "V")
        results = {view.verified[t.reference].result for t in view.tags}
        assert results == {"verified"} and len(view.tags) == 2
        assert "2 images: 2 verified" in [str(n.message) for n in app._notifications]
        detail = view.query_one("#detail").text
        assert "signature cosign-sig#" in detail and "ok" in detail
        # v on the second tag: the cursor stays on it once the result is shown
        second = view.shown_tags[1]
        await press(app, pilot, "down", "v")
        assert selected_key(app) == second.tag and second.tag in view.query_one("#detail").text
        # history recorded the console's verifications
        rows = demo.store.query("SELECT COUNT(*) AS n FROM verifications WHERE source = 'tui'")
        assert rows[0]["n"] == 4
        await press(app, pilot, "escape", "escape")
        assert view.level == 0


async def test_unreachable_registry_does_not_block_the_others(demo):
    async with running(demo, "registries", settled=False) as (app, pilot):
        await pilot.pause()
        # without waiting for the probes, drilling into the local registry works
        await press(app, pilot, "enter")
        assert app.view.level == 1 and len(app.view.repos) == 5
        # the dead registry's probe ended as unreachable with its reason, not a crash
        assert app.view.probes["offline-mirror"][0] == "unreachable"
        assert app.view.probes["offline-mirror"][1]


async def test_lambda_verify_honours_the_active_bypass(demo):
    async with running(demo, "lambda") as (app, pilot):
        view = app.view
        assert {f.name for f in view.shown} == {"payments-fn", "hotfix-worker", "ledger-batch", "report-fn"}
        await press(app, pilot, "v")  # at the top: every function of every profile/region
        results = {f.name: f for f in view.shown}
        assert results["payments-fn"].result == "verified"
        assert results["ledger-batch"].result == "unsigned"
        assert results["hotfix-worker"].result == "bypassed" and results["hotfix-worker"].bypass_id
        await press(app, pilot, "enter")
        assert view.level == 1 and "bypassed" in screen_text(app)
        # v again from the last function: the cursor stays on it when the results come back
        last = view.shown[-1].name
        await press(app, pilot, *["down"] * (len(view.shown) - 1))
        assert selected_key(app) == last
        await press(app, pilot, "v")
        assert selected_key(app) == last and f"lambda {last}" in view.query_one("#detail").text


async def test_lambda_drills_from_profile_region_to_functions_and_back(demo):
    async with running(demo, "lambda", notifications=True) as (app, pilot):
        view = app.view
        labels = [t.label for t in view.shown_targets]
        assert view.level == 0 and view.table.row_count == len(labels) >= 1
        assert str(view.table.get_row_at(0)[0]) == labels[0]
        await press(app, pilot, "g")  # no function chosen at this level: a warning, no modal
        assert app.screen is view
        assert any("choose a function" in str(n.message) for n in app._notifications)
        await press(app, pilot, "enter")
        assert view.level == 1 and view.target.label == labels[0]
        in_target = {f.name for f in view.shown}
        assert in_target and view.table.row_count == len(in_target)
        assert all(f"{f.profile or 'default'}/{f.region}" == labels[0] for f in view.shown)
        await press(app, pilot, "escape")
        assert view.level == 0 and view.target is None and app.view is view


async def test_release_gate_needs_typed_confirmation_and_reports_refusal(demo, tmp_path):
    functions_file = tmp_path / "demo" / "lambda.json"
    before = functions_file.read_bytes()
    async with running(demo, "lambda", notifications=True) as (app, pilot):
        view = app.view
        target = next(f for f in view.shown if f.name == "ledger-batch")
        view.table.move_cursor(row=next(i for i, t in enumerate(view.shown_targets)
                                        if (t.profile, t.region) == (target.profile, target.region)))
        await press(app, pilot, "enter")
        row = next(i for i, f in enumerate(view.shown) if f.name == "ledger-batch")
        view.table.move_cursor(row=row)
        await press(app, pilot, "g")
        modal = app.screen
        assert modal.query_one("#submit").disabled
        await confirm(app, pilot, "ledger-batch")
        # its image is unsigned: the gate refuses with the reason, and the demo's Lambda is unchanged
        messages = [(str(n.message), n.severity) for n in app._notifications]
        assert any(sev == "error" and "ledger-batch: NOT deployed (unsigned)" in msg for msg, sev in messages), messages
        assert app.view is view
    assert functions_file.read_bytes() == before


async def test_leaving_a_view_cancels_its_workers_and_nothing_freezes(tmp_path):
    import socket
    import threading

    from textual.worker import WorkerState

    from tests.support.console import console_context

    # a registry that accepts connections and never answers
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(8)
    held: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        server.settimeout(0.2)
        while not stop.is_set():
            try:
                held.append(server.accept()[0])
            except OSError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    port = server.getsockname()[1]
    ctx = console_context(tmp_path, extra=f'\n[[registries]]\nname = "silent"\nurl = "127.0.0.1:{port}"\n'
                                         'auth = "anonymous"\ninsecure = true\n')
    try:
        async with running(ctx, "registries", settled=False) as (app, pilot):
            await pilot.pause()
            view = app.view
            probe = next(w for w in app.workers if w.name == "probe:silent")
            assert probe.state in (WorkerState.PENDING, WorkerState.RUNNING)
            assert view.probes["silent"][0] == "checking"
            # the view stays usable while the probe hangs: switch away at once
            await pilot.press("colon", *"hist", "enter")
            await pilot.pause()
            assert app.view.VIEW_NAME == "history"
            assert probe.is_cancelled  # leaving the view cancelled its work
    finally:
        stop.set()
        thread.join()
        for conn in held:
            conn.close()
        server.close()
        ctx.close()


async def test_attestations_are_looked_up_for_the_selected_tag(demo):
    async with running(demo, "registries") as (app, pilot):
        await open_demo_repo(app, pilot, "checkout")
        await press(app, pilot, "a")
        (results,) = app.view.attestations.values()
        assert {r.result for r in results} == {"unsigned"}  # the demo images carry no attestations
        assert "attestation https://slsa.dev/provenance/v1" in app.view.query_one("#detail").text


async def test_history_verifies_a_row_again_at_its_digest(demo):
    async with running(demo, "history", start_filter="web-frontend source:demo") as (app, pilot):
        view = app.view
        digest = view.rows[0].digest
        await press(app, pilot, "v")
        await pilot.press("slash", "ctrl+u")
        view.query_one("#filter-bar").value = "web-frontend source:tui"
        await press(app, pilot, "enter")
        (row,) = view.rows
        assert row.result == "invalid" and row.digest == digest and row.reference.endswith(f"@{digest}")


async def test_a_real_http_registry_lists_and_verifies(tmp_path, registry):
    from tests.support.console import console_context
    from tests.support.oci import new_key, push_image, push_signatures, signature_layer, write_public_key

    key = new_key()
    host = registry.url.split("://", 1)[1]
    signed = push_image(registry.url, "team/api", "v1")
    push_signatures(registry.url, "team/api", signed, [signature_layer(key, f"{host}/team/api", signed)])
    push_image(registry.url, "team/api", "v2-unsigned")
    key_path = write_public_key(tmp_path / "trusted.pub", key)
    ctx = console_context(tmp_path, extra=f'\n[[registries]]\nname = "local"\nurl = "{registry.url}"\n'
                                         f'auth = "anonymous"\n\n[trust]\nkeys = ["{key_path}"]\n')
    async with running(ctx, "registries") as (app, pilot):
        view = app.view
        assert view.probes["local"][0] == "reachable"
        await press(app, pilot, "enter")
        assert [r.name for r in view.repos] == ["team/api"]
        await press(app, pilot, "enter")
        assert sorted(t.tag for t in view.tags) == ["v1", "v2-unsigned"]  # the .sig tag is not an image
        await press(app, pilot, "V")
        assert {t.tag: view.verified[t.reference].result for t in view.tags} == {"v1": "verified",
                                                                                  "v2-unsigned": "unsigned"}
    ctx.close()


async def test_demo_dashboard_shows_every_panel(demo):
    async with running(demo) as (app, pilot):
        view = app.view
        assert view.summary.pending_bypasses == 1 and len(view.summary.bypasses) == 1
        failing = {a.reference.rsplit("/", 1)[-1].replace("@", ":").split(":")[0] for a in view.summary.attention}
        assert {"ledger", "web-frontend"} <= failing <= {"ledger", "web-frontend", "hotfix-worker"}
        assert [(k.name, k.what) for k in view.keys_due] == [("release-a", "drill overdue")]
        assert not view.probes["offline-mirror"].reachable and view.probes["demo"].reachable
        text = screen_text(app)
        assert "offline-mirror" in text and "6h00m" in text
        assert view.summary.unreachable == []  # the demo cluster answers (from its file)


async def test_signed_payloads_and_annotations_are_shown_as_stored(demo):
    async with running(demo, "registries") as (app, pilot):
        await open_demo_repo(app, pilot, "web-frontend")
        await press(app, pilot, "y")
        (payloads,) = app.view.payloads.values()
        # the replayed manifest of payments-api v1.4.2 (signed by both demo keys): its payloads
        # name payments-api's digest, not this image's
        assert len(payloads) == 2
        web_frontend = app.view.tags[0].digest
        for payload in payloads:
            assert "docker-manifest-digest" in payload.payload and web_frontend not in payload.payload
            assert len(payload.annotations["dev.cosignproject.cosign/signature"]) <= 201
        detail = app.view.query_one("#detail").text
        assert "signed payload #0" in detail and "docker-manifest-digest" in detail
