"""The `lpdev up` stack in process (stack.stack.Stack with the LIVE policy): the scripted gateway's payments flow end to end —
tickets credited, winners stored, redeemed on chain once their params expire (block ticker); the embedded chain;
several orchestrators and signers; the cast document and token; lpdev.toml loading; the log lines; the TUI's
time-travel controls and live mode."""
from __future__ import annotations

import asyncio
import base64
import json

import pytest

from stack.cast import cast_document, make_token
from stack.policy import LIVE
from stack.stack import Stack
from tests.stacks import up_spec


def cfg(**kw):
    return up_spec(**kw)


def UpStack(spec):  # noqa: N802 - what `lpdev up` runs
    return Stack(spec, LIVE)


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
        orch = up.orchestrators["orch"]
        assert up.chain.pending_fees(bytes.fromhex(orch.address[2:])) >= len(mined) * 10**15 // 2
        info = up.chain.sender_info(bytes.fromhex(up.signers["signer"].address[2:]))
        assert info.deposit < c.deposit  # winners were paid from the sender's deposit
        s = up.summary()
        assert s["payments"] >= 1 and s["redeemed"] >= 2


async def test_two_orchestrators_two_signers_each_registered_and_paid():
    c = cfg(orchestrators=2, signers=2, block_time=0, interval=0.2)
    async with UpStack(c) as up:
        for o in up.orchestrators.values():
            assert up.chain.is_active_transcoder(bytes.fromhex(o.address[2:]))
        assert len({o.address for o in up.orchestrators.values()}) == 2 and len({s.address for s in up.signers.values()}) == 2
        assert all(s.url.startswith("https://") and s.http_url.startswith("http://") for s in up.signers.values())
        runner = asyncio.create_task(up.run())
        try:
            await wait_until(lambda: {e.actor for e in kinds(up, "gateway.payment") if e.data["status"] == 200}
                             == {"gateway", "gateway2"}, timeout=60)
        finally:
            up.request_stop()
            await runner
        senders = {e.data["sender"].lower() for e in kinds(up, "orch.payment_received")}
        assert senders == {s.address.lower() for s in up.signers.values()}
        doc = cast_document(up)
    assert [o["url"] for o in doc["orchestrators"]] == [o.url for o in up.orchestrators.values()]
    assert doc["signer_url"] == up.signers["signer"].url and doc["signer_address"] == up.signers["signer"].address
    assert doc["eth_url"] is None and doc["backend"] == "embedded"
    assert doc["sender"] == {"address": up.signers["signer"].address, "deposit": c.deposit, "reserve": c.reserve}
    tok = json.loads(base64.b64decode(doc["token"]))
    assert tok == {"orchestrators": [o.url for o in up.orchestrators.values()], "signer": up.signers["signer"].url}
    assert "throwaway" in doc["note"].lower()


def test_token_matches_the_sdk_parser():
    import livepeer_gateway.token as sdk
    t = make_token(["https://127.0.0.1:8935"], "https://127.0.0.1:7936")
    assert sdk.parse_token(t) == {"orchestrators": ["https://127.0.0.1:8935"], "signer": "https://127.0.0.1:7936",
                                  "discovery": None, "signer_headers": None, "discovery_headers": None}
    assert sdk.parse_token(make_token(None, "https://s:1"))["orchestrators"] is None


def _toml(tmp_path, text: str):
    from stack.spec import UP_DEFAULTS, SpecParser, load_toml_lines, parse_spec

    f = tmp_path / "lpdev.toml"
    f.write_text(text)
    return parse_spec(load_toml_lines(text, str(f)), SpecParser(str(f)), base=UP_DEFAULTS, what="lpdev.toml"), f


def test_lpdev_toml_keys_amounts_and_errors(tmp_path):
    from stack.yamlines import ScenarioError

    c, _ = _toml(tmp_path, 'chain = "embedded"\norchestrators = 2\n[ports]\norchestrator = 9000\n'
                           '[sender]\ndeposit = "1.5eth"\nreserve = 7\n'
                           '[orchestrator]\nticket_ev = "2gwei"\nmax_face_value = "10gwei"\n'
                           '[gateway]\ninterval_s = 2\ntype = "live"\n')
    assert (c.chain, len(c.orchestrators), c.orch_port, c.deposit, c.reserve) == ("embedded", 2, 9000, 15 * 10**17, 7)
    o = c.orchestrators[1]
    assert (o.name, o.account, o.ticket_ev, o.max_face_value) == ("orch2", "orchestrator2", 2 * 10**9, 10**10)
    assert [(g.name, g.interval_s, g.type, g.signers, g.orchestrator) for g in c.gateways] == [
        ("gateway", 2.0, "live", ["signer"], "orch"), ("gateway2", 2.0, "live", ["signer"], "orch2")]
    off, _ = _toml(tmp_path, "[gateway]\nenabled = false\n")
    assert off.gateways == []
    # every bad value is one line naming the file, the line and the field
    for text, line, msg in [
            ('orchestrators = "two"\n', 1, "lpdev.toml.orchestrators (a number or a list): expected an integer"),
            ("orchestrators = 5\n", 1, "expected an integer <= 4"),
            ('[sender]\n\ndeposit = "1.5 btc"\n', 3, "lpdev.toml.deposit: bad unit 'btc'"),
            ("[gateway]\nenabled = 1\n", 2, "lpdev.toml.gateway.enabled: expected true or false"),
            ("nope = 1\n", 1, "lpdev.toml: unknown key 'nope'"),
            ("[ports]\neth = 1.5\n", 2, "lpdev.toml.ports.eth: expected an integer"),
            ("[chain]\nblock_time = nan\n", 2, "nan is not a number lpdev accepts (NaN or infinity)"),
            ("[chain]\nblock_time = -1\n", 2, "lpdev.toml.block_time: expected a non-negative finite number"),
            ('[orchestrator]\nticket_ev = 10\nmax_face_value = 10\n', 3, "max_face_value: must be > ticket_ev"),
            ('chain = "ganache"\n', 1, "lpdev.toml.chain: unknown chain backend 'ganache'"),
            ('[[orchestrators]]\nname = "a"\n[[orchestrators]]\nname = "a"\n', 4, "duplicate name 'a'"),
            ("[gateway\n", 1, "invalid TOML"),
            ("a = [" * 100 + "\n", 1, "nested deeper than 64 levels"),
            ("seed = " + "9" * 500 + "\n", 1, "number with 500 digits")]:
        with pytest.raises(ScenarioError) as ei:
            _toml(tmp_path, text)
        assert str(ei.value).startswith(f"{tmp_path / 'lpdev.toml'}:{line}: ") and msg in str(ei.value), \
            (text, str(ei.value))


def test_toml_and_yaml_are_two_spellings_of_one_spec(tmp_path):
    """The same stack written as a scenario's `stack:` section and as lpdev.toml gives the same spec."""
    from stack.spec import SpecParser, load_toml_lines, parse_spec
    from stack.yamlines import load_yaml

    yaml_text = ("chain: mock\nseed: 4\nround_length: 120\nsigner: {max_ticket_ev: 1000}\n"
                 "signers: [{name: a}, {name: b, account: sender2}]\n"
                 "orchestrators: [{name: o, price_per_unit: 10, faults: {delay_s: 1}}]\n"
                 "gateways: [{name: g, signers: [a, b], orchestrator: o, type: fixed}]\n")
    toml_text = ('chain = "mock"\nseed = 4\nround_length = 120\n[signer]\nmax_ticket_ev = 1000\n'
                 '[[signers]]\nname = "a"\n[[signers]]\nname = "b"\naccount = "sender2"\n'
                 '[[orchestrators]]\nname = "o"\nprice_per_unit = 10\nfaults = {delay_s = 1}\n'
                 '[[gateways]]\nname = "g"\nsigners = ["a", "b"]\norchestrator = "o"\ntype = "fixed"\n')
    a = parse_spec(load_yaml(yaml_text, "s.yaml"), SpecParser("s.yaml"))
    b = parse_spec(load_toml_lines(toml_text, "s.toml"), SpecParser("s.toml"))
    assert a == b
    assert [s.max_ticket_ev for s in a.signers] == [1000, 1000] and a.signers[1].account == "sender2"


def test_log_lines_name_the_main_steps():
    from lpdev.commands.up import format_event
    from sim.events import Event
    from sim.pm.ticket import MAX_WIN_PROB

    ev = Event(1, 0.0, "gateway", "gateway.signer_reply",
               {"signer": "signer", "status": 200, "tickets": 3, "nonces": [4, 5, 6], "face_value": 5 * 10**15,
                "win_prob": MAX_WIN_PROB // 5})
    assert "signer signed 3 ticket(s) nonces 4..6, face value 0.005000 ETH, win prob 1/5" in format_event(ev)
    assert "WINNER: ticket nonce 5 from 0x3c44cddd…, manifest m1 won" in format_event(
        Event(2, 0.0, "orch", "orch.ticket", {"won": True, "nonce": 5, "sender": "0x" + "3c44cddd" * 5,
                                              "manifest_id": "m1"}))
    # an SDK job is visible: who paid, for which manifest, the job's start and stop
    assert "credited 0.001000 ETH for 1 ticket(s) from 0x3c44cddd…, manifest m1; balance 0.000333 ETH" in \
        format_event(Event(7, 0.0, "orch", "orch.credit", {"amount": "1000000000000000", "tickets": 1,
                                                          "sender": "0x" + "3c44cddd" * 5, "manifest_id": "m1",
                                                          "balance": "1000000000000000/3"}))
    assert "live-video-to-video job m1 (noop) started for 0x3c44cddd…" in format_event(
        Event(8, 0.0, "orch", "orch.lv2v_started", {"manifest_id": "m1", "model_id": "noop", "balance": 0,
                                                    "sender": "0x" + "3c44cddd" * 5, "interval_s": 5}))
    assert "job m1 stopped: input closed (3 segment(s), 1 debit(s))" in format_event(
        Event(9, 0.0, "orch", "orch.lv2v_stopped", {"manifest_id": "m1", "reason": "input closed", "segments": 3,
                                                    "debits": 1}))
    assert format_event(Event(10, 0.0, "gateway", "gateway.payment", {"status": 200, "tickets": 1})) is None
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
        g = up.gateways["gateway"]
        await g.start()
        assert (await g.pay_once()).status == "paid"
        # auth token: the gateways' tokens are put into their last 180 s (clocks do not move) -> 480 -> refresh
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
        url, fp = up.orchestrators["orch"].url, up.orchestrators["orch"].server.cert.fingerprint_sha256
        await up.restart_orchestrator()
        assert up.orchestrators["orch"].url == url and up.orchestrators["orch"].server.cert.fingerprint_sha256 != fp
        # a new secret: the session's auth token no longer verifies (what K's prediction says). While the signer's
        # balance still covers the fee it answers 482 and nothing reaches the orchestrator: wait (wall clock) until
        # the gateway has to send tickets
        deadline = asyncio.get_running_loop().time() + 30
        out = await g.pay_once()
        while out.status == "no_tickets" and asyncio.get_running_loop().time() < deadline:
            await asyncio.sleep(0.5)
            out = await g.pay_once()
        assert out.orch_status == 403 and "invalid auth token" in out.message, out
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
        inits = [e for e in kinds(up, "stack.chain") if e.data.get("op") == "initialize_round"]
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
        inits = [e for e in kinds(up, "stack.chain") if e.data.get("op") == "initialize_round"]
        assert [(e.data["round"], e.data["ok"]) for e in inits] == [(r0 + 1, True)]


async def test_tui_live_mode_follows_the_up_stack(monkeypatch):
    """What `lpdev up` on a terminal runs (`_run_tui`): the live TUI on the stack's bus, the stack's loops beside
    it, the cast tab showing this stack's token; quitting the TUI stops the stack. Only the terminal is swapped
    for Textual's headless driver."""
    from lpdev.commands.up import _run_tui
    from tui.app import LpdevApp

    seen: dict = {}

    async def drive(pilot):
        app = pilot.app
        await wait_until(lambda: app.model.kind_counts.get("gateway.payment", 0) >= 2, timeout=60)
        assert app.model.kind_counts.get("signer.payment", 0) >= 2
        await pilot.press("4")  # the cast tab: URLs, keys, token, SDK commands of this stack
        await pilot.pause()
        seen["cast"] = app.cast
        await pilot.press("q")

    orig = LpdevApp.run_async

    async def headless(self, **_kw):
        return await orig(self, headless=True, size=(160, 50), auto_pilot=drive)

    monkeypatch.setattr(LpdevApp, "run_async", headless)
    async with UpStack(cfg(block_time=0.1, interval=0.3)) as up:
        doc = cast_document(up)
        app_ref: dict = {}
        code = await asyncio.wait_for(_run_tui(up, doc, app_ref), 120)
        assert code == 0 and isinstance(app_ref.get("app"), LpdevApp)
        assert seen["cast"] is doc and doc["token"]


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


async def test_two_signer_dialects_side_by_side_in_one_live_stack():
    """Per-signer `profile` in the spec: a go-livepeer and a livepeer-node signer in one `lpdev up` stack; the node
    signer serves its health endpoints on their own port, and the cast names each profile."""
    import aiohttp

    from stack.spec import UP_DEFAULTS, SpecParser, parse_spec

    spec = parse_spec({"chain": "mock", "ports": {"eth": 0, "signer": 0, "orchestrator": 0, "orchestrator_http": 0},
                       "gateway": {"enabled": False},
                       "signers": [{"name": "go", "profile": "go-livepeer"},
                                   {"name": "node", "profile": "livepeer-node", "account": "sender2",
                                    "wei_per_usd": "1000000000000000/3"}]},
                      SpecParser("<test>"), base=UP_DEFAULTS)
    async with Stack(spec, LIVE) as up:
        doc = cast_document(up)
        assert [(s["name"], s["profile"]) for s in doc["signers"]] == [("go", "go-livepeer"),
                                                                       ("node", "livepeer-node")]
        assert doc["signers"][0]["metrics_url"] is None and doc["signers"][1]["metrics_url"]
        async with aiohttp.ClientSession() as http:
            async with http.get(doc["signers"][1]["metrics_url"] + "/healthz") as r:
                assert r.status == 200
        started = {e.actor: e.data["profile"] for e in kinds(up, "signer.started")}
        assert started == {"go": "go-livepeer", "node": "livepeer-node"}


def test_signer_profile_flag_and_spec_errors(tmp_path, monkeypatch):
    from lpdev.cli import UsageError, build_parser
    from lpdev.commands.up import build_config

    monkeypatch.chdir(tmp_path)
    p = build_parser()
    spec = build_config(p.parse_args(["up", "--signers", "2", "--signer-profile", "livepeer-node"]))[0]
    assert [s.profile for s in spec.signers] == ["livepeer-node", "livepeer-node"]
    with pytest.raises(UsageError, match="--signer-profile 'go-livepeer@9': choose one of go-livepeer"):
        build_config(p.parse_args(["up", "--signer-profile", "go-livepeer@9"]))
    (tmp_path / "lpdev.toml").write_text('[[signers]]\nname = "s"\nprofile = "nodee"\n')
    with pytest.raises(UsageError, match=r"lpdev.toml:3: lpdev.toml.signers\[0\].profile: unknown signer profile"):
        build_config(p.parse_args(["up"]))


async def test_live_stack_runs_dev_runners_and_its_discovery_lists_them():
    """`lpdev up` starts dev runners that register over heartbeats with the orchestrator secret; the orchestrator's
    /discovery (plain-HTTP entry) lists them, priced in wei through the chain's ETH/USD feed, and the cast names
    the secret, the entry and each runner."""
    import aiohttp

    from stack.spec import SpecParser, UP_DEFAULTS, parse_spec

    spec = parse_spec({"chain": "mock", "ports": {"eth": 0, "signer": 0, "orchestrator": 0, "orchestrator_http": 0},
                       "gateway": {"enabled": False}, "runners": ["echo", "noop:0.36"]},
                      SpecParser("<test>"), base=UP_DEFAULTS)
    async with Stack(spec, LIVE) as up:
        doc = cast_document(up)
        o = doc["orchestrators"][0]
        assert o["orch_secret"] == "abcdef" and o["http_url"].startswith("http://")
        assert [(r["name"], r["kind"], r["price_usd"]) for r in doc["runners"]] == [("echo", "echo", "0"),
                                                                                    ("noop", "noop", "0.36")]
        async with aiohttp.ClientSession() as http:
            async with http.get(o["discovery_url"]) as r:
                assert r.status == 200
                listed = (await r.json())[0]["runners"]
        by_app = {x["app"]: x for x in listed}
        assert set(by_app) == {"lpdev/echo", "lpdev/noop"}
        assert "price_info" not in by_app["lpdev/echo"]  # free
        assert by_app["lpdev/noop"]["price_info"]["currency"] == "wei" and by_app["lpdev/noop"]["price_info"]["price"] > 0
        assert all(u["url"].startswith(o["http_url"]) for u in listed)
    assert up.runners == {}  # stopped with the stack
