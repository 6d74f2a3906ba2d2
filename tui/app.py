"""lpdev's TUI: the ticket, nonce and balance flow, step by step — live, replayed, or scripted.

Modes (one App, chosen by the source of events):

* ``replay``   — a trace file (``lpdev tui --replay TRACE``), with seek (home/end, ←/→, jump to seq or time);
* ``live``     — an in-process :class:`sim.events.EventBus` (``lpdev up``) or another process's events endpoint
                 (``lpdev tui --attach URL``, see ``tui/feed.py``); time-travel keys through a
                 :class:`tui.control.StackControl`; step mode through a :class:`tui.control.Stepper`;
* ``scenario`` — a library scenario run step by step on the real stack (``lpdev tui --scenario NAME``); the
                 scenario runner waits for the key before each step (the step gate);
* ``walkthrough`` — the same, with a narrative panel that explains each step with this run's numbers (a tour
                 from ``tui/walkthroughs`` for its own scenario, else the generic ``tui/explain.py``).

Views: flow timeline (lanes gateway/signer/orchestrator/chain), payment inspector, tickets, balances plots.
Nothing here creates a widget per event: the timeline is a DataTable window, plots are decimated series.
"""
from __future__ import annotations

import asyncio
import os
import time
from collections import deque
from functools import partial
from pathlib import Path
from typing import Any

from rich.text import Text
from textual import work
from textual.app import App, ComposeResult
from textual.binding import Binding
from textual.command import DiscoveryHit, Hit, Hits, Provider
from textual.containers import Horizontal, Vertical
from textual.widgets import Footer, Header, Static, TabbedContent, TabPane

from sim.events import Event, read_trace
from tui.control import ACTIONS, Stepper, adapt_gate, call_control, predict
from tui.model import FlowModel, Row
from tui.widgets.balances import BalancePlots
from tui.widgets.cast import CastPanel
from tui.widgets.dialogs import ConfirmAction, HelpScreen, JumpDialog
from tui.widgets.inspector import PaymentInspector
from tui.widgets.narrative import Narrative
from tui.widgets.tickets import TicketsTable
from tui.widgets.timeline import FlowTimeline

__all__ = ["LpdevApp", "LpdevCommands"]

TICK_S = 0.1
HEAVY_REFRESH_S = 0.5  # tickets table and plots: at most twice a second


class LpdevCommands(Provider):
    """Command palette: the TUI's own actions and the ``lpdev`` CLI commands (their help, and how to run)."""

    def _commands(self) -> list[tuple[str, str, Any]]:
        app: LpdevApp = self.app  # type: ignore[assignment]
        out: list[tuple[str, str, Any]] = [
            ("Screenshot (SVG)", "save the screen as an SVG file", app.action_screenshot),
            ("Help: keys", "every key of this mode", app.action_help),
            ("Tickets: toggle winners only", "show only winning tickets", app.action_toggle_winners),
        ]
        if app.mode == "replay":
            out += [("Replay: jump to start", "seek to the first event", app.action_seek_home),
                    ("Replay: jump to end", "seek to the last event", app.action_seek_end),
                    ("Replay: jump to seq / time…", "seek to an event seq or a time", app.action_jump)]
        if app.control is not None:
            for a in ACTIONS:
                out.append((f"Time travel: {a.name}", predict(a.method, app.safe_facts(), a.args)[:80],
                            partial(app.action_time_travel, a.method)))
        for name, help_text, usage in app.commands:
            out.append((f"lpdev {name}", help_text, partial(app.show_cli_help, name, usage)))
        return out

    async def discover(self) -> Hits:
        for title, help_text, cb in self._commands():
            yield DiscoveryHit(title, cb, help=help_text)

    async def search(self, query: str) -> Hits:
        matcher = self.matcher(query)
        for title, help_text, cb in self._commands():
            score = matcher.match(title)
            if score > 0:
                yield Hit(score, matcher.highlight(title), cb, help=help_text)


class LpdevApp(App):
    CSS_PATH = "lpdev.tcss"
    TITLE = "lpdev"
    COMMANDS = App.COMMANDS | {LpdevCommands}
    ENABLE_COMMAND_PALETTE = True

    BINDINGS = [
        Binding("question_mark", "help", "help"),
        Binding("space", "toggle_run", "run/pause"),
        Binding("n", "next", "next step"),
        Binding("p", "prev", "prev", show=False),
        Binding("right", "next", "next event", show=False, priority=True),
        Binding("left", "prev", "prev event", show=False, priority=True),
        Binding("home", "seek_home", "start", priority=True),
        Binding("end", "seek_end", "end", priority=True),
        Binding("g", "jump", "jump"),
        Binding("1", "tab('inspector')", "payment", show=False),
        Binding("2", "tab('tickets')", "tickets", show=False),
        Binding("3", "tab('balances')", "balances", show=False),
        Binding("4", "tab('cast')", "cast", show=False),
        Binding("x", "toggle_exact", "exact wei", show=False),
        Binding("w", "toggle_winners", "winners", show=False),
        Binding("M", "time_travel('mine_blocks')", "mine 40"),
        Binding("R", "time_travel('advance_round')", "round+1"),
        Binding("A", "time_travel('expire_auth_token')", "expire token"),
        Binding("P", "time_travel('raise_price')", "price↑"),
        Binding("K", "time_travel('restart_orchestrator')", "restart O"),
        Binding("r", "read_on", "read on"),
        Binding("s", "screenshot", "screenshot"),
        Binding("q", "quit", "quit"),
    ]

    def __init__(self, *, mode: str, events: list[Event] | None = None, header: dict | None = None,
                 bus: Any = None, attach_url: str | None = None, control: Any = None, stepper: Any = None,
                 script: Any = None, source_name: str = "", start: str = "end", screenshot_dir: str | None = None,
                 window: int = 100, model: FlowModel | None = None, serve_events: str | None = None,
                 commands: list[tuple[str, str, str]] | None = None, cast: dict | None = None) -> None:
        """``commands``: (name, help, full help) of the lpdev CLI commands for the command palette, handed over
        by the caller (the TUI does not import the CLI). ``cast``: the running stack's cast document."""
        super().__init__()
        if mode not in ("replay", "live", "scenario", "walkthrough"):
            raise ValueError(f"unknown mode {mode!r}")
        self.mode = mode
        self.events = events or []
        self.header = header or {}
        self.bus = bus
        self.attach_url = attach_url
        self.control = control
        self.stepper: Stepper | None = adapt_gate(stepper) if stepper is not None else None
        self.script = script
        self.source_name = source_name
        self.start_at = start
        self.screenshot_dir = screenshot_dir or os.environ.get("LPDEV_SCREENSHOT_DIR") or "."
        self.window = window
        self.model = model or FlowModel()
        self.pos = 0  # replay: number of events applied
        self._end_model: FlowModel | None = None  # replay: the model after the last event, kept for "end"
        self.playing = False
        self.inbox: deque[Event] = deque()
        self._rows_by_seq: dict[int, Row] = {}
        self._selected: int | None = None
        self._last_heavy = 0.0
        self._dirty_heavy = True
        self._unsub = None
        self.lesson: tuple[str, str] = ("", "")  # scenario/walkthrough: (progress, Markdown) shown now
        self.lessons: list[tuple[str, str]] = []  # every page shown, in order
        self._explained = 0  # tour: steps explained so far
        self.conn_state = ""
        self.last_prediction = ""
        self.yaml: tuple | None = None  # (scenario, chain, seed, trace, gate) for a library scenario
        self.serve_events = serve_events  # "host:port": also expose this bus as an events endpoint (tui/feed.py)
        self.events_url: str | None = None
        self.summary: dict | None = None
        self.scenario_run: Any = None  # the ScenarioRun of a library scenario or tour (its events, its stack)
        self.commands = list(commands or [])
        self.cast = cast  # the running stack's cast document (lpdev up's stack.json): the "4 cast" tab
        self.exact = False  # x: amounts as exact wei instead of ETH / gwei readings

    # -- constructors -------------------------------------------------------------------------------------
    @classmethod
    def replay(cls, path: str | Path, **kw) -> "LpdevApp":
        header, it = read_trace(path)
        return cls(mode="replay", events=list(it), header=header, source_name=str(Path(path).name), **kw)

    @classmethod
    def scenario(cls, name: str, *, walkthrough: bool = False, **kw) -> "LpdevApp":
        """A tour (``tui/walkthroughs``): its library scenario on the real stack, each step explained by the
        tour from the events it produced (in walkthrough mode; scenario mode runs it without the narrative)."""
        from tui.walkthroughs import get_script

        script = get_script(name)
        kw.setdefault("source_name", name)
        return cls.yaml_scenario(script.load_scenario(), walkthrough=walkthrough, script=script, **kw)

    @classmethod
    def yaml_scenario(cls, scenario: Any, *, chain: str | None = None, seed: int | None = None,
                      trace: str | None = None, walkthrough: bool = False, stack: Any = None,
                      **kw) -> "LpdevApp":
        """A library scenario (``stack.scenario``) run by the scenario runner on this app's loop; its
        :class:`~stack.gate.StepGate` waits for n (one step) or space (run the rest). With ``script=`` (a
        tour) the narrative is the tour's; otherwise each step's events are explained generically."""
        from stack.gate import StepGate

        gate = StepGate(enabled=True)
        kw.setdefault("source_name", getattr(scenario, "name", "scenario"))
        app = cls(mode="walkthrough" if walkthrough else "scenario", stepper=gate, **kw)
        app.yaml = (scenario, chain, seed, trace, gate, stack)
        return app

    # -- layout -------------------------------------------------------------------------------------------
    def compose(self) -> ComposeResult:
        yield Header(show_clock=False, icon="◆")
        yield Static(id="status")
        with Horizontal(id="main"):
            with Vertical(id="left"):
                # beside the narrative there is no room for times; lanes size themselves to what is left
                yield FlowTimeline(id="timeline", window=self.window, show_time=self.mode != "walkthrough")
                with TabbedContent(initial="inspector", id="tabs"):
                    with TabPane("1 payment", id="inspector"):
                        yield PaymentInspector(id="inspector-body")
                    with TabPane("2 tickets", id="tickets"):
                        yield TicketsTable(id="tickets-table")
                    with TabPane("3 balances", id="balances"):
                        yield BalancePlots(id="plots-box")
                    if self.cast is not None:
                        with TabPane("4 cast", id="cast"):
                            yield CastPanel(id="cast-panel")
            if self.mode == "walkthrough":
                yield Narrative(id="narrative")
        yield Footer()

    def on_mount(self) -> None:
        # Cached: a modal screen on top would hide them from self.query_one.
        q = self.screen.query_one
        self.w_status = q("#status", Static)
        self.w_timeline = q(FlowTimeline)
        self.w_tabs = q(TabbedContent)
        self.w_tickets = q(TicketsTable)
        self.w_plots = q(BalancePlots)
        self.w_inspector = q(PaymentInspector)
        self.w_narrative = q(Narrative) if self.mode == "walkthrough" else None
        if self.cast is not None:
            q(CastPanel).show(self.cast)
        self.title = "lpdev"
        self.sub_title = f"{self.mode}: {self.source_name}" if self.source_name else self.mode
        if self.mode == "replay":
            if self.start_at == "end":
                self.seek(len(self.events))
            else:
                self.seek(0)
        elif self.bus is not None:
            self._unsub = self.bus.subscribe(self._on_bus_event)
            for e in list(getattr(self.bus, "recent", [])):
                self.inbox.append(e)
            self.drain()  # what happened before the TUI opened is on the first frame
        if self.attach_url:
            self.follow_feed(self.attach_url)
        if self.serve_events and self.bus is not None:
            self.serve_feed(self.serve_events)
        if self.yaml is not None:
            self.run_yaml_scenario()
        self.set_interval(TICK_S, self._tick)
        self._refresh_status()
        self.w_timeline.focus()

    def on_unmount(self) -> None:
        if self._unsub:
            self._unsub()

    # -- event intake -------------------------------------------------------------------------------------
    def _on_bus_event(self, ev: Event) -> None:
        self.inbox.append(ev)  # deque.append is thread-safe; the tick drains it on the UI thread

    @work(exclusive=True, group="feed")
    async def follow_feed(self, url: str) -> None:
        from tui.feed import follow

        def state(s: str) -> None:
            self.conn_state = s

        async for ev in follow(url, on_state=state):
            self.inbox.append(ev)

    @work(exclusive=True, group="scenario")
    async def run_yaml_scenario(self) -> None:
        from stack.scenario.runner import ScenarioRun

        scenario, chain, seed, trace, gate, stack = self.yaml
        self.stepper = adapt_gate(gate, asyncio.get_running_loop())
        run = ScenarioRun(scenario, chain=chain, seed=seed, gate=gate, stack=stack)
        self.scenario_run = run
        self.bus = run.stack.bus
        self.control = run.stack if hasattr(run.stack, "facts") else None
        # Per-run text (ports, temp dirs, certificate fingerprints) shown as actor names: same screen every run.
        self._unsub = self.bus.subscribe(lambda ev: self._on_bus_event(run.stack.normalise(ev)))
        self.conn_state = f"{run.spec.chain} chain"
        total = len(scenario.steps)
        mark = [0]

        def narrate(index: int | None, desc: str) -> None:
            if self.script is not None:
                self._set_lesson(*self._tour_lesson(run.events, index, desc))
                return
            from tui.explain import explain_events

            happened = explain_events(run.events[mark[0]:])
            mark[0] = len(run.events)
            head = f"# {scenario.name}\n\n{getattr(scenario, 'description', '')}\n\n" if index == 0 else ""
            body = f"## What just happened\n\n{happened}\n\n" if happened and index != 0 else ""
            nxt = (f"---\n**Next — step {index + 1}/{total}: {desc}.** Press **n** to run it, **space** to run "
                   "the rest." if index is not None else "---\nThe scenario is finished.")
            progress = f"step {index}/{total}" if index is not None else f"done ({total} steps)"
            self._set_lesson(progress, head + body + nxt)

        gate.on_pause = narrate
        try:
            self.summary = await run.run()
            narrate(None, "")
            ok = self.summary.get("passed")
            self.conn_state = "scenario finished: " + ("PASS" if ok else "FAIL")
            self.notify(f"scenario {'passed' if ok else 'FAILED'}: {self.summary.get('payments')} payments, "
                        f"{self.summary.get('tickets')} tickets", severity="information" if ok else "error",
                        timeout=8)
        except Exception as exc:  # noqa: BLE001 - show why, keep the events on screen
            self.conn_state = f"scenario error: {exc.__class__.__name__}: {exc}"
            self.notify(self.conn_state, severity="error", timeout=10)
        finally:
            if trace:
                run.write_trace(trace)

    @work(exclusive=True, group="serve")
    async def serve_feed(self, where: str) -> None:
        from tui.feed import serve

        host, _, port = where.rpartition(":")
        runner, url = await serve(self.bus, host or "127.0.0.1", int(port or 0))
        self.events_url = url
        self.conn_state = f"events at {url}/events/stream"
        try:
            await asyncio.Event().wait()  # until the app exits and cancels this worker
        finally:
            await runner.cleanup()

    def _tick(self) -> None:
        if self._dirty_heavy:  # a throttled tickets/plots refresh still owed
            self._refresh_views()
        if self.mode == "replay":
            if self.playing:
                self.seek(min(len(self.events), self.pos + max(1, len(self.events) // 400)))
                if self.pos >= len(self.events):
                    self.playing = False
            return
        self.drain()

    def drain(self, limit: int = 5000) -> int:
        """Apply queued live events to the model and the views. Returns how many were applied."""
        if not self.inbox:
            return 0
        rows: list[Row] = []
        n = 0
        while self.inbox and n < limit:
            ev = self.inbox.popleft()
            if self.model.last is not None and ev.seq <= self.model.last.seq and ev.seq != 0:
                continue  # already seen (a reconnect, or the bus's backlog)
            rows.append(self.model.apply(ev))
            n += 1
        # a block tick may update a row already listed (or already shown): each row once, in timeline order
        rows = list({r.seq: r for r in rows}.values())[-self.window:]
        for r in rows:
            self._rows_by_seq[r.seq] = r
        self.w_timeline.append(rows, self.model.t0)
        self._trim_lookup()
        self._dirty_heavy = True
        self._refresh_views()
        return n

    def _trim_lookup(self) -> None:
        if len(self._rows_by_seq) > 2 * self.window:
            keep = set(self.w_timeline._shown)
            self._rows_by_seq = {k: v for k, v in self._rows_by_seq.items() if k in keep}

    # -- replay -------------------------------------------------------------------------------------------
    def seek(self, n: int) -> None:
        """Show the state after the first ``n`` events (forward: apply the gap; backward: rebuild)."""
        n = max(0, min(len(self.events), n))
        step = n - self.pos
        end = len(self.events)
        before = self.events[self.pos - 1].seq if 0 < self.pos <= end else None  # last event applied so far
        if n == end and self._end_model is not None and self.pos != end:
            self.model = self._end_model  # built once; never mutated (a replay cannot go past its end)
        else:
            if n < self.pos:
                self.model = FlowModel(row_cap=self.model.row_cap, payment_cap=self.model.payment_cap,
                                       ticket_cap=self.model.ticket_cap, series_points=self.model.series_points)
                self.pos = 0
            self.model.apply_many(self.events[self.pos:n])
            if n == end:
                self._end_model = self.model
        self.pos = n
        if 0 < step <= self.window // 2 and self.w_timeline.row_count:
            # small forward step (next, play): append, so the view keeps scrolling with the tail
            # (the rows those events added, and the block-tick row they updated in place; by seq, so this holds
            # when the model just became the cached end model too)
            new = self.model.rows_after(before)[-self.window:]
            for r in new:
                self._rows_by_seq[r.seq] = r
            self.w_timeline.append(new, self.model.t0)
            self._trim_lookup()
        elif step != 0 or not self.w_timeline.row_count:
            rows = list(self.model.rows)[-self.window:]
            self._rows_by_seq = {r.seq: r for r in rows}
            self.w_timeline.show(rows, self.model.t0)
        self._dirty_heavy = True
        self._refresh_views(force=True)

    def seek_to_seq(self, seq: int) -> None:
        import bisect

        self.seek(bisect.bisect_right(_SeqView(self.events), seq))

    def seek_to_time(self, secs: float) -> None:
        import bisect

        if not self.events:
            return
        t0 = self.events[0].t
        self.seek(bisect.bisect_right(_TimeView(self.events), t0 + secs))

    # -- views --------------------------------------------------------------------------------------------
    def _refresh_views(self, force: bool = False) -> None:
        self._refresh_status()
        self._refresh_inspector()
        now = time.monotonic()
        if self._dirty_heavy and (force or now - self._last_heavy >= HEAVY_REFRESH_S):
            self._last_heavy = now
            self._dirty_heavy = False
            tabs = self.w_tabs
            if tabs.active == "tickets":
                self._refresh_tickets()
            elif tabs.active == "balances":
                self.w_plots.show(self.model, exact=self.exact)

    def _refresh_tickets(self) -> None:
        t = self.w_tickets
        t.show(self.model.ticket_rows(winners_only=t.winners_only, limit=self.window))

    def _refresh_inspector(self) -> None:
        tl = self.w_timeline
        row = None
        if self._selected is not None:
            row = self._rows_by_seq.get(self._selected)
        if row is None and tl.row_count:
            try:
                key = tl.coordinate_to_cell_key((tl.cursor_row, 0)).row_key.value
                row = self._rows_by_seq.get(int(key))
            except Exception:  # noqa: BLE001 - empty table
                row = None
        self.w_inspector.show(row, self.model.payment_for(row))

    def on_flow_timeline_row_chosen(self, msg: FlowTimeline.RowChosen) -> None:
        self._selected = msg.seq
        self._refresh_inspector()

    def on_tabbed_content_tab_activated(self, event: TabbedContent.TabActivated) -> None:
        self._dirty_heavy = True
        self._refresh_views(force=True)

    def status_text(self) -> Text:
        m = self.model
        tot = m.totals()
        st = tot["statuses"]
        codes = "  ".join(f"{k}×{v}" for k, v in sorted(st.items(), key=lambda kv: str(kv[0])) if k not in (200, "ok"))
        t = Text()
        label = {"replay": "REPLAY", "live": "LIVE", "scenario": "SCENARIO", "walkthrough": "WALKTHROUGH"}[self.mode]
        t.append(f" {label} ", style="bold reverse")
        if self.mode == "replay":
            t.append(f"  event {self.pos}/{len(self.events)}")
            t.append("  ▶ playing" if self.playing else "  ⏸ paused")
        else:
            gate = self.stepper
            tail = f"  {self.conn_state}" if self.conn_state else ""
            if m.last is not None:
                tail += f"  t+{m.last.t - (m.t0 or m.last.t):.1f}s"
            if gate is not None and self.summary is None:  # once finished, conn_state says how
                waiting = getattr(gate, "waiting", None)
                if isinstance(waiting, tuple) and len(waiting) == 2:
                    # one line: the step's description gives way first on a narrow screen
                    width = (self.w_status.size.width if getattr(self, "w_status", None) else 0) or 200
                    head, keys = f"  next step {waiting[0] + 1}: ", " — n runs it, space runs all"
                    room = width - 3 - t.cell_len - len(head) - len(keys) - len(tail)
                    desc = str(waiting[1])
                    if len(desc) > room:
                        desc = desc[: room - 1] + "…" if room >= 12 else ""
                    t.append((head + desc if desc else head.rstrip(": ")) + keys, style="bold")
                else:
                    t.append("  step mode: " + ("waiting for n" if waiting else
                                                ("paused" if gate.paused else "running")))
            t.append(tail)
        last = m.last
        if last is not None and self.mode == "replay":
            t.append(f"  t+{last.t - (m.t0 or last.t):.1f}s")
        profiles = m.facts.get("signer_profiles") or {}
        if profiles:  # which dialect each signer speaks (lpdev signer profiles)
            kinds = sorted(set(profiles.values()))
            t.append("  signer " + (kinds[0] if len(kinds) == 1 else
                                    ", ".join(f"{n} {p}" for n, p in sorted(profiles.items()))))
        t.append(f"\n payments {tot['payments']}  tickets {tot['tickets']}  winners {tot['winners']}  events {tot['events']}")
        if codes:
            t.append(f"  statuses {codes}", style="yellow")
        blk = m.facts.get("block")
        if blk is not None:
            t.append(f"  block {blk}")
        if m.last_step:
            t.append(f"  step: {m.last_step}", style="italic")
        return t

    def _refresh_status(self) -> None:
        self.w_status.update(self.status_text())

    # -- scenario / walkthrough --------------------------------------------------------------------------
    def _set_lesson(self, progress: str, md: str) -> None:
        self.lesson = (progress, md)
        self.lessons.append(self.lesson)
        if self.mode == "walkthrough":
            self.w_narrative.show(progress, md)

    def _tour_lesson(self, events: list[Event], index: int | None, desc: str) -> tuple[str, str]:
        """The tour's page while the gate waits before step ``index`` (None: the run is over): the intro, or the
        explanation of every step that ran since the last page, each from its own events only (a step's
        events run from its ``scenario.step`` marker to the next one)."""
        from tui.walkthroughs import Ctx, cast

        script, scenario = self.script, self.yaml[0]
        total = len(scenario.steps)
        titles = [st.describe() for st in scenario.steps]
        marks = [(i, e.data.get("index")) for i, e in enumerate(events) if e.kind == "scenario.step"]
        if index == 0:
            intro = _safe(script.intro or cast, Ctx(list(events), list(events)))
            steps = "\n".join(f"{i + 1}. {t}" for i, t in enumerate(titles))
            md = (f"# {script.title}\n\n{script.summary}.\n\n{intro}\n\nSteps:\n\n{steps}\n\n---\n"
                  "Press **n** to run the first step, **space** to run them all, **r** to read on when a page is "
                  "longer than this panel, **?** for every key.")
            return f"0/{total}", md
        ran = [k for _, k in marks if isinstance(k, int) and k < total]
        done = (max(ran) + 1) if ran else 0
        pages = []
        for k in range(self._explained, done):
            pos = next(i for i, j in marks if j == k)
            end = next((i for i, j in marks if isinstance(j, int) and j > k), len(events))
            ctx = Ctx(events[pos:end], events[:end])
            pages.append(_safe(script.steps[k].explain, ctx))
        self._explained = max(self._explained, done)
        if index is None:
            settle = next((i for i, j in marks if j == total), len(events))
            if script.finale is not None:
                pages.append(_safe(script.finale, Ctx(events[settle:], list(events))))
            nxt = "That was the last step. **q** quits; the tabs (1, 2, 3) still show everything."
            if script.next_tour:
                nxt += f" Next tour: `lpdev walkthrough {script.next_tour}`."
        else:
            nxt = f"**Next — step {index + 1}/{total}: {desc}.** Press **n** to run it, **space** to run the rest."
        last = titles[done - 1] if done else ""
        return f"step {done}/{total} — {last}", "\n\n".join(pages) + "\n\n---\n" + nxt

    # -- actions ------------------------------------------------------------------------------------------
    def check_action(self, action: str, parameters: tuple) -> bool | None:
        if action in ("seek_home", "seek_end", "jump", "prev"):
            return self.mode == "replay"
        if action == "time_travel":
            # only the keys this stack can do (a StackControl may implement a subset)
            return (self.control is not None and self.mode in ("live", "scenario", "walkthrough")
                    and (not parameters or callable(getattr(self.control, parameters[0], None))))
        if action in ("toggle_run", "next"):
            return self.mode == "replay" or self.stepper is not None
        if action == "read_on":
            return self.mode == "walkthrough"
        if action == "tab" and parameters == ("cast",):
            return self.cast is not None
        return True

    def action_help(self) -> None:
        keys = []
        for b in self.BINDINGS:
            b = b if isinstance(b, Binding) else Binding(*b)
            act = b.action.split("(")[0]
            params = tuple(x.strip("'\"") for x in b.action[len(act) + 1:-1].split(",")) if "(" in b.action else ()
            if self.check_action(act, params) is False:
                continue
            keys.append((b.key.replace("question_mark", "?"), self._describe(b)))
        keys.append(("↑/↓ pgup/pgdn", "move in the timeline; the payment tab follows the cursor"))
        keys.append(("ctrl+p", "command palette: these actions and the lpdev commands"))
        self.push_screen(HelpScreen(keys, self.mode))

    def _describe(self, b: Binding) -> str:
        a = b.action
        if a.startswith("time_travel"):
            method = a.split("'")[1]
            act = next(x for x in ACTIONS if x.method == method)
            return f"{act.name} (shows the consequence first)"
        return {
            "toggle_run": "replay: play/pause · scenario: run all steps/pause · live: run/pause the gateway",
            "next": "replay: next event · scenario/walkthrough/live step mode: run the next step",
            "prev": "replay: previous event",
            "seek_home": "replay: first event", "seek_end": "replay: last event",
            "jump": "replay: jump to an event seq or a time (90s)",
            "toggle_winners": "tickets tab: winners only / all",
            "toggle_exact": "amounts as exact wei / as ETH and gwei (≈ = rounded)",
            "read_on": "walkthrough: scroll the explanation down a page (then back to its top)",
            "screenshot": f"save an SVG screenshot in {self.screenshot_dir}",
        }.get(a.split("(")[0], b.description)

    def action_read_on(self) -> None:
        """Walkthrough: the narrative's next page (back to its top after the last)."""
        n = self.w_narrative
        if n.scroll_y >= n.max_scroll_y:
            n.scroll_home(animate=False)
        else:
            n.scroll_page_down(animate=False)

    def action_tab(self, name: str) -> None:
        self.w_tabs.active = name

    def action_toggle_exact(self) -> None:
        """Every amount as its exact value in wei, or back to ETH / gwei readings."""
        self.exact = not self.exact
        self.w_inspector.exact = self.exact
        if self.cast is not None:
            self.screen.query_one(CastPanel).show(self.cast, self.exact)
        self._dirty_heavy = True
        self._refresh_views(force=True)
        self.notify("amounts in exact wei" if self.exact else "amounts in ETH / gwei (≈ = rounded)", timeout=3)

    def action_toggle_winners(self) -> None:
        t = self.w_tickets
        t.winners_only = not t.winners_only
        self._refresh_tickets()

    def action_toggle_run(self) -> None:
        if self.mode == "replay":
            if self.pos >= len(self.events):
                self.seek(0)
            self.playing = not self.playing
        elif self.stepper is not None:
            if self.stepper.paused:
                self.stepper.run()
                self._lesson_running()
            else:
                self.stepper.pause()
        self._refresh_status()

    def _lesson_running(self) -> None:
        """After space the steps run on their own: the page must not keep asking for n. Its last part (what the
        next key does) says so instead; the explanations follow when the run pauses or ends."""
        progress, md = self.lesson
        if self.mode not in ("scenario", "walkthrough") or not md or self.summary is not None:
            return
        body = md.rsplit("\n---\n", 1)[0] if "\n---\n" in md else md
        self._set_lesson(progress, body + "\n\n---\n**Running the remaining steps.** Their explanations appear here "
                                          "when the run ends; **space** pauses before the next step.")

    def action_next(self) -> None:
        if self.mode == "replay":
            self.playing = False
            self.seek(self.pos + 1)
        elif self.summary is not None:
            self.notify("The scenario is finished. q quits; the tabs (1, 2, 3) still show everything.", timeout=4)
        elif self.stepper is not None:
            self.stepper.step()
        self._refresh_status()

    def action_prev(self) -> None:
        if self.mode == "replay":
            self.playing = False
            self.seek(self.pos - 1)

    def action_seek_home(self) -> None:
        self.playing = False
        self.seek(0)

    def action_seek_end(self) -> None:
        self.playing = False
        self.seek(len(self.events))

    def action_jump(self) -> None:
        def done(value: str | None) -> None:
            if not value:
                return
            try:
                if value.endswith("s"):
                    self.seek_to_time(float(value[:-1]))
                else:
                    self.seek_to_seq(int(value))
            except ValueError:
                self.notify(f"not a seq or a time: {value!r} (try 1200 or 90s)", severity="error")

        self.push_screen(JumpDialog(), done)

    def safe_facts(self) -> dict:
        facts: dict = {}
        if self.control is not None and hasattr(self.control, "facts"):
            try:
                facts = dict(self.control.facts() or {})
            except Exception:  # noqa: BLE001 - predictions fall back to generic text
                facts = {}
        for k, v in (("last_block", self.model.facts.get("block")),
                     ("expiration_block", self.model.facts.get("expiration_block")),
                     ("current_round", self.model.facts.get("round"))):
            facts.setdefault(k, v)
        return facts

    def action_time_travel(self, method: str) -> None:
        if self.control is None:
            self.notify("time travel needs a running stack (live mode)", severity="warning")
            return
        act = next(a for a in ACTIONS if a.method == method)
        consequence = predict(method, self.safe_facts(), act.args)
        self.last_prediction = consequence

        def done(ok: bool | None) -> None:
            if ok:
                self.do_time_travel(method, act.args)

        self.push_screen(ConfirmAction(act.name, consequence), done)

    @work(group="control")
    async def do_time_travel(self, method: str, args: tuple) -> None:
        try:
            await call_control(self.control, method, *args)
        except Exception as exc:  # noqa: BLE001 - show the stack's own message
            self.notify(f"{method}: {exc}", severity="error", timeout=6)
            return
        self.notify(f"done: {method.replace('_', ' ')}", timeout=3)
        self.drain()

    def action_screenshot(self) -> None:
        Path(self.screenshot_dir).mkdir(parents=True, exist_ok=True)
        path = self.save_screenshot(path=self.screenshot_dir)
        self.notify(f"screenshot saved: {path}", timeout=5)

    def show_cli_help(self, name: str, usage: str) -> None:
        self.push_screen(HelpScreen([(f"lpdev {name}", usage)], "command"))


def _safe(fn, ctx) -> str:
    """A tour's explanation; if it breaks, the generic explanation of the same events (the tour goes on)."""
    try:
        return fn(ctx)
    except Exception as exc:  # noqa: BLE001 - a broken explanation must not kill the tour
        from tui.explain import explain_events

        return f"(explanation unavailable: {exc.__class__.__name__}: {exc})\n\n" + explain_events(ctx.events)


class _SeqView:
    """A list-like view of event seqs for bisect without copying."""

    def __init__(self, events: list[Event]) -> None:
        self.events = events

    def __len__(self) -> int:
        return len(self.events)

    def __getitem__(self, i: int) -> int:
        return self.events[i].seq


class _TimeView(_SeqView):
    def __getitem__(self, i: int) -> float:  # type: ignore[override]
        return self.events[i].t
