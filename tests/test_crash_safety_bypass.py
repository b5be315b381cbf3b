"""kill -9 in the middle of a bypass approval: the interrupted workflow is cleanly absent or resumes.

A child process approves a cluster-scoped bypass against a loopback Kubernetes API and stops at one
of three points, reported on stdout, where the parent SIGKILLs it:
- inside the approval's transaction: nothing of the approval exists afterwards, and it can be
  approved again;
- after the approval committed, before the PolicyException is created: the bypass is `approved`
  with its exception pending, and `reap` creates it and activates the bypass;
- after the PolicyException was created, before the bypass was marked active: `reap` adopts the
  exception left behind (same name, labels and spec) instead of failing or duplicating it.
Every time: `PRAGMA integrity_check` is ok and the audit chain verifies.
"""

from __future__ import annotations

import os

import pytest

from core.bypass.reaper import reap
from core.bypass.service import get_bypass, request_bypass
from core.context import open_context
from tests.support.crash import assert_store_intact, kill_at_marker
from tests.support.kube_api import KubeApiServer, write_kubeconfig
from tests.support.store import chain_status

DIGEST = "sha256:" + "ab" * 32
LINE_TIMEOUT_S = 30.0

CHILD = r"""
import sys
import core.bypass.service as service
from core.context import open_context

point = sys.argv[1]

def hold():
    print("holding", flush=True)
    sys.stdin.readline()  # the parent kills us here

real_set_state, real_create = service.set_state, service.create_exception

def set_state(*args, **kwargs):
    real_set_state(*args, **kwargs)
    if point == "in-transaction":
        hold()

def create_exception(*args, **kwargs):
    if point == "before-cluster":
        hold()
    created = real_create(*args, **kwargs)
    if point == "after-cluster":
        hold()
    return created

service.set_state, service.create_exception = set_state, create_exception
service.approve_bypass(open_context(), sys.argv[2])
print("finished", flush=True)
"""


@pytest.fixture
def world(signet_home, monkeypatch, tmp_path):
    with KubeApiServer() as server:
        server.add({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "kyverno"}})
        kubeconfig = write_kubeconfig(tmp_path / "kubeconfig", {"prod": server.url})
        (signet_home / "config.toml").write_text(
            '[roles]\napprover = ["alice"]\n\n[[clusters]]\ncontext = "prod"\n'
            f'kubeconfig = "{kubeconfig}"\n')
        monkeypatch.setenv("SIGNET_IDENTITY", "dev")
        ctx = open_context()
        bypass = request_bypass(ctx, digest=DIGEST, cluster="prod", namespace="payments", ticket="INC-1234",
                                justification="Hotfix for CVE-2026-1234 must ship before the pipeline is fixed",
                                duration="1h")
        ctx.close()
        yield server, bypass.id
    monkeypatch.delenv("SIGNET_IDENTITY")


def approve_and_kill(bypass_id: str, point: str) -> None:
    kill_at_marker(CHILD, point, bypass_id, env={**os.environ, "SIGNET_IDENTITY": "alice"},
                   line_timeout=LINE_TIMEOUT_S)


def state_after_crash(identity: str, monkeypatch):
    monkeypatch.setenv("SIGNET_IDENTITY", identity)
    ctx = open_context()
    assert_store_intact(ctx)
    return ctx


def exceptions(server: KubeApiServer) -> list[dict]:
    return server.list("kyverno.io", "policyexceptions", "kyverno")


def test_kill_inside_the_approval_transaction_leaves_no_trace(world, monkeypatch):
    server, bypass_id = world
    approve_and_kill(bypass_id, "in-transaction")
    ctx = state_after_crash("alice", monkeypatch)
    bypass = get_bypass(ctx, bypass_id)
    assert bypass.state.value == "requested" and bypass.approvers == ()
    assert ctx.store.query("SELECT COUNT(*) AS n FROM bypass_approvals")[0]["n"] == 0
    assert not ctx.store.query("SELECT seq FROM audit WHERE action LIKE '%approve%'")
    assert exceptions(server) == []
    # The request is intact: approving again works and puts the bypass in force.
    from core.bypass.service import approve_bypass

    outcome = approve_bypass(ctx, bypass_id)
    assert outcome.bypass.state.value == "active" and len(exceptions(server)) == 1
    ctx.close()


def test_kill_before_the_policy_exception_resumes_through_reap(world, monkeypatch):
    server, bypass_id = world
    approve_and_kill(bypass_id, "before-cluster")
    ctx = state_after_crash("alice", monkeypatch)
    bypass = get_bypass(ctx, bypass_id)
    assert bypass.state.value == "approved" and bypass.exception_ref is None  # granted, exception pending
    assert exceptions(server) == []
    report = reap(ctx, check_workloads=False)
    assert report.activated == [bypass_id], report
    assert get_bypass(ctx, bypass_id).state.value == "active" and len(exceptions(server)) == 1
    assert chain_status(ctx.store).intact
    ctx.close()


def test_kill_after_the_policy_exception_adopts_it_on_reap(world, monkeypatch):
    server, bypass_id = world
    approve_and_kill(bypass_id, "after-cluster")
    ctx = state_after_crash("alice", monkeypatch)
    assert get_bypass(ctx, bypass_id).state.value == "approved"
    [left_behind] = exceptions(server)
    report = reap(ctx, check_workloads=False)
    assert report.activated == [bypass_id], report
    assert [e["metadata"]["name"] for e in exceptions(server)] == [left_behind["metadata"]["name"]]
    bypass = get_bypass(ctx, bypass_id)
    assert bypass.state.value == "active" and bypass.exception_ref
    assert chain_status(ctx.store).intact
    ctx.close()
