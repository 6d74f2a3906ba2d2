"""On a real EVM (anvil): the signer validates against the deployed TicketBroker/RoundsManager over JSON-RPC, and
`lpdev conformance --eth-url --controller` (the CLI) passes against it."""
from __future__ import annotations

import asyncio
import json
import shutil
import threading
from pathlib import Path

import pytest

import devnet
from sim.clock import RealClock
from sim.signer.config import SignerConfig
from sim.signer.core import SignerCore
from sim.signer.http import SignerServer

ANVIL = Path(__file__).resolve().parent.parent / "devnet" / "tools" / "node_modules" / ".bin" / "anvil"

pytestmark = [pytest.mark.anvil, pytest.mark.slow]


@pytest.fixture(scope="module")
def anvil():
    if not ANVIL.exists() and not shutil.which("anvil"):
        pytest.skip("anvil not installed (make bootstrap)")
    c = devnet.open_chain("anvil")
    yield c
    c.close()


def test_conformance_cli_against_signer_on_anvil(anvil, capsys):
    from lpdev.cli import main

    loop = asyncio.new_event_loop()
    ext = devnet.open_chain("external", eth_url=anvil.eth_url, controller=anvil.contracts["Controller"])
    core = SignerCore(key=anvil.key("sender"), chain=ext, config=SignerConfig(), clock=RealClock())
    server = SignerServer(core)
    ready = threading.Event()

    def run():
        asyncio.set_event_loop(loop)
        loop.run_until_complete(server.start())
        ready.set()
        loop.run_forever()

    t = threading.Thread(target=run, daemon=True)
    t.start()
    try:
        assert ready.wait(10)
        rc = main(["conformance", "--signer", server.url, "--eth-url", anvil.eth_url,
                   "--controller", anvil.contracts["Controller"], "--json"])
        out = capsys.readouterr().out
        report = json.loads(out)
        assert rc == 0, out
        assert report["ok"] and report["counts"]["fail"] == 0 and report["counts"]["pass"] >= 25
        assert core.chain.reads >= 1
    finally:
        asyncio.run_coroutine_threadsafe(server.stop(), loop).result(10)
        loop.call_soon_threadsafe(loop.stop)
        t.join(10)
        loop.close()
        close = getattr(ext, "close", None)
        if close:
            close()
