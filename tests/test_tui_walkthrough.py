"""The walkthrough tours run their library scenarios on the real stack (remote signer, orchestrator, scripted
gateway, mock chain) and explain each step with numbers taken from that run's events — never typed in."""
from __future__ import annotations

import argparse

import pytest

from stack.scenario.model import load_scenario
from tests.tui_snapshot_app import SIZE, walk
from tui.app import LpdevApp
from tui.walkthroughs import all_scripts, exact_wei, get_script, nonces, script_for_scenario, wei
from tui.widgets.narrative import Narrative


async def _tour(name: str, *, walkthrough: bool = True) -> tuple[LpdevApp, list, list[str]]:
    """Run a tour to its end with the n key; return the app, the run's events and the page shown after each
    step (page k explains step k; the last page also has the finale)."""
    app = LpdevApp.scenario(name, walkthrough=walkthrough)
    async with app.run_test(size=SIZE) as pilot:
        total = len(app.yaml[0].steps)
        await walk(pilot, total)
        assert app.summary is not None and app.summary["passed"], app.summary
        if walkthrough:  # the last page is longer than the panel: r reads on, then back to the top
            narrative = app.query_one(Narrative)
            assert narrative.scroll_y == 0 and narrative.max_scroll_y > 0
            await pilot.press("r")
            await pilot.pause()
            assert narrative.scroll_y > 0
    pages = [md for progress, md in app.lessons]
    assert len(pages) == total + 1  # the intro, then one page per step
    return app, list(app.scenario_run.events), pages


def _data(events, kind, **match) -> list[dict]:
    return [e.data for e in events if e.kind == kind and all(e.data.get(k) == v for k, v in match.items())]


def test_every_tour_explains_each_step_of_its_scenario():
    scripts = all_scripts()
    assert {s.name for s in scripts} >= {"happy-path", "param-expiry", "winning-ticket"}
    for s in scripts:
        sc = s.load_scenario()  # raises if the tour and its scenario disagree on the number of steps
        assert s.path.name == f"{s.scenario}.yaml" and sc.name == s.scenario
        assert all(st.name for st in sc.steps), f"{sc.name}: every step needs a name: (its title in the tour)"
        assert script_for_scenario(s.scenario) is s


def test_a_tour_that_disagrees_with_its_scenario_is_refused():
    from dataclasses import replace

    s = get_script("winning-ticket")
    with pytest.raises(ValueError, match="explains 2 steps"):
        replace(s, steps=s.steps[:2]).load_scenario()


async def test_happy_path_tour_quotes_the_runs_preload_nonces_and_fee():
    app, events, pages = await _tour("happy-path")
    info = _data(events, "gateway.orchestrator_info")[0]
    first, second = _data(events, "signer.payment")[:2]
    # step 1: the orchestrator's price and params, as GetOrchestrator returned them
    assert f"**{info['price_per_unit']:,} wei per {info['pixels_per_unit']} pixels**" in pages[1]
    assert f"expire at block **{info['expiration_block']}**" in pages[1]
    assert wei(_data(events, "orch.params_issued")[0]["ev"]) in pages[1]
    # step 2: 60 s preloaded, the fee, the tickets and nonce 1 first
    assert first["billable_secs"] == 0 and "preloads 60 s" in pages[2]
    assert f"**{first['units']:,} pixels**" in pages[2] and first["units"] == 60 * 1280 * 720 * 30
    assert f"fee** = pixels × price (120000000/7 wei per pixel) = {wei(first['fee'])}" in pages[2]
    assert wei(first["fee"]) == "≈0.02844 ETH"  # for people; the exact fraction is one key (x) away
    assert first["nonce_first"] == 1
    assert f"Their nonces are **1–{first['nonce_last']}**" in pages[2]
    assert f"ceil(fee ÷ EV) = **{first['tickets']}**" in pages[2]
    assert f"tickets × EV − fee = {wei(first['balance_after'])}, exactly {exact_wei(first['balance_after'])}" \
        in pages[2] and "fraction" in pages[2]
    won = [d["nonce"] for d in _data(events, "orch.ticket", won=True)]
    assert f"**{len(won)} won** (nonce {', '.join(map(str, won))})" in pages[2]
    # step 3: 5 s later, billed since LastUpdate at the initial price, nonces restart under the new params
    assert f"**{second['billable_secs']:g} s** → {second['units']:,} pixels → fee {wei(second['fee'])}" in pages[3]
    assert nonces(second["nonce_first"], second["nonce_last"]) in pages[3] and second["nonce_first"] == 1
    assert f"SequenceNumber is now {second['state']['SequenceNumber']}" in pages[3]
    # the end: the runner settled; the winner's redemption is the chain's own
    mined = _data(events, "orch.redemption_mined")
    assert mined and f"`{mined[0]['tx_hash']}`" in pages[4] and f"gas used {mined[0]['gas_used']:,}" in pages[4]
    assert "✓ every payment accepted" in pages[4] and "✗" not in pages[4]


async def test_param_expiry_tour_quotes_the_blocks_the_480_and_the_new_expiration():
    app, events, pages = await _tour("param-expiry")
    held = _data(events, "orch.params_issued")[1]  # the first /payment reply: the params the gateway holds
    block = _data(events, "stack.chain", op="mine")[0]["to_block"]
    assert f"expire at block **{held['expiration_block']}**" in pages[2]
    assert f"The chain is at block **{block}**" in pages[3]
    assert f"expiration − last block = **{held['expiration_block'] - block}**" in pages[3]
    assert held["expiration_block"] - block == 1 and "will get **480**" in pages[3]
    rejected = _data(events, "signer.payment.rejected")
    assert len(rejected) == 1 and rejected[0]["status"] == 480
    assert "**480 refresh session for remote signer**" in pages[4]
    assert f"they expire at block {held['expiration_block']}, the chain is at {block}" in pages[4]
    fresh = _data(events, "gateway.orchestrator_info", refresh=True)[0]
    assert fresh["expiration_block"] == block + 40
    assert f"New params expire at block **{fresh['expiration_block']}**" in pages[4]
    retry = _data(events, "signer.payment")[1]
    assert retry["recipient_rand_hash"] == fresh["recipient_rand_hash"] and retry["nonce_first"] == 1
    assert nonces(1, retry["nonce_last"]) in pages[4]


async def test_winning_ticket_tour_shows_the_real_redemptions_and_the_deposit():
    app, events, pages = await _tour("winning-ticket")
    p = _data(events, "orch.params_issued")[0]
    assert "win prob is **1 in 4.0**" in pages[1] and f"face value at {wei(p['face_value'])}" in pages[1]
    won = [d["nonce"] for d in _data(events, "orch.winner_stored")]
    assert len(won) == 2 and f"**{len(won)}** won (nonce {', '.join(map(str, won))})" in pages[2]
    mined = _data(events, "orch.redemption_mined")
    assert len(mined) == 2
    for d, nonce in zip(mined, won):
        assert f"nonce {nonce}: tx `{d['tx_hash']}`, gas used **{d['gas_used']:,}**" in pages[3]
    funds = _data(events, "orch.sender_funds")
    assert funds[0]["deposit"] - funds[-1]["deposit"] == sum(d["amount_paid"] for d in mined)
    assert f"{wei(funds[0]['deposit'])} → {wei(funds[-1]['deposit'])}" in pages[3]
    assert f"The chain reached block **{_data(events, 'orch.chain')[-1]['block']}**" in pages[3]
    # the tickets tab shows the same transactions
    rows = app.model.ticket_rows(winners_only=True, limit=10)
    assert {(r.nonce, r.redeemed_tx, r.gas_used) for r in rows} == {
        (n, d["tx_hash"], d["gas_used"]) for n, d in zip(won, mined)}


async def test_scenario_mode_runs_a_tour_one_step_per_key_without_narrative():
    app = LpdevApp.scenario("param-expiry")
    async with app.run_test(size=SIZE) as pilot:
        await walk(pilot, 0)
        assert app.mode == "scenario" and not app.query(Narrative)
        assert app.model.kind_counts.get("signer.payment", 0) == 0  # nothing paid before the key
        await walk(pilot, 0)
        waiting = app.stepper.waiting
        await pilot.press("n")
        from tests.tui_snapshot_app import wait_for_gate

        await wait_for_gate(pilot, waiting[0])
        assert app.stepper.waiting[0] == 1 and app.model.kind_counts.get("signer.payment", 0) == 0
        await pilot.press("space")  # run the rest
        await wait_for_gate(pilot, None)
        for _ in range(200):
            if app.summary is not None:
                break
            await pilot.pause(0.05)
        assert app.summary is not None and app.summary["passed"]
        app.drain()
        assert app.model.status_counts.get(480) == 1  # the expired params were refreshed
        assert "PASS" in app.conn_state
    # space ran steps 2-5 without stopping: the last page explains each of them, in order, from its own events
    last = app.lesson[1]
    heads = ["## A session is paying", "## 39 blocks later", "## 480: refresh session", "## Business as usual",
             "## Settled"]
    assert [last.index(h) for h in heads] == sorted(last.index(h) for h in heads)
    assert app.lesson[0] == "step 5/5 — pay again"


def test_walkthrough_command_maps_a_tour_scenario_to_its_tour(monkeypatch, capsys):
    from lpdev.commands import walkthrough

    started = []
    monkeypatch.setattr(LpdevApp, "run", lambda self: started.append(self))
    base = dict(list=False, chain=None, seed=None, screenshot_dir=None, web=False)
    assert walkthrough.run(argparse.Namespace(name="tour-winning-ticket", **base)) == 0
    assert started[-1].script.name == "winning-ticket" and started[-1].mode == "walkthrough"
    assert walkthrough.run(argparse.Namespace(name="happy-path-lv2v", **base)) == 0
    assert started[-1].script is None and started[-1].yaml[0].name == "happy-path-lv2v"
    from lpdev.cli import build_parser

    assert build_parser().parse_args(["walkthrough"]).name == "happy-path"  # no NAME: the first tour
    assert walkthrough.run(argparse.Namespace(**{**base, "list": True}, name="happy-path")) == 0
    out = capsys.readouterr().out
    assert "happy-path" in out and "scenario tour-param-expiry" in out


def test_tour_scenarios_are_library_scenarios():
    for s in all_scripts():
        sc = load_scenario(s.path)
        assert sc.stack.chain == "mock" and sc.stack.seed is not None  # same story every run


def test_wei_in_prose_is_rounded_exactly_never_through_a_float():
    from fractions import Fraction

    from tui.explain import wei as explain_wei

    fee = Fraction(199065600000000000, 7)  # the happy-path tour's preload fee: 28,437,942,857,142,857.142857… wei
    assert wei(fee) == explain_wei(fee) == "≈0.02844 ETH"
    assert exact_wei(fee) == "199065600000000000/7 wei"
    assert wei(10**17) == "0.1 ETH" and wei(Fraction(-1, 3)) == "≈-0.3333 wei" and wei(None) == "—"
