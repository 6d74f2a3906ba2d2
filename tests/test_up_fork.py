"""`lpdev up --fork-url` (issue 17): the whole stack on a fork of a live chain. The "upstream" is the Arbitrum-One-like
anvil of tests/test_devnet_fork.py (lpdev's contracts at the mainnet addresses, an orchestrator with two
delegators and earned fees). The real SDK pays through lpdev's signer, winners are redeemed on the fork, the fees
are split to the delegators, and the upstream is untouched; the CLI's banner says plainly that it is a fork."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest


from livepeer_gateway import PaymentSession, get_orch_info  # noqa: E402

from devnet.config import ETHER  # noqa: E402
from devnet.layout import ARBITRUM_ONE  # noqa: E402
from stack.policy import LIVE  # noqa: E402
from stack.spec import UP_DEFAULTS, SpecParser, parse_spec  # noqa: E402
from stack.thread import StackThread  # noqa: E402
from tests.test_devnet_fork import a, upstream, upstream_summary  # noqa: E402,F401 - the module fixture

pytestmark = [pytest.mark.anvil, pytest.mark.sdk, pytest.mark.slow]
ROOT = Path(__file__).resolve().parents[1]


def bare(url: str) -> str:
    return url.split("://", 1)[1]


def test_up_on_a_fork_sdk_pays_winners_redeemed_fees_split_upstream_untouched(upstream):  # noqa: F811
    before = upstream_summary(upstream)
    spec = parse_spec({"chain": {"backend": "fork", "fork_url": upstream.eth_url,
                                 "orchestrator_address": upstream.address("orchestrator")},
                       "ports": {"eth": 0, "signer": 0, "orchestrator": 0, "orchestrator_http": 0},
                       "gateway": {"enabled": False}, "block_time": 0, "runners": []},
                      SpecParser("<test>"), base=UP_DEFAULTS)
    with StackThread(spec, LIVE) as t:
        st = t.stack
        fork = st.chain
        assert fork.backend == "fork" and fork.chain_id == ARBITRUM_ONE["chain_id"]
        assert fork.contracts["TicketBroker"] == ARBITRUM_ONE["TicketBroker"]  # resolved through the Controller
        fees0 = {r: fork.pending_fees(a(fork, r)) for r in ("orchestrator", "delegator", "delegator2")}
        o, s = st.orchestrators["orch"], st.signers["signer"]
        # each new session's first payment is the 60 s preload: 17 tickets at win prob 1/5, no winner with
        # probability 0.0225; up to five sessions make a run without one a 6e-9 event, not a flaky test
        for n in range(5):
            info = get_orch_info(bare(o.url), signer_url=bare(s.url))
            session = PaymentSession(bare(s.url), info, type="lv2v")
            session.set_manifest_id(f"on-a-fork-{n}")
            session.send_payment()
            winners = o.node.store.all()
            if winners:
                break
        assert winners, "no winner in 85 tickets at win prob 1/5"
        t.call(st.mine(41))  # past the params' expiry: the orchestrator redeems on the fork
        for _ in range(60):
            if all(w.status == "redeemed" for w in o.node.store.all()):
                break
            t.call(st.sync(force=True))
        assert all(w.status == "redeemed" for w in o.node.store.all())
        assert all(fork.is_used_ticket(w.ticket.hash()) for w in winners)
        face = sum(w.ticket.face_value for w in winners)
        gained = {r: fork.pending_fees(a(fork, r)) - fees0[r] for r in fees0}
        assert gained["delegator"] > 0 and gained["delegator2"] > 0  # fees split through the earnings pool
        assert gained["orchestrator"] >= face * 95 // 100  # its 95 % commission, and its own stake's share
        # money: all ever credited to this pool (the upstream's 1 ETH winner and the fork's) is in its members'
        # pending fees, less the floors' dust; nothing created
        assert 0 <= ETHER + face - sum(fork.pending_fees(a(fork, r)) for r in fees0) <= 3
    assert upstream_summary(upstream) == before  # the upstream never saw a transaction
    assert not any(upstream.is_used_ticket(w.ticket.hash()) for w in winners)


def test_up_fork_cli_banner_and_errors(upstream, tmp_path):  # noqa: F811
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    r = subprocess.run([sys.executable, "-m", "lpdev", "up", "--headless", "--any-port", "--fork-url",
                        upstream.eth_url, "--orchestrator-address", upstream.address("orchestrator"),
                        "--exit-after-ready", "--no-gateway"], cwd=tmp_path, capture_output=True, text=True,
                       timeout=180, env=env)
    assert r.returncode == 0, r.stderr[-2000:]
    assert f"THIS IS A FORK of {upstream.eth_url} at block" in r.stdout and "(chain id 42161)" in r.stdout
    assert ARBITRUM_ONE["Controller"] in r.stdout and "impersonated" in r.stdout
    for argv, want in ((["--fork-url", "http://127.0.0.1:9"], "cannot reach"),
                       (["--fork-url", "ftp://x"], "fork_url: expected an http(s):// JSON-RPC URL"),
                       (["--fork-block", "5"], "--fork-block goes with --fork-url URL"),
                       (["--fork-url", upstream.eth_url, "--chain", "mock"], "drop --chain mock"),
                       (["--fork-url", upstream.eth_url, "--controller", "0x12"], "20-byte hex address")):
        r = subprocess.run([sys.executable, "-m", "lpdev", "up", "--headless", "--any-port", *argv],
                           cwd=tmp_path, capture_output=True, text=True, timeout=120, env=env)
        assert r.returncode in (1, 2) and want in r.stderr and "Traceback" not in r.stderr, (argv, r.stderr)
