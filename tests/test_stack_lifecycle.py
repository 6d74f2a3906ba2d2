"""The in-process stack starts every actor on loopback and stops them all: no orphan anvil, no open port, the
borrowed chain left open; kill/restart keeps the orchestrator's port and SQLite winners; the gateway also runs
as a process (``python -m sim.gateway``) against a running stack."""
from __future__ import annotations

import asyncio
import json
import os
import socket
import sys
from pathlib import Path

import pytest

from stack.spec import GatewaySpec, OrchestratorSpec, StackSpec, devnet_config, with_overrides
from stack.stack import Stack

ROOT = Path(__file__).resolve().parents[1]


def _port_open(url: str) -> bool:
    host, port = url.split("//", 1)[1].rsplit(":", 1)
    with socket.socket() as s:
        s.settimeout(0.5)
        return s.connect_ex((host, int(port))) == 0


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # a zombie still answers kill(0); look at its state
    try:
        return Path(f"/proc/{pid}/stat").read_text().split()[2] != "Z"
    except OSError:
        return False


@pytest.mark.slow
def test_anvil_stack_stops_everything():
    async def go():
        st = Stack(StackSpec(chain="anvil", gateways=[GatewaySpec(name="gw")]))
        async with st:
            pid = st.chain._process.pid  # the managed AnvilProcess (devnet keeps it private)
            urls = [st.signers["signer"].url, st.orchestrators["orch"].url]
            assert _alive(pid) and all(_port_open(u) for u in urls)
            out = await st.gateways["gw"].pay_once()
            assert out.status == "paid", out
        return pid, urls

    pid, urls = asyncio.run(go())
    assert not _alive(pid), "anvil left running"
    assert not any(_port_open(u) for u in urls)


def test_kill_restart_same_port_and_winners():
    async def go():
        cfg = StackSpec(chain="mock", seed=5, orchestrators=[OrchestratorSpec(faults={"face_value": 2 * 10**15})],
                          gateways=[GatewaySpec(name="gw")])
        async with Stack(cfg) as st:
            g, h = st.gateways["gw"], st.orchestrators["orch"]
            await g.pay(2)
            queued = st.queued("orch")
            url = h.url
            await st.kill("orch")
            assert not _port_open(url) and st.queued("orch") == 0
            await st.restart("orch")
            assert h.url == url and _port_open(url)
            again = st.queued("orch")
            await g.start()
            out = await g.pay_once()
            return queued, again, out.status

    queued, again, status = asyncio.run(go())
    assert queued > 0 and again == queued  # the same winners, read back from SQLite
    assert status == "paid"


def test_gateway_process_against_stack():
    async def go():
        async with Stack(StackSpec(chain="mock")) as st:
            proc = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "sim.gateway", "--signer", st.signers["signer"].url,
                "--orchestrator", st.orchestrators["orch"].url, "--count", "2", "--interval", "0",
                cwd=str(ROOT), stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
            out, err = await asyncio.wait_for(proc.communicate(), 60)
            return proc.returncode, out.decode(), err.decode()

    rc, out, err = asyncio.run(go())
    lines = [json.loads(x) for x in out.splitlines() if x.strip()]
    assert rc == 0, (out, err)
    kinds = [x.get("kind") for x in lines]
    assert kinds.count("gateway.payment") == 2 and "gateway.orchestrator_info" in kinds
    assert lines[-1]["summary"]["outcomes"] == ["paid", "paid"]


def test_gateway_process_bad_args():
    import subprocess

    r = subprocess.run([sys.executable, "-m", "sim.gateway", "--signer", "http://x", "--orchestrator", "https://y",
                        "--count", "0"], cwd=str(ROOT), capture_output=True, text=True, timeout=30)
    assert r.returncode == 2 and "--count must be >= 1" in r.stderr
