"""Modal dialogs: keyboard help, a time-travel confirmation that shows the consequence first, jump to."""
from __future__ import annotations

from rich.table import Table
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Input, Static


class HelpScreen(ModalScreen[None]):
    BINDINGS = [Binding("escape,q,question_mark", "dismiss", "close")]

    def __init__(self, keys: list[tuple[str, str]], mode: str) -> None:
        super().__init__()
        self.keys = keys
        self.mode = mode

    def compose(self) -> ComposeResult:
        t = Table(title=f"lpdev tui — keys ({self.mode} mode)", show_edge=False, expand=True)
        t.add_column("key", style="bold cyan", no_wrap=True)
        t.add_column("does")
        for k, d in self.keys:
            t.add_row(k, d)
        with Vertical(id="help-box", classes="dialog"):
            yield Static(t)
            yield Static("Colours: [yellow]480[/] refresh session · [magenta]481[/] price ceiling · "
                         "[cyan]482[/] no tickets · [red]other 4xx[/] · [white on red]5xx[/] · [green]WIN[/]\n"
                         "Rows: n43–45 nonce range · 3tkt tickets · balance = the sender's credit after the step "
                         "(signer: state Balance; orchestrator: its ledger) · ≈ rounded, x shows exact wei · "
                         "G S O C = gateway, signer, orchestrator, chain\n"
                         "How it all works: docs/README.md. Esc closes this help.", classes="hint")


class ConfirmAction(ModalScreen[bool]):
    """Shows what an action will do, in the protocol's words, before doing it."""

    BINDINGS = [Binding("enter,y", "confirm", "do it"), Binding("escape,n", "cancel", "cancel")]

    def __init__(self, title: str, consequence: str) -> None:
        super().__init__()
        self.title_text = title
        self.consequence = consequence

    def compose(self) -> ComposeResult:
        with Vertical(id="confirm-box", classes="dialog"):
            yield Static(f"[b]{self.title_text}[/b]", classes="title")
            yield Static(self.consequence, id="consequence")
            yield Static("Enter: do it    Esc: cancel", classes="hint")

    def action_confirm(self) -> None:
        self.dismiss(True)

    def action_cancel(self) -> None:
        self.dismiss(False)


class JumpDialog(ModalScreen[str | None]):
    BINDINGS = [Binding("escape", "cancel", "cancel")]

    def compose(self) -> ComposeResult:
        with Vertical(id="jump-box", classes="dialog"):
            yield Static("[b]Jump to[/b] an event seq (e.g. 1200) or a time in seconds from the start (e.g. 90s)")
            yield Input(placeholder="seq or 90s", id="jump-input")
            yield Static("Enter: jump    Esc: cancel", classes="hint")

    def on_input_submitted(self, event: Input.Submitted) -> None:
        self.dismiss(event.value.strip() or None)

    def action_cancel(self) -> None:
        self.dismiss(None)
