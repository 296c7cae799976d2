"""A server killed (SIGKILL) while signers are signing loses nothing: after a restart on the same
data, every signature the server acknowledged is in its flow, no flow is stuck (an
unacknowledged signing either landed whole or can be done again), and no document carries a
signer's signature twice. On SQLite and PostgreSQL."""
from __future__ import annotations

import threading
import time

import requests

from conftest import Platform, expect, free_port, fresh_dir
from test_deploy import restart
from test_seals import sign_code, upload_pdf

FLOWS = 12


def test_kill_during_signing_loses_nothing(servers, backend):
    port = free_port()
    data = fresh_dir(servers.root, f"crash-{backend}")
    server = servers.start(backend=backend, label="crash", data=data,
                           args=["--data", str(data), "--listen", f"127.0.0.1:{port}"])
    platform = Platform(server)
    signer = platform.verified_user("冯崩溃")
    grant = signer.api.ok("POST", "/me/autosign", {"code": sign_code(platform, signer)}, status=201)
    seal = next(s["id"] for s in signer.api.ok("GET", "/me/seals") if s["is_default"])
    flows = []
    for i in range(FLOWS):
        docs = [{"blob_id": upload_pdf(platform, signer, f"crash{i}{j}")["id"]} for j in range(2)]
        position = [{"document": j, "page": 1, "x": 100, "y": 100, "width": 80} for j in range(2)]
        flows.append(signer.api.ok("POST", "/flows", {
            "title": f"崩溃测试{i}", "documents": docs,
            "signers": [{"user_id": signer.id, "positions": position}],
        }, status=201)["id"])

    answers: dict[str, int | str] = {}
    cookies = signer.api.s.cookies.get_dict()
    csrf = signer.api.csrf

    def sign(flow_id: str):
        try:
            r = requests.post(server.url(f"/api/v1/flows/{flow_id}/sign"),
                              json={"seal_id": seal, "autosign": True},
                              cookies=cookies, headers={"X-CSRF-Token": csrf}, timeout=60)
            answers[flow_id] = r.status_code
        except requests.RequestException as err:
            answers[flow_id] = type(err).__name__

    threads = [threading.Thread(target=sign, args=(f,)) for f in flows]
    for t in threads:
        t.start()
    # Let some signings finish and catch others in the middle.
    deadline = time.monotonic() + 30
    while sum(1 for a in answers.values() if a == 200) < 2 and time.monotonic() < deadline:
        time.sleep(0.02)
    server.kill()
    for t in threads:
        t.join(60)
    acknowledged = [f for f, a in answers.items() if a == 200]
    assert acknowledged, answers
    print(f"acknowledged {len(acknowledged)} of {FLOWS}; the rest: {sorted(set(map(str, answers.values())))}")

    again = restart(servers, server)
    resumed: list = []
    assert again.base == server.base
    for flow_id in flows:
        flow = signer.api.ok("GET", f"/flows/{flow_id}")
        versions = [d["version"] for d in flow["documents"]]
        # Never a signature twice.
        assert all(v <= 1 for v in versions), (flow_id, versions)
        if flow_id in acknowledged:
            assert flow["status"] == "completed" and versions == [1, 1], (flow_id, flow)
        elif flow["status"] == "in_progress":
            resumed.append((flow_id, versions))
            # Not stuck: signing again finishes what the killed request started.
            done = signer.api.ok("POST", f"/flows/{flow_id}/sign",
                                 {"seal_id": seal, "autosign": True}, status=200)
            assert done["status"] == "completed", done
            assert [d["version"] for d in done["documents"]] == [1, 1], done
        else:
            assert flow["status"] == "completed" and versions == [1, 1], flow
        for idx in (0, 1):
            pdf = signer.api.get(f"/flows/{flow_id}/documents/{idx}").content
            out = requests.post(again.url("/api/v1/verify"), data=pdf, timeout=60).json()
            assert out["report"]["verdict"] == "VALID", (flow_id, idx, out["report"])
            assert len(out["report"]["signatures"]) == 1
    print(f"resumed after the restart: {resumed}")
    uses = signer.api.ok("GET", "/me/autosign/uses", params={"limit": 100})["items"]
    assert len(uses) == 2 * FLOWS, len(uses)
    assert {u["grant_id"] for u in uses} == {grant["id"]}
    checked = platform.admin.ok("POST", "/admin/trail/verify", status=200)
    assert checked, checked
    expect(signer.api.get("/me"), 200)
