"""The `lpdev up` stack in process (lpdev.upstack.UpStack): the scripted gateway's payments flow end to end —
tickets credited, winners stored, redeemed on chain once their params expire (block ticker); the embedded chain;
several orchestrators and signers; the cast document and token; lpdev.toml loading; the log lines; the TUI's
time-travel controls and live mode."""
from __future__ import annotations

import asyncio
import base64
import json

import pytest

from lpdev.upconfig import ConfigError, UpConfig, apply_toml, cast_document, make_token
from lpdev.upstack import UpStack


def cfg(**kw) -> UpConfig:
    base = dict(chain="embedded", eth_port=0, signer_port=0, orch_port=0, seed=1)
    base.update(kw)
    return UpConfig(**base)


async def wait_until(pred, timeout: float = 60.0, step: float = 0.05) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not pred():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError("timed out")
        await asyncio.sleep(step)


def kinds(stack, kind):
    return [e for e in list(stack.bus.recent) if e.kind == kind]


@pytest.mark.anvil
@pytest.mark.slow
async def test_gateway_payments_winners_and_redemptions_flow():
    # win probability 1/2 (face value = 2 x EV; the sender refuses EV >= face value): the first LV2V payment alone
    # carries 17 tickets, so fewer than two winners has probability 18/2^17 -- not luck-dependent in practice
    c = cfg(chain="anvil", ticket_ev=10**15, max_face_value=2 * 10**15, block_time=0.05, interval=0.2)
    async with UpStack(c) as up:
        runner = asyncio.create_task(up.run())
        try:
            await wait_until(lambda: len(kinds(up, "orch.redemption_mined")) >= 2, timeout=90)
        finally:
            up.request_stop()
            await runner
        paid = [e for e in kinds(up, "gateway.payment") if e.data["status"] == 200]
        assert paid and kinds(up, "orch.winner_stored")
        assert not [e for e in kinds(up, "orch.ticket") if e.data["error"]]
        mined = kinds(up, "orch.redemption_mined")
        assert all(e.data["tx_hash"] for e in mined)
        orch = up.orchestrators[0]
        assert up.chain.pending_fees(bytes.fromhex(orch.address[2:])) >= len(mined) * 10**15 // 2
        info = up.chain.sender_info(bytes.fromhex(up.signers[0].address[2:]))
        assert info.deposit < c.deposit  # winners were paid from the sender's deposit
        s = up.summary()
        assert s["payments"] >= 1 and s["redeemed"] >= 2


async def test_two_orchestrators_two_signers_each_registered_and_paid():
    c = cfg(orchestrators=2, signers=2, block_time=0, interval=0.2)
    async with UpStack(c) as up:
        for o in up.orchestrators:
            assert up.chain.is_active_transcoder(bytes.fromhex(o.address[2:]))
        assert len({o.address for o in up.orchestrators}) == 2 and len({s.address for s in up.signers}) == 2
        assert all(s.url.startswith("https://") and s.http_url.startswith("http://") for s in up.signers)
        runner = asyncio.create_task(up.run())
        try:
            await wait_until(lambda: {e.actor for e in kinds(up, "gateway.payment") if e.data["status"] == 200}
                             == {"gateway", "gateway2"}, timeout=60)
        finally:
            up.request_stop()
            await runner
        senders = {e.data["sender"].lower() for e in kinds(up, "orch.payment_received")}
        assert senders == {s.address.lower() for s in up.signers}
        doc = cast_document(up)
    assert [o["url"] for o in doc["orchestrators"]] == [o.url for o in up.orchestrators]
    assert doc["signer_url"] == up.signers[0].url and doc["signer_address"] == up.signers[0].address
    assert doc["eth_url"] is None and doc["backend"] == "embedded"
    assert doc["sender"] == {"address": up.signers[0].address, "deposit": c.deposit, "reserve": c.reserve}
    tok = json.loads(base64.b64decode(doc["token"]))
    assert tok == {"orchestrators": [o.url for o in up.orchestrators], "signer": up.signers[0].url}
    assert "throwaway" in doc["note"].lower()


def test_token_matches_the_sdk_parser():
    sdk = pytest.importorskip("livepeer_gateway.token")
    t = make_token(["https://127.0.0.1:8935"], "https://127.0.0.1:7936")
    assert sdk.parse_token(t) == {"orchestrators": ["https://127.0.0.1:8935"], "signer": "https://127.0.0.1:7936",
                                  "discovery": None, "signer_headers": None, "discovery_headers": None}
    assert sdk.parse_token(make_token(None, "https://s:1"))["orchestrators"] is None


def test_lpdev_toml_keys_amounts_and_errors():
    c = apply_toml(UpConfig(), {"chain": "embedded", "orchestrators": 2, "ports": {"orchestrator": 9000},
                                "sender": {"deposit": "1.5eth", "reserve": 7},
                                "orchestrator": {"ticket_ev": "2gwei", "max_face_value": "10gwei"},
                                "gateway": {"interval": 2, "type": "live", "enabled": False}}).validate()
    assert (c.chain, c.orchestrators, c.orch_port, c.deposit, c.reserve) == ("embedded", 2, 9000, 15 * 10**17, 7)
    assert (c.ticket_ev, c.max_face_value, c.interval, c.job_type, c.gateway) == (2 * 10**9, 10**10, 2.0, "live",
                                                                                   False)
    for doc, msg in [({"orchestrators": "2"}, "want an integer"), ({"sender": {"deposit": "1.5 btc"}}, "bad unit"),
                     ({"gateway": {"enabled": 1}}, "want true or false"), ({"nope": 1}, "unknown key"),
                     ({"ports": {"eth": 1.5}}, "want an integer")]:
        with pytest.raises(ConfigError, match=msg):
            apply_toml(UpConfig(), doc)
    with pytest.raises(ConfigError, match="max_face_value must be > ticket_ev"):
        UpConfig(ticket_ev=10, max_face_value=10).validate()
    with pytest.raises(ConfigError, match="choose anvil or embedded"):
        UpConfig(chain="mock").validate()


def test_log_lines_name_the_main_steps():
    from lpdev.commands.up import format_event
    from sim.events import Event
    from sim.pm.ticket import MAX_WIN_PROB

    ev = Event(1, 0.0, "gateway", "gateway.signer_reply",
               {"signer": "signer", "status": 200, "tickets": 3, "nonces": [4, 5, 6], "face_value": 5 * 10**15,
                "win_prob": MAX_WIN_PROB // 5})
    assert "signer signed 3 ticket(s) nonces 4..6, face value 0.005000 ETH, win prob 1/5" in format_event(ev)
    assert "WINNER" in format_event(Event(2, 0.0, "orch", "orch.ticket", {"won": True, "nonce": 5, "sender": "0x"}))
    assert format_event(Event(3, 0.0, "orch", "orch.ticket", {"won": False, "nonce": 5})) is None
    assert "REDEEMED" in format_event(Event(4, 0.0, "orch", "orch.redemption_mined",
                                            {"ticket_hash": "0x" + "ab" * 32, "face_value": 10**15,
                                             "tx_hash": "0x" + "cd" * 32, "gas_used": 1}))
    assert format_event(Event(5, 0.0, "orch", "orch.redemption_failed", {"retry": True})) is None
    assert format_event(Event(6, 0.0, "orch", "orch.params_issued", {})) is None
    assert "orch.params_issued" in format_event(Event(6, 0.0, "orch", "orch.params_issued", {}), verbose=True)


@pytest.mark.anvil
async def test_time_travel_controls_for_the_tui():
    from fractions import Fraction

    c = cfg(chain="anvil", block_time=0, interval=0.2)
    async with UpStack(c) as up:
        await up.start_gateways()
        g = up.gateways[0].session
        assert (await g.pay_once()).status == "paid"
        # auth token: every actor's clock moves into the token's last 180 s -> 480 -> refresh
        await up.expire_auth_token()
        out = await g.pay_once()
        assert out.refreshes == 1 and kinds(up, "gateway.refresh") and out.status in ("paid", "no_tickets"), out
        # billing undisturbed (no clock jump to pay for): paid, or 482 while the balance still covers the fee
        assert (await g.pay_once()).status in ("paid", "no_tickets")
        # params expiry: 40 blocks -> the signer sees them at once -> 480 -> refresh
        exp = up.facts()["expiration_block"]
        await up.mine_blocks(40)
        assert up.facts()["last_block"] >= exp - 1
        n = len(kinds(up, "gateway.refresh"))
        out = await g.pay_once()
        assert out.refreshes == 1 and len(kinds(up, "gateway.refresh")) == n + 1, out
        assert out.status in ("paid", "no_tickets"), out  # not stalled
        # restart: same URL, new certificate, still answers (the gateway re-pins like the SDK's TOFU retry)
        url, fp = up.orchestrators[0].url, up.orchestrators[0].server.cert.fingerprint_sha256
        assert up.facts()["pending_winners"] >= 0
        await up.restart_orchestrator()
        assert up.orchestrators[0].url == url and up.orchestrators[0].server.cert.fingerprint_sha256 != fp
        # a new secret: the session's auth token no longer verifies (what K's prediction says) -- if the signer's
        # balance did not still cover the fee (482: nothing sent to the orchestrator)
        out = await g.pay_once()
        assert out.status == "no_tickets" or (out.orch_status == 403 and "invalid auth token" in out.message), out
        await g.refresh()
        assert g.info.transcoder == url
        assert (await g.pay_once()).status in ("paid", "no_tickets")  # fresh params and token: accepted
        # price x2.5 is what GetOrchestrator quotes now
        before = g.info.price_info.pricePerUnit
        assert up.raise_price(Fraction(5, 2)) == {"orch": before * 5 // 2}
        await g.refresh()
        assert g.info.price_info.pricePerUnit == before * 5 // 2
        r0 = up.chain.current_round()
        await up.advance_round()
        assert up.chain.current_round() == r0 + 1 == up.chain.last_initialized_round()


async def test_round_initializer_catches_boundaries_crossed_by_transactions():
    # On an automining chain every transaction (a redemption, a deposit) mines a block, so a round boundary can be
    # crossed without the ticker or time travel; the stack's round initializer must still initialize the round,
    # or every redemption waits on "current round is not initialized" for good.
    c = cfg(block_time=0, gateway=False)
    async with UpStack(c) as up:
        runner = asyncio.create_task(up.run())
        try:
            r0 = up.chain.current_round()
            rl = up.chain.round_length()
            await asyncio.to_thread(up.chain.mine, rl - up.chain.last_block() % rl)  # behind the stack's back
            assert up.chain.current_round() == r0 + 1 != up.chain.last_initialized_round()
            await wait_until(lambda: up.chain.last_initialized_round() == r0 + 1, timeout=30)
        finally:
            up.request_stop()
            await runner
        inits = kinds(up, "chain.round_initialized")
        assert [(e.data["round"], e.data["ok"]) for e in inits] == [(r0 + 1, True)]


async def test_round_initializer_starts_the_next_round_when_the_chain_is_parked_on_a_round_end():
    # Transactions are simulated in the pending block: on a round's last block every redemption reverts with
    # "current round is not initialized" and is never sent, so on an automining chain no block would ever come.
    # The initializer's initializeRound is mined as the new round's first block (CI saw winners stuck here).
    c = cfg(block_time=0, gateway=False)
    async with UpStack(c) as up:
        r0, rl = up.chain.current_round(), up.chain.round_length()
        await asyncio.to_thread(up.chain.mine, rl - up.chain.last_block() % rl - 1)  # the round's last block
        assert up.chain.current_round() == r0 == up.chain.last_initialized_round()
        runner = asyncio.create_task(up.run())
        try:
            await wait_until(lambda: up.chain.last_initialized_round() == r0 + 1, timeout=30)
        finally:
            up.request_stop()
            await runner
        assert up.chain.current_round() == r0 + 1 and up.chain.last_block() % rl == 0
        inits = kinds(up, "chain.round_initialized")
        assert [(e.data["round"], e.data["ok"]) for e in inits] == [(r0 + 1, True)]


async def test_tui_live_mode_follows_the_up_stack():
    tui_app = pytest.importorskip("tui.app")
    async with UpStack(cfg(block_time=0.1, interval=0.3)) as up:
        runner = asyncio.create_task(up.run())
        app = tui_app.LpdevApp(mode="live", bus=up.bus, control=up, source_name="lpdev up (embedded)")
        try:
            async with app.run_test(size=(160, 50)) as pilot:
                await wait_until(lambda: app.model.kind_counts.get("gateway.payment", 0) >= 2, timeout=60)
                await pilot.pause()
                assert app.model.kind_counts.get("signer.payment", 0) >= 2
        finally:
            up.request_stop()
            await runner


async def test_step_mode_holds_the_gateway_until_the_key():
    """Issue 9 step mode in live mode: paused, the `lpdev up` gateway waits before its next payment; one step
    lets exactly one payment through; run lets it go."""
    from tui.control import GateAdapter

    async with UpStack(cfg(block_time=0.1, interval=0.05)) as up:
        stepper = GateAdapter(up.gate, asyncio.get_running_loop())
        stepper.pause()
        runner = asyncio.create_task(up.run())
        try:
            await wait_until(lambda: up.gate.waiting is not None, timeout=60)
            await asyncio.sleep(0.3)
            assert kinds(up, "gateway.payment") == []  # nothing paid while paused
            stepper.step()
            await wait_until(lambda: len(kinds(up, "gateway.payment")) == 1, timeout=60)
            await wait_until(lambda: up.gate.waiting is not None, timeout=60)
            await asyncio.sleep(0.3)
            assert len(kinds(up, "gateway.payment")) == 1  # exactly one step's worth
            stepper.run()
            await wait_until(lambda: len(kinds(up, "gateway.payment")) >= 3, timeout=60)
        finally:
            up.request_stop()
            await runner


async def test_up_serves_its_events_for_tui_attach(tmp_path):
    """`lpdev up --serve-events`: another process follows the stack with `lpdev tui --attach URL`."""
    from tui.feed import fetch_events, serve

    async with UpStack(cfg(block_time=0.1, interval=0.2)) as up:
        runner_task = asyncio.create_task(up.run())
        feed, url = await serve(up.bus, "127.0.0.1", 0)
        try:
            await wait_until(lambda: len(kinds(up, "gateway.payment")) >= 1, timeout=60)
            evs = await fetch_events(url)
            assert any(e.kind == "gateway.payment" for e in evs)
        finally:
            await feed.cleanup()
            up.request_stop()
            await runner_task
