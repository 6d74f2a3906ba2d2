"""The TUI is readable at 80x24, 120x40 and 160x50 (issue 16, item 8): no essential field is cut.

For the live view, a walkthrough step and the payment inspector (the same frames as the snapshots in
tests/test_tui_snapshots.py) the screen's text is read back and checked:

- every nonce range on screen is whole (``n43–45``, ``nonces 43–45``), and every ``nonce`` has its number;
- every amount on screen is whole: a number with its unit (``≈23.7 gwei``), never ``≈23.`` or ``orchestrat ◀``;
- the status of every payment row on screen is visible, and the selected payment's nonce range, status and amounts
  appear in full, exactly as ``format_wei`` / the events say;
- amounts read as ETH / gwei, never as raw wei with a dozen digits; the x key shows the exact wei.
"""
from __future__ import annotations

import re

import pytest

from sim.pm.money import format_wei, rat_string
from tests.tui_snapshot_app import FRAMES, SIZES, no_blink, wait_for_gate
from tui.model import as_fraction, nonce_range, pick
from tui.widgets.inspector import _winprob

AMOUNT = r"-?[\d,]+(?:\.\d+)?"
UNIT = r"(?:ETH|gwei|wei)"


async def screen_text(frame: str, size: tuple[int, int]) -> tuple[list[str], object]:
    """The screen's lines after the frame's keys, as the user sees them, and the app."""
    factory, keys, run_before, _ = FRAMES[frame]
    app = factory()
    async with app.run_test(size=size) as pilot:
        await (run_before or no_blink)(pilot)
        if keys:
            await pilot.press(*keys)
        await pilot.pause()
        lines = [strip.text for strip in app.screen._compositor.render_strips()]
        if app.w_narrative is not None:  # prose wraps where it likes: check the data views left of it
            x, top = app.w_narrative.region.x, app.w_narrative.region.y
            lines = lines[:top] + [ln[:x] for ln in lines[top:]]
        if app.yaml is not None:  # a tour: let its scenario run to the end, so its stack closes cleanly
            await pilot.press("space")
            await wait_for_gate(pilot, None)
        return lines, app


def cut_problems(lines: list[str]) -> list[str]:
    """Anything on screen that looks cut: a nonce range without its end, a nonce without its number, an amount
    without its unit, a number followed by an ellipsis, a lane title cut short."""
    problems = []
    for ln in lines:
        for pat, what in (
            (r"\bn\d+–(?!\d)", "nonce range without its end"),
            (r"\bnonces? (?!\d|—|\(|[a-z])", "nonce without its number"),
            (r"\bnonce$", "nonce without its number"),
            (rf"≈(?>{AMOUNT})(?! ?{UNIT}\b)", "amount without its unit"),  # atomic: no backtracking into it
            (r"(?<![\w.])[\d,.]+…", "number cut with …"),
            (r"orchestrat(?!or)", "lane title cut"),
        ):
            if re.search(pat, ln):
                problems.append(f"{what}: {ln.strip()!r}")
    return problems


def raw_wei(lines: list[str]) -> list[str]:
    """Amounts shown as long raw wei (what issue 16 complained about: ``≈28,437,942,857,142,857.143 wei``)."""
    return [ln.strip() for ln in lines if re.search(r"\d{1,3}(?:,\d{3}){4,}(?:\.\d+)? wei", ln)]


def _payment_rows(app) -> list:
    return [r for r in app.w_timeline._rows.values() if r.kind == "signer.payment"]


@pytest.mark.parametrize("size", list(SIZES))
async def test_live_view_shows_whole_nonce_ranges_statuses_and_amounts(size):
    lines, app = await screen_text(f"live-{size}", SIZES[size])
    text = "\n".join(lines)
    assert cut_problems(lines) == [] and raw_wei(lines) == []
    on_screen = {r.seq: ln for r in _payment_rows(app) for ln in lines if re.match(rf"\s*{r.seq}\s", ln)}
    assert on_screen, "the live view shows payments"
    for seq, line in on_screen.items():  # each payment row on screen: its nonce range and status, in full
        first, last = nonce_range(app.w_timeline._rows[seq].ev.data)
        shown = f"n{first}–{last}" if last != first else f"n{first}"  # one ticket: its one nonce
        assert re.search(rf"{shown}(\s|$)", line) and " 200" in line, line
    # the inspector: the selected payment, whole
    p = app.model.payment_for(app.w_timeline._rows[max(app.w_timeline._rows)])
    d = p.signer
    first, last = nonce_range(d)
    assert f"nonces {first}–{last}" in text and "status 200" in text
    assert f"{format_wei(pick(d, 'fee'))}  (units × initial price)" in text
    assert f"{format_wei(pick(d, 'balance_before'))} → {format_wei(pick(d, 'balance_after'))}" in text
    assert f"× win prob {_winprob(p.get('win_prob'))}" in text and re.search(r"1 in [\d,.]+", text)


@pytest.mark.parametrize("size", list(SIZES))
async def test_walkthrough_step_is_readable(size):
    lines, app = await screen_text(f"walkthrough-{size}", SIZES[size])
    text = "\n".join(lines)
    assert cut_problems(lines) == [] and raw_wei(lines) == []
    assert "WALKTHROUGH" in text and "n runs it, space runs all" in text
    tickets = [r for r in app.w_timeline._rows.values() if r.kind == "orch.ticket"]
    shown = [r for r in tickets if any(re.match(rf"\s*{r.seq}\s", ln) for ln in lines)]
    assert shown, "ticket rows are on screen"
    for r in shown:
        line = next(ln for ln in lines if re.match(rf"\s*{r.seq}\s", ln))
        assert f"nonce {r.ev.data['nonce']}" in line, line
        assert ("WIN" in line) == bool(r.ev.data.get("won")), line
    # the narrative quotes the fee for people, not as raw wei
    fee = next(pick(e.data, "fee") for e in app.scenario_run.events if e.kind == "signer.payment")
    assert format_wei(fee) == "≈0.02844 ETH"
    if size != "80x24":  # at 80x24 the page starts above its fee; r reads on
        assert "≈0.02844" in text


@pytest.mark.parametrize("size", list(SIZES))
async def test_inspector_shows_the_payment_whole(size):
    lines, app = await screen_text(f"inspector-{size}", SIZES[size])
    text = "\n".join(lines)
    assert cut_problems(lines) == [] and raw_wei(lines) == []
    row = app.w_timeline._rows[max(app.w_timeline._rows)]
    assert row.kind == "signer.payment"
    d = app.model.payment_for(row).signer
    first, last = nonce_range(d)
    for expected in (f"nonces {first}–{last}", "status 200",
                     f"{format_wei(pick(d, 'fee'))}  (units × initial price)",
                     f"{format_wei(pick(d, 'balance_before'))} → {format_wei(pick(d, 'balance_after'))}"):
        assert expected in text, (expected, text)


async def test_x_shows_exact_wei_and_back():
    from tests.tui_snapshot_app import live_app

    app = live_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        d = app.model.payment_for(app.w_timeline._rows[max(app.w_timeline._rows)]).signer
        exact_fee = f"{rat_string(as_fraction(pick(d, 'fee')))} wei"  # the exact fraction
        assert exact_fee not in app.w_inspector.plain()
        await pilot.press("x")
        await pilot.pause()
        assert exact_fee in app.w_inspector.plain() and "amounts in exact wei" in app.w_inspector.plain()
        screen = [s.text for s in app.screen._compositor.render_strips()]
        assert cut_problems(screen) == []  # long exact fractions wrap; none is cut with …
        await pilot.press("x")
        assert exact_fee not in app.w_inspector.plain() and format_wei(pick(d, "fee")) in app.w_inspector.plain()


async def test_cast_tab_shows_the_stack_cast():
    from tests.tui_snapshot_app import CAST, live_app

    app = live_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press("4")
        await pilot.pause()
        screen = "\n".join(s.text for s in app.screen._compositor.render_strips())
        for must in (CAST["orchestrators"][0]["url"], CAST["signer_url"], CAST["token"][:60]):
            assert must in screen, must  # the first things a newcomer needs, without scrolling
        from rich.console import Console

        from tui.widgets.cast import cast_renderable

        console = Console(width=116, record=True, color_system=None)
        with console.capture() as cap:
            console.print(cast_renderable(app.cast))
        whole = cap.get()
        for must in (CAST["eth_url"], CAST["controller"], CAST["sender"]["address"], "deposit 100 ETH",
                     "ev 0.001 ETH", CAST["accounts"][0]["private_key"], CAST["sdk_commands"][0], CAST["note"]):
            assert must in whole, must


async def test_no_cast_tab_without_a_cast():
    from tests.tui_snapshot_app import replay_app

    app = replay_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press("4")
        await pilot.pause()
        assert app.w_tabs.active != "cast" and "4 cast" not in "\n".join(
            s.text for s in app.screen._compositor.render_strips())


def test_cut_detector_catches_what_issue_16_showed():
    assert cut_problems(["ticket nonce │"]) and cut_problems(["orchestrat ◀"]) and cut_problems(["n40–4"]) == []
    assert cut_problems(["◀ payment 200 3tkt n40–"]) and cut_problems(["fee ≈23."]) and cut_problems(["≈0.02844"])
    assert raw_wei(["≈28,437,942,857,142,857.143 wei"])
    assert cut_problems(["tickets  3   nonces 43–45", "fee ≈23.7 gwei", "received nonce 40"]) == []


async def test_narrative_stops_asking_for_n_once_space_runs_the_rest():
    """After space the steps run on their own: no page may still say "Press n" (issue 16, item 8)."""
    from tests.tui_snapshot_app import walkthrough_app

    app = walkthrough_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_for_gate(pilot)
        assert "Press **n**" in app.lesson[1]  # at the intro, n is the way on
        shown = len(app.lessons)
        await pilot.press("space")
        await wait_for_gate(pilot, None)  # the run ends (on the mock chain's virtual clock, at once)
        assert app.summary is not None
        assert "Running the remaining steps" in app.lessons[shown][1]  # the page said so as soon as space ran
        assert "Press **n**" not in app.lesson[1] and "That was the last step" in app.lesson[1]
        # and the pages shown on the way never asked for n after space either
        after = app.lessons[[i for i, (_, md) in enumerate(app.lessons) if "Running the remaining" in md][0]:]
        assert not any("Press **n**" in md for _, md in after)
