"""The walkthrough's narrative panel: the current step's explanation, in plain words, with real numbers."""
from __future__ import annotations

from textual.containers import VerticalScroll
from textual.widgets import Markdown, Static
from textual.app import ComposeResult


class Narrative(VerticalScroll):
    def compose(self) -> ComposeResult:
        yield Static(id="lesson-progress")
        yield Markdown(id="lesson-text")

    def show(self, progress: str, markdown: str) -> None:
        self.query_one("#lesson-progress", Static).update(progress)
        self.query_one("#lesson-text", Markdown).update(markdown)
        self.scroll_home(animate=False)
