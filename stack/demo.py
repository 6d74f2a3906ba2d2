"""The demo: the real actors (remote signer, orchestrator, scripted gateway) on the mock chain, for
``lpdev tui --demo`` (live, on a virtual clock running 10x the wall clock), ``lpdev tui --make-trace`` and
``lpdev bench tui`` (a recorded, seeded run: byte-identical every time).

Nothing here imitates an actor: every event comes from the signer, the orchestrator, the gateway or the stack.
"""
from __future__ import annotations

from pathlib import Path

from stack.policy import DEMO, SCENARIO
from stack.spec import GatewaySpec, OrchestratorSpec, SignerSpec, StackSpec
from stack.stack import Stack

__all__ = ["demo_spec", "demo_stack", "record_demo_trace"]


def demo_spec(seed: int = 7) -> StackSpec:
    """One signer, one orchestrator, one LV2V gateway paying every 5 s. The orchestrator asks a rational price
    (70 000 001 wei per 7 pixels: balances are fractions, as in production) with ticket EV 0.001 ETH and the face
    value capped at 5 x EV (win probability 1/5): ~1.4 tickets per payment and a winner every few payments;
    a block every 2.5 s, so the params expire (40 blocks) and the gateway refreshes every ~20 payments."""
    return StackSpec(
        chain="mock", seed=seed, block_time=2.5,
        signers=[SignerSpec(name="signer")],
        orchestrators=[OrchestratorSpec(name="orch", price_per_unit=70_000_001, pixels_per_unit=7,
                                        ticket_ev=10**15, max_face_value=5 * 10**15)],
        gateways=[GatewaySpec(name="gateway", signers=["signer"], orchestrator="orch", type="lv2v",
                              interval_s=5.0)])


def demo_stack(*, seed: int = 7, paused: bool = False, speed: float | None = None, **kw) -> Stack:
    """The live demo stack (not started): ``async with demo_stack() as st: await st.run()``. ``speed``: virtual
    seconds per wall second (default the DEMO policy's 10)."""
    st = Stack(demo_spec(seed), DEMO.with_(speed=speed) if speed else DEMO, **kw)
    st.gate.enabled = paused
    return st


async def record_demo(payments: int, *, seed: int = 7, mine_every: int = 20, settle: bool = True,
                      on_event=None) -> Stack:
    """A deterministic run of the demo stack (scenario policy: virtual clock, stepped): ``payments`` payments 5 s
    apart, 40 blocks mined every ``mine_every`` payments (the params expire: 480, refresh), then settled (winners
    redeemed, unless ``settle`` is off). ``on_event`` sees every event, normalised (per-run URLs and paths
    replaced by actor names)."""
    st = Stack(demo_spec(seed), SCENARIO)
    events: list = []
    st.bus.subscribe(events.append)
    async with st:
        g = st.gateways["gateway"]
        await g.start()
        for i in range(1, payments + 1):
            if i > 1:
                await st.clock.sleep(g.config.interval_s)
            await g.pay_once()
            if mine_every and i % mine_every == 0:
                await st.mine(40)
        if settle:
            await st.settle()
    if on_event is not None:  # normalised once every per-run name (URL, temp dir) is known
        for ev in events:
            on_event(st.normalise(ev))
    return st


def record_demo_trace(path: str | Path, payments: int = 1000, *, seed: int = 7, mine_every: int = 20) -> int:
    """Write :func:`record_demo`'s events as a trace (``lpdev tui --replay``). Returns the number of events."""
    import asyncio

    from sim.events import TraceWriter

    w = TraceWriter(path, source="lpdev tui --make-trace", payments=payments, seed=seed)
    n = 0

    def write(ev) -> None:
        nonlocal n
        n += 1
        w(ev)

    try:
        asyncio.run(record_demo(payments, seed=seed, mine_every=mine_every, on_event=write))
    finally:
        w.close()
    return n
