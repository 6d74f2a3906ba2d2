"""TUI replay of a 1,000-payment trace: seek to end, vs the same run's model-only pass over the trace.

The trace is a recorded run of the demo stack (stack/demo.py: the real signer, orchestrator and gateway on the
mock chain, seeded), not an imitation.

The TUI keeps a bounded model (capped rows, payments, tickets, thinned plot series), so seeking to the end
costs one pass of :class:`tui.model.FlowModel` plus one redraw. Baseline: reading the trace and applying
every event to a bare FlowModel, no UI. Target: seek to end under 1 s; peak traced memory is reported.
"""
from __future__ import annotations

import asyncio
import tempfile
import time
import tracemalloc
from pathlib import Path

TARGET_SEEK_S = 1.0


def add_arguments(parser) -> None:
    parser.add_argument("--payments", type=int, default=1000, help="payments in the trace (default 1000)")


async def _seek(path: Path) -> tuple[float, int, int]:
    from tui.app import LpdevApp

    app = LpdevApp.replay(path, start="home")
    async with app.run_test(size=(120, 40)) as pilot:
        t = time.perf_counter()
        await pilot.press("end")
        await pilot.pause()
        dt = time.perf_counter() - t
        return dt, app.pos, len(app.model.payments)


def run(args) -> dict:
    from sim.events import read_trace
    from tui.model import FlowModel
    from stack.demo import record_demo_trace

    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / "trace.jsonl"
        n_events = record_demo_trace(path, args.payments)
        t = time.perf_counter()
        _, evs = read_trace(path)
        model = FlowModel()
        model.apply_many(evs)
        baseline = time.perf_counter() - t
        signer_calls = len(model.payments)
        seek, pos, payments_kept = asyncio.run(_seek(path))
        tracemalloc.start()  # a second replay for memory: tracing slows Python down, so not the timed one
        asyncio.run(_seek(path))
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
    return {"bench": "tui", "payments": args.payments, "events": n_events, "seek_to_end_s": round(seek, 3),
            "model_only_s": round(baseline, 3), "ratio": round(seek / baseline, 2) if baseline else None,
            "peak_traced_mb": round(peak / 2**20, 1), "events_seen": pos, "payments_kept": payments_kept,
            "signer_calls": signer_calls,
            "target_seek_s": TARGET_SEEK_S, "ok": seek < TARGET_SEEK_S and pos == n_events}


def format_text(r: dict) -> str:
    return (f"seek to end of {r['events']} events ({r['payments']} payments): {r['seek_to_end_s']:.3f} s "
            f"(target < {r['target_seek_s']} s) {'OK' if r['ok'] else 'OVER TARGET'}\n"
            f"model-only pass over the same trace: {r['model_only_s']:.3f} s  ratio {r['ratio']}\n"
            f"peak traced memory during the replay: {r['peak_traced_mb']} MB; payments kept {r['payments_kept']}")
