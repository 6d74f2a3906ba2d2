"""The live loops a policy may add to a stack (``Stack.run``): a block ticker, a round initializer and each
gateway's payment (or paid noop LV2V job) loop, until the stack is asked to stop.

They run on the stack's clock: the wall clock for ``lpdev up``; a virtual clock that runs by itself for the TUI
demo (``Stack.pause`` waits the scaled time). Each gateway waits on the stack's step gate before a payment, so a
viewer can pause it (space) and let one payment through (n).
"""
from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

__all__ = ["GatewayLoop", "run_live"]


@dataclass
class GatewayLoop:
    name: str
    session: object  # sim.gateway.session.GatewaySession
    task: asyncio.Task | None = None
    paid: int = 0
    outcomes: dict = field(default_factory=dict)
    job: object = None  # job mode: the running sim.gateway.job.LV2VJob
    jobs: int = 0  # job mode: jobs started

    def count(self, status: str) -> None:
        self.outcomes[status] = self.outcomes.get(status, 0) + 1
        if status == "paid":
            self.paid += 1


async def run_live(st) -> None:
    """Start the policy's loops on ``st`` (a started :class:`stack.stack.Stack`) and wait for its stop."""
    pol = st.policy
    if pol.gateway_loops:
        for g in st.gateways.values():  # sign-orchestrator-info + GetOrchestrator; a client, not a service
            try:
                await g.start()
            except Exception as exc:  # noqa: BLE001 - the services keep running; say why there are no payments
                st.log(f"{g.name} could not start: {type(exc).__name__}: {exc}")
    if pol.round_initializer:
        st._tasks.append(asyncio.create_task(_round_initializer(st), name="round-initializer"))
    if pol.block_ticker and st.spec.block_time > 0:
        st._tasks.append(asyncio.create_task(_block_ticker(st), name="block-ticker"))
    if st.data_dir is not None and getattr(st.chain, "backend", "") == "anvil":
        st._tasks.append(asyncio.create_task(_chain_saver(st), name="chain-saver"))
    jobs = False
    if pol.gateway_loops:
        for i, spec in enumerate(st.spec.gateways):
            loop = st.loops[spec.name] = GatewayLoop(spec.name, st.gateways[spec.name])
            jobs = jobs or spec.lv2v_job
            body = _job_loop(st, loop, i, spec) if spec.lv2v_job else _pay_loop(st, loop, i, spec)
            loop.task = asyncio.create_task(body, name=f"pay-{spec.name}")
            st._tasks.append(loop.task)
    if not st._tasks:
        return
    await st._stop.wait()
    if jobs:  # let each job close its input and see the orchestrator stop it
        st.gate.continue_all()  # a job waiting for a step must see the stop
        tasks = [lp.task for lp in st.loops.values() if lp.task is not None and not lp.task.done()]
        if tasks:
            await asyncio.wait(tasks, timeout=5)


def chain_dead(st) -> bool:
    proc = getattr(st.chain, "_process", None)
    return proc is not None and not proc.alive()


async def _block_ticker(st) -> None:
    while not await st.pause(st.spec.block_time):
        try:
            await st.mine(1, quiet=True)
        except Exception as exc:  # noqa: BLE001 - keep ticking; a dead anvil stops the stack
            st.log(f"block ticker: {type(exc).__name__}: {exc}")
            if st.chain is None or chain_dead(st):
                st.request_stop()
                return


async def _chain_saver(st, period_s: float = 1.0) -> None:
    """Save the chain's state to the data dir whenever a block was added, at most every ``period_s``: what a
    ``lpdev up --resume`` after a crash comes back to (a redemption after the last save is found missing on the
    restored chain and sent again; stack.stack.Stack reconciles the store on resume)."""
    saved = -1
    while not await st.pause(period_s):
        try:
            block = await asyncio.to_thread(st.chain.last_block)
            if block != saved:
                await asyncio.to_thread(st.save_chain_state)
                saved = block
        except Exception as exc:  # noqa: BLE001 - a dead anvil is reported by the ticker
            st.log(f"chain saver: {type(exc).__name__}: {exc}")
            if st.chain is None or chain_dead(st):
                return


async def _round_initializer(st) -> None:
    """Watch the chain and initialize each new round, however the boundary was crossed (a ticker block, a
    redemption's or a deposit's transaction)."""
    period = min(1.0, st.spec.block_time) if st.spec.block_time > 0 else 0.5
    while not await st.pause(period):
        try:
            await st.ensure_round_initialized()
        except Exception as exc:  # noqa: BLE001 - keep watching; a dead anvil is caught by the ticker
            st.log(f"round initializer: {type(exc).__name__}: {exc}")
            if st.chain is None or chain_dead(st):
                return


async def _pay_loop(st, lp: GatewayLoop, i: int, spec) -> None:
    delay = i * 0.7  # stagger several gateways so their payments interleave
    while not await st.pause(delay):
        delay = spec.interval_s
        if lp.session.stopped:
            return
        await st.gate.wait(lp.paid, f"{lp.name}: next payment")
        if st.stopping:
            return
        try:
            out = await lp.session.pay_once()
        except Exception as exc:  # noqa: BLE001 - a failed cycle is logged; the stack goes on
            st.log(f"{lp.name}: payment cycle failed: {type(exc).__name__}: {exc}")
            continue
        lp.count(out.status)


async def _job_loop(st, lp: GatewayLoop, i: int, spec) -> None:
    """Job mode: run a paid noop LV2V job (sim.gateway.job) until the stack stops; a job that ends early
    (refused, insufficient balance, orchestrator restart) is followed by a new one after ``interval``."""
    from sim.gateway.job import JobConfig, JobError, LV2VJob

    delay = i * 0.7
    while not await st.pause(delay) and not lp.session.stopped:
        delay = spec.interval_s
        await st.gate.wait(lp.paid, f"{lp.name}: start a live-video-to-video job")
        if st.stopping:
            return
        job = lp.job = LV2VJob(lp.session, JobConfig(segment_s=spec.segment_s, payment_interval_s=spec.interval_s),
                               before_payment=lambda: st.gate.wait(lp.paid, f"{lp.name}: next payment"),
                               on_payment=lambda out: lp.count(out.status))
        try:
            await job.start()
            lp.jobs += 1
            lp.count("paid")  # the upfront payment that started the job
            await job.run(stop=st._stop)
        except JobError as exc:
            st.log(f"{lp.name}: live-video-to-video job refused: {exc}")
            if exc.stage == "orchestrator":  # e.g. a restarted orchestrator: fresh ticket params first
                try:
                    await lp.session.refresh()
                except Exception:  # noqa: BLE001 - the next attempt reports it
                    pass
        except Exception as exc:  # noqa: BLE001 - a failed job is logged; the stack goes on
            st.log(f"{lp.name}: live-video-to-video job failed: {type(exc).__name__}: {exc}")
        finally:
            await job.close()
