"""Fork mode (issue 17): an "upstream" anvil plays Arbitrum One — chain id 42161, lpdev's contracts with the
Controller, the proxies and the Minter at the Arbitrum One addresses, and pre-existing state (a funded sender, an
active orchestrator with two delegators that has already earned fees, a round not yet initialized) — and
``devnet.open_chain("fork", fork_url=...)`` forks it: the Controller comes from the chain id, every contract is
resolved through it, the round is initialized, an orchestrator is made payable and the dev sender funded. Then
lpdev's signer and orchestrator run against the fork: payments, winners redeemed on the fork, the fees split
between the orchestrator and its delegators, and the upstream untouched. Also every failure the issue names."""
from __future__ import annotations

import json
from fractions import Fraction
import subprocess
import sys
from pathlib import Path

import pytest

import devnet
from devnet.backends import evm
from devnet.base import ChainError, ChainUnreachable, ContractNotFound
from devnet.config import ETHER, LPT, DevnetConfig
from devnet.layout import ARBITRUM_ONE
from sim.clock import RealClock
from sim.gateway.session import GatewayConfig, GatewaySession
from sim.orchestrator import OrchestratorServer
from sim.orchestrator.winners import REDEEMED
from sim.pm.crypto import keccak
from sim.pm.params import PARAMS_EXPIRATION_BLOCK
from sim.pm.ticket import MAX_WIN_PROB, Ticket, u256
from sim.pm.sender import SenderLimits
from sim.signer.config import SignerConfig
from sim.signer.core import SignerCore
from sim.signer.http import SignerServer

pytestmark = pytest.mark.anvil
ROOT = Path(__file__).resolve().parent.parent
AT = {k: ARBITRUM_ONE[k] for k in ("Controller", "TicketBroker", "RoundsManager", "BondingManager", "BondingVotes",
                                   "ServiceRegistry", "Minter")}
DELEGATORS = (("delegator", "orchestrator", 500 * LPT), ("delegator2", "orchestrator", 300 * LPT))


def a(chain, role: str) -> bytes:
    return bytes.fromhex(chain.address(role)[2:])


def upstream_summary(chain) -> dict:
    return {"block": chain.last_block(), "round": chain.current_round(),
            "initialized": chain.current_round_initialized(),
            "sender": chain.sender_info(a(chain, "sender")),
            "fees": {r: chain.pending_fees(a(chain, r)) for r in ("orchestrator", "delegator", "delegator2")},
            "pool": chain.transcoder_pool(),
            "minter_lpt": chain.lpt_balance(bytes.fromhex(chain.contracts["Minter"][2:]))}


@pytest.fixture(scope="module")
def upstream():
    cfg = DevnetConfig(chain_id=ARBITRUM_ONE["chain_id"], round_length=100, delegators=DELEGATORS)
    chain = evm.open_anvil(config=cfg, at=AT)
    try:
        assert chain.contracts["Controller"] == ARBITRUM_ONE["Controller"]
        assert chain.contracts["TicketBroker"] == chain.contracts["JobsManager"] == ARBITRUM_ONE["TicketBroker"]
        # pre-existing state: the orchestrator earned fees its delegators share, then a new round began
        rnd = chain.last_initialized_round()
        t = Ticket(recipient=a(chain, "orchestrator"), sender=a(chain, "sender"), face_value=ETHER,
                   win_prob=MAX_WIN_PROB, sender_nonce=1, recipient_rand_hash=keccak(u256(5)), creation_round=rnd,
                   creation_round_block_hash=chain.block_hash_for_round(rnd))
        assert chain.redeem_winning_ticket(t, t.sign(chain.key("sender")), 5, from_key=chain.key("orchestrator")).ok
        # orchestrator2 holds no LPT, like a new operator (the fork gets it some from the Minter)
        assert chain.lpt_transfer(chain.key("orchestrator2"), a(chain, "deployer"), 10_000 * LPT).ok
        chain.mine(cfg.round_length - chain.last_block() % cfg.round_length)
        assert not chain.current_round_initialized()
        yield chain
    finally:
        chain.close()


def fee_factor(total_stake: int, fees: list[int], fee_share: int = 50_000) -> int:
    """What fees credited in one round add to the cumulative fee factor (over 1e27), with the protocol's floors."""
    return sum(((f * fee_share // 1_000_000) * 10**27) // total_stake for f in fees)


def gain(stake: int, factor_before: int, added: int) -> int:
    """A delegator's pending fees grow by this when the factor since its last claim goes from before to before+added."""
    return stake * (factor_before + added) // 10**27 - stake * factor_before // 10**27


async def test_signer_and_orchestrator_on_a_fork_split_fees_and_leave_upstream_alone(upstream, tmp_path):
    before = upstream_summary(upstream)
    fork = devnet.open_chain("fork", fork_url=upstream.eth_url, orchestrator_address=upstream.address("orchestrator"),
                             config=DevnetConfig(sender_deposit=10 * ETHER, sender_reserve=10 * ETHER))
    try:
        assert fork.chain_id == 42161 and fork.fork["controller"] == ARBITRUM_ONE["Controller"]
        assert fork.fork["block"] == before["block"] and fork.fork["orchestrator"]["impersonated"]
        assert fork.contracts["TicketBroker"] == ARBITRUM_ONE["TicketBroker"]  # resolved through the Controller
        assert fork.current_round_initialized() and fork.current_round() == before["round"]
        assert fork.eth_usd().usd_per_eth == 3000  # the upstream's feed price, on the fork's own feed
        fees0 = {r: fork.pending_fees(a(fork, r)) for r in ("orchestrator", "delegator", "delegator2")}
        assert fees0 == before["fees"] and fees0["delegator"] > 0  # the upstream's earnings came along

        signer_cfg = SignerConfig(limits=SenderLimits(max_ticket_ev=Fraction(10**17), max_total_ev=Fraction(10**20)))
        core = SignerCore(key=fork.key("sender"), chain=fork, config=signer_cfg, clock=RealClock())
        async with OrchestratorServer(fork, eth_key=fork.key("orchestrator"), data_dir=tmp_path, block_poll_s=None,
                                      ticket_ev=10**15, max_face_value=2 * 10**15, price_per_unit=1,
                                      pixels_per_unit=1, auto_adjust_price=False, redeem_gas=1000) as o, \
                SignerServer(core) as s:
            gw = GatewaySession(GatewayConfig(job_type="", in_pixels=3 * 10**15, manifest_id="fork-test"),
                                signer_urls=[s.url], orchestrator_url=o.url)
            async with gw:
                await gw.start()
                outcomes = await gw.pay(8, interval_s=0)
            assert [x.status for x in outcomes] == ["paid"] * 8
            winners = o.orch.store.all()
            assert len(winners) >= 3  # win prob 1/2, 3 tickets a payment
            fork.mine(PARAMS_EXPIRATION_BLOCK)
            assert fork.current_round_initialized()
            res = await o.redeem_now()
            assert res == {"redeemed": len(winners), "failed": 0, "waiting": 0}
            assert all(w.status == REDEEMED for w in o.orch.store.all())
        face = [w.ticket.face_value for w in winners]
        assert all(fork.is_used_ticket(w.ticket.hash()) for w in winners)
        # the fees: 95 % commission to the orchestrator, 5 % shared by stake 1000 : 500 : 300
        gained = {r: fork.pending_fees(a(fork, r)) - fees0[r] for r in fees0}
        t = upstream.transcoder_info(a(upstream, "orchestrator"))
        before_factor = upstream.earnings_pool(a(upstream, "orchestrator"), t.last_fee_round).cumulative_fee_factor
        added = fee_factor(1800 * LPT, face)
        assert gained["delegator"] == gain(500 * LPT, before_factor, added) > 0
        assert gained["delegator2"] == gain(300 * LPT, before_factor, added) > 0
        # money: everything ever credited to this pool (the upstream's 1 ETH ticket and the fork's) is in its
        # members' pending fees, less the floors' dust; nothing created
        assert 0 <= ETHER + sum(face) - sum(fork.pending_fees(a(fork, r)) for r in fees0) <= 3
        assert gained["orchestrator"] >= sum(face) * 95 // 100
        # the upstream is untouched: same block, funds, fees and pool; the tickets unused there
        assert upstream_summary(upstream) == before
        assert not any(upstream.is_used_ticket(w.ticket.hash()) for w in winners)
    finally:
        fork.close()


def test_a_dev_orchestrator_is_bonded_and_made_active_on_the_fork(upstream):
    """Without --orchestrator-address: the dev orchestrators (here orchestrator2, with no LPT and not a transcoder
    upstream, and orchestrator, already active there) are made payable: orchestrator2 gets LPT from the Minter
    (impersonating the BondingManager), bonds it, registers and is active the next round."""
    before = upstream_summary(upstream)
    cfg = DevnetConfig(transcoders=("orchestrator2", "orchestrator"))
    fork = devnet.open_chain("fork", fork_url=upstream.eth_url, fork_block=before["block"], config=cfg)
    try:
        o2 = a(fork, "orchestrator2")
        t = fork.transcoder_info(o2)
        assert t.active and t.total_stake == cfg.transcoder_stake and t.fee_share == cfg.fee_share
        assert fork.fork["orchestrator"] == {
            "address": fork.address("orchestrator2"), "impersonated": False, "dev_role": "orchestrator2", "note": None,
            "how": "the dev orchestrator, bonded with LPT from the Minter and made active"}
        assert fork.fork["orchestrators"][1]["how"] == "the dev orchestrator, already an active transcoder on the " \
                                                       "forked chain"
        assert fork.current_round() == before["round"] + 1  # advanced to its activation round
        # the fork's config is its own copy: the caller's DevnetConfig keeps its chain id
        assert fork.config.chain_id == 42161 and cfg.chain_id == DevnetConfig().chain_id == 31337
        minter = bytes.fromhex(fork.contracts["Minter"][2:])
        # its LPT came out of the Minter (impersonating the BondingManager) and went back in, bonded
        assert fork.lpt_balance(minter) == before["minter_lpt"] and fork.lpt_balance(o2) == 0
        rnd = fork.last_initialized_round()
        tk = Ticket(recipient=o2, sender=a(fork, "sender"), face_value=ETHER, win_prob=MAX_WIN_PROB, sender_nonce=9,
                    recipient_rand_hash=keccak(u256(9)), creation_round=rnd,
                    creation_round_block_hash=fork.block_hash_for_round(rnd))
        assert fork.redeem_winning_ticket(tk, tk.sign(fork.key("sender")), 9, from_key=fork.key("orchestrator2")).ok
        assert fork.pending_fees(o2) == ETHER  # no delegators: all of it
    finally:
        fork.close()
    assert upstream_summary(upstream) == before


def test_fork_errors_name_the_cause(upstream):
    with pytest.raises(ChainUnreachable, match=r"cannot reach --fork-url http://127.0.0.1:9: .*Connection"):
        devnet.open_chain("fork", fork_url="http://127.0.0.1:9")
    with pytest.raises(ChainUnreachable, match="must be an http"):
        devnet.open_chain("fork", fork_url="ws://127.0.0.1:9")
    with pytest.raises(ChainError, match="ahead of"):
        devnet.open_chain("fork", fork_url=upstream.eth_url, fork_block=10**9)
    with pytest.raises(ContractNotFound, match=r"Controller not found: no contract code at 0x0{39}1"):
        devnet.open_chain("fork", fork_url=upstream.eth_url, controller="0x" + "00" * 19 + "01")
    with pytest.raises(ContractNotFound, match="is not an address"):
        devnet.open_chain("fork", fork_url=upstream.eth_url, controller="0x1234")
    # a registered name missing (a contract that is not a Livepeer Controller)
    with pytest.raises(ContractNotFound):
        devnet.open_chain("fork", fork_url=upstream.eth_url, controller=upstream.contracts["TicketBroker"])
    with pytest.raises(ChainError, match="is not a registered transcoder"):
        devnet.open_chain("fork", fork_url=upstream.eth_url, orchestrator_address=upstream.address("gateway"))
    with pytest.raises(ChainError, match="needs fork_url"):
        devnet.open_chain("fork")


class _NeverActive:
    """A fork on which the impersonated orchestrator is registered and in the pool but never becomes active."""

    config = DevnetConfig()
    fork = {"block": 1}

    def __init__(self) -> None:
        self.rounds = 0

    def _view(self, contract, fn, *args):
        assert (contract, fn) == ("BondingManager", "isRegisteredTranscoder")
        return True

    def impersonate(self, addr):
        pass

    def set_balance(self, addr, wei):
        pass

    def is_active_transcoder(self, a):
        return False

    def transcoder_pool(self):
        return [self.config.address("orchestrator")]

    def current_round(self):
        return 7 + self.rounds

    def _advance(self, key):
        self.rounds += 1


def test_an_impersonated_orchestrator_that_never_becomes_active_is_an_error():
    """Waited for two rounds and still not active: the fork says so instead of handing out an orchestrator that
    cannot be paid (every ticket to it would fail the broker's active check)."""
    from devnet.backends.fork import _impersonate_orchestrator

    chain = _NeverActive()
    with pytest.raises(ChainError, match=r"--orchestrator-address 0x\w+ is in the transcoder pool but still not active "
                                         r"after two rounds \(round 9\)"):
        _impersonate_orchestrator(chain, chain.config.address("orchestrator"))
    assert chain.rounds == 2


def test_wrong_chain_needs_a_controller_and_a_paused_network_cannot_start_a_round():
    """Chain id 31337 is not Arbitrum One: without --controller the fork says so. A paused network's round cannot be
    initialized: the error says why."""
    up = devnet.open_chain("anvil", config=DevnetConfig(round_length=50))
    try:
        with pytest.raises(ChainError, match=r"chain id 31337 is not Arbitrum One .*pass --controller"):
            devnet.open_chain("fork", fork_url=up.eth_url)
        assert up.pause(up.key("deployer")).ok
        up.mine(50)
        with pytest.raises(ChainError, match=r"round \d+ is not initialized on the fork and cannot be: initializeRound "
                                             r"reverted with 'system is paused' \(the Controller is paused\)"):
            devnet.open_chain("fork", fork_url=up.eth_url, controller=up.contracts["Controller"])
    finally:
        up.close()


def test_chain_up_fork_cli_banner_and_config(upstream, tmp_path):
    cfg = tmp_path / "fork.json"
    r = subprocess.run([sys.executable, "-m", "lpdev", "chain", "up", "--fork-url", upstream.eth_url,
                        "--orchestrator-address", upstream.address("orchestrator"), "--config-out", str(cfg),
                        "--exit-after-setup", "--json"], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    block = upstream.last_block()
    assert f"a FORK of {upstream.eth_url} at block {block} (chain id 42161)" in r.stdout
    assert "transactions stay on it, the forked chain is only read" in r.stdout
    assert f"Orchestrator: {upstream.address('orchestrator')} — impersonated" in r.stdout
    assert "-network=arbitrum-one-mainnet" in r.stdout and f"-ethController {ARBITRUM_ONE['Controller']}" in r.stdout
    doc = json.loads(r.stdout.strip().splitlines()[-1])
    assert doc["fork"]["url"] == upstream.eth_url and doc["fork"]["block"] == block
    assert doc["controller"] == ARBITRUM_ONE["Controller"] and doc["chain_id"] == 42161
    for argv, message in (([], "cannot reach --fork-url http://127.0.0.1:9"),
                          (["--round-length", "5"], "does not go with"),
                          (["--controller", "0x12"], "is not an address")):
        r = subprocess.run([sys.executable, "-m", "lpdev", "chain", "up", "--fork-url", "http://127.0.0.1:9", *argv,
                            "--exit-after-setup"], cwd=ROOT, capture_output=True, text=True, timeout=60)
        assert r.returncode in (1, 2) and message in r.stderr and r.stderr.count("\n") == 1, r.stderr
    r = subprocess.run([sys.executable, "-m", "lpdev", "chain", "up", "--fork-block", "3"], cwd=ROOT,
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 2 and "--fork-block needs --fork-url" in r.stderr


def test_a_full_active_set_is_entered_with_more_stake_than_its_smallest_member():
    """The network's active set is full (here: 1 seat, held by an orchestrator with 1000 LPT + 300 delegated): the dev
    orchestrator is given 1 LPT more than that from the Minter, and evicts it from the next round."""
    up = devnet.open_chain("anvil", config=DevnetConfig(round_length=50, num_active_transcoders=1,
                                                        delegators=(("delegator", "orchestrator", 300 * LPT),)))
    try:
        assert up.transcoder_pool() == [up.address("orchestrator")]
        fork = devnet.open_chain("fork", fork_url=up.eth_url, controller=up.contracts["Controller"],
                                 config=DevnetConfig(transcoders=("orchestrator2",)))
        try:
            o2 = a(fork, "orchestrator2")
            assert fork.transcoder_pool() == [fork.address("orchestrator2")]
            assert fork.transcoder_info(o2).total_stake == 1301 * LPT and fork.is_active_transcoder(o2)
            assert not fork.is_active_transcoder(a(fork, "orchestrator"))
        finally:
            fork.close()
        assert up.transcoder_pool() == [up.address("orchestrator")]
    finally:
        up.close()
