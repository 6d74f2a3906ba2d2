"""The TUI as a web page: ``lpdev tui --web`` (and ``lpdev walkthrough --web``) serve the same Textual app in a
browser through textual-serve, so a newcomer can follow the walkthrough without a terminal.

Each browser tab that connects gets its own ``lpdev`` process (the command without ``--web``), whose screen is
streamed to the page over a WebSocket; keys typed in the page go back to it. The page is lpdev's own
(``tui/web/app_index.html``: no fonts or scripts from the internet); the terminal emulator and its script are
textual-serve's.

Library use: ``serve(["walkthrough"], port=0)`` blocks until Ctrl-C / SIGTERM; ``web_command(argv)`` is the shell
command each connection runs.
"""
from __future__ import annotations

import shlex
import socket
import sys
from pathlib import Path
from typing import TextIO

__all__ = ["serve", "web_command", "free_port", "TEMPLATES"]

TEMPLATES = Path(__file__).resolve().parent / "web"


def web_command(argv: list[str]) -> str:
    """The shell command one browser connection runs: this interpreter's ``lpdev`` with ``argv``."""
    return shlex.join([sys.executable, "-m", "lpdev", *argv])


def free_port(host: str) -> int:
    """A port nothing listens on now (the page needs the real port in its WebSocket URL, so 0 is resolved first)."""
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def serve(argv: list[str], *, host: str = "127.0.0.1", port: int = 8000, title: str = "lpdev",
          out: TextIO | None = None) -> int:
    """Serve ``lpdev <argv>`` as a web page on ``http://host:port`` until interrupted. Returns 0."""
    import logging

    from textual_serve.server import Server

    out = out or sys.stdout
    port = port or free_port(host)
    url_host = f"[{host}]" if ":" in host else host

    class LpdevServer(Server):
        def initialize_logging(self) -> None:  # one line per connection, not textual-serve's banner and logo
            logging.basicConfig(level=logging.WARNING, format="lpdev web: %(message)s")

        async def on_startup(self, app) -> None:
            print(f"lpdev: {title} at http://{url_host}:{port}  (each browser tab runs `lpdev {shlex.join(argv)}`;"
                  " Ctrl-C stops)", file=out, flush=True)

    server = LpdevServer(web_command(argv), host=host, port=port, title=title,
                         public_url=f"http://{url_host}:{port}", templates_path=str(TEMPLATES))
    server.serve()
    return 0
