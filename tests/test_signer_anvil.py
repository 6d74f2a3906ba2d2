"""On a real EVM (anvil): the signer validates against the deployed TicketBroker/RoundsManager over JSON-RPC, and
`lpdev conformance --eth-url --controller` (the CLI) passes against it."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

import devnet
from sim.clock import RealClock
from sim.signer.config import SignerConfig
from sim.signer.core import SignerCore
from sim.signer.http import SignerServer
from tests.test_signer_harness import server_in_thread

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

    ext = devnet.open_chain("external", eth_url=anvil.eth_url, controller=anvil.contracts["Controller"])
    core = SignerCore(key=anvil.key("sender"), chain=ext, config=SignerConfig(), clock=RealClock())
    try:
        with server_in_thread(SignerServer(core)) as server:
            rc = main(["conformance", "--signer", server.url, "--eth-url", anvil.eth_url,
                       "--controller", anvil.contracts["Controller"], "--json"])
            out = capsys.readouterr().out
            report = json.loads(out)
            assert rc == 0, out
            assert report["verdict"]["match"] == "go-livepeer", out
            counts = report["counts"]["go-livepeer"]
            assert counts["differs"] == 0 and counts["pass"] >= 35, counts
            assert core.chain.reads >= 1
    finally:
        close = getattr(ext, "close", None)
        if close:
            close()
