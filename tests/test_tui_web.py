"""The walkthrough in a browser (issue 16): `lpdev tui --web` serves the Textual app as a web page (textual-serve), and
a real headless Chromium (Debian's package, /usr/bin/chromium; `make bootstrap` installs it when missing) loads it,
shows the tour, advances it with a key press, and a screenshot is taken.

Chromium is driven over the Chrome DevTools Protocol with aiohttp (no browser download, no extra client). What the
page shows is read from the WebSocket frames the app sends to the page (textual-serve's packets carry the terminal
output), so the test sees the same screen text a person would, whatever the canvas renderer draws.
"""
from __future__ import annotations

import asyncio
import base64
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import aiohttp
import pytest

from lpdev.cli import main

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync",
                  "--window-size=1280,800"]
ANSI = re.compile(r"\x1b\[[0-9;?<>=]*[ -/]*[@-~]|\x1b[()][A-Z0-9]|\x1b[=>]")


def _start(argv: list[str], cwd: Path) -> subprocess.Popen:
    return subprocess.Popen(argv, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            start_new_session=True, env={**os.environ, "PYTHONPATH": str(ROOT)})


def _stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(10)


def _read_until(proc: subprocess.Popen, pattern: str, timeout: float = 60) -> re.Match:
    deadline = time.monotonic() + timeout
    seen = []
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            break
        seen.append(line)
        m = re.search(pattern, line)
        if m:
            return m
    raise AssertionError(f"{pattern!r} never printed (exit {proc.poll()}):\n{''.join(seen)}")


class Page:
    """One Chromium tab over the DevTools protocol: commands, and the terminal text the app streamed to it."""

    def __init__(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        self.ws = ws
        self.next_id = 0
        self.replies: dict[int, asyncio.Future] = {}
        self.screen = ""  # everything the app wrote to the page's terminal, escape sequences removed
        self.reader = asyncio.ensure_future(self._read())

    async def _read(self) -> None:
        async for msg in self.ws:
            data = json.loads(msg.data)
            if "id" in data and data["id"] in self.replies:
                self.replies.pop(data["id"]).set_result(data)
            elif data.get("method") == "Network.webSocketFrameReceived":
                resp = data["params"]["response"]
                if resp.get("opcode") == 2:  # binary frames: the app's terminal output, as the page writes it
                    raw = base64.b64decode(resp["payloadData"])
                    self.screen += ANSI.sub("", raw.decode("utf-8", "replace"))

    async def send(self, method: str, **params) -> dict:
        self.next_id += 1
        fut = asyncio.get_running_loop().create_future()
        self.replies[self.next_id] = fut
        await self.ws.send_json({"id": self.next_id, "method": method, "params": params})
        reply = await asyncio.wait_for(fut, 30)
        assert "error" not in reply, reply
        return reply.get("result", {})

    async def wait_for_text(self, pattern: str, since: int = 0, timeout: float = 90) -> re.Match:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            m = re.search(pattern, self.screen[since:])
            if m:
                return m
            await asyncio.sleep(0.1)
        raise AssertionError(f"the page never showed {pattern!r}; it showed:\n{self.screen[-3000:]}")

    async def press(self, key: str) -> None:
        await self.send("Runtime.evaluate", expression="document.querySelector('.xterm-helper-textarea').focus()")
        code = f"Key{key.upper()}" if key.isalpha() else key
        for kind in ("keyDown", "keyUp"):
            await self.send("Input.dispatchKeyEvent", type=kind, key=key, code=code, text=key if kind == "keyDown"
                            else "", windowsVirtualKeyCode=ord(key.upper()))


async def _devtools(port: int, page_url: str, profile: Path, shots: Path) -> tuple[str, str, bytes]:
    """Open ``page_url`` in Chromium; returns (screen text before the key, after it, the screenshot PNG)."""
    browser = _start([CHROMIUM, *CHROMIUM_FLAGS, f"--user-data-dir={profile}", "--remote-debugging-port=0",
                      "about:blank"], profile)
    try:
        active = profile / "DevToolsActivePort"
        for _ in range(300):
            if active.is_file() and active.read_text().strip():
                break
            await asyncio.sleep(0.1)
        devtools_port = int(active.read_text().split()[0])
        async with aiohttp.ClientSession() as http:
            async with http.get(f"http://127.0.0.1:{devtools_port}/json/list") as r:
                target = next(t for t in await r.json() if t["type"] == "page")
            async with http.ws_connect(target["webSocketDebuggerUrl"], max_msg_size=0) as ws:
                page = Page(ws)
                await page.send("Network.enable")
                await page.send("Page.enable")
                await page.send("Page.navigate", url=page_url)
                await page.wait_for_text(r"WALKTHROUGH")
                await page.wait_for_text(r"next step 1\b")  # the tour's intro, waiting at its first step
                before = page.screen
                await page.press("n")
                await page.wait_for_text(r"next step 2\b", since=len(before))  # the key ran step 1
                after = page.screen[len(before):]
                shot = await page.send("Page.captureScreenshot", format="png")
                png = base64.b64decode(shot["data"])
                (shots / "walkthrough-in-chromium.png").write_bytes(png)
                if os.environ.get("LPDEV_WEB_SHOT"):  # keep the screenshot to look at it
                    Path(os.environ["LPDEV_WEB_SHOT"]).write_bytes(png)
                page.reader.cancel()
                return before, after, png
    finally:
        _stop(browser)


@pytest.mark.slow
@pytest.mark.parametrize("command", [["tui", "--web"], ["walkthrough", "--web"]], ids=["tui", "walkthrough"])
def test_walkthrough_as_a_web_page_in_headless_chromium(tmp_path, command):
    if not Path(CHROMIUM).exists():
        pytest.fail("chromium is missing: `make bootstrap` installs Debian's package (apt-get install -y chromium)")
    server = _start([sys.executable, "-m", "lpdev", *command, "--web-port", "0"], tmp_path)
    try:
        url = _read_until(server, r"at (http://127\.0\.0\.1:\d+)").group(1)
        profile = tmp_path / "chromium-profile"
        profile.mkdir()
        before, after, png = asyncio.run(_devtools(0, url, profile, tmp_path))
    finally:
        _stop(server)
    assert "Happy path" in before and "next step 1" in before  # the tour's intro page, in the browser
    assert "next step 2" in after and "step 1/4" in after  # n ran the first step; the narrative moved on
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 20_000  # a real screenshot, not an empty page
    assert server.returncode in (0, -signal.SIGTERM)


def test_web_options_are_checked_before_serving(capsys, tmp_path):
    assert main(["tui", "--web", "--web-port", "70000"]) == 2
    assert "--web-port must be 0..65535" in capsys.readouterr().err
    assert main(["tui", "--web", "--replay", str(tmp_path / "missing.jsonl")]) == 2
    assert "no such trace file" in capsys.readouterr().err
    assert main(["walkthrough", "--web", "--web-port", "-1"]) == 2
    assert "--web-port must be 0..65535" in capsys.readouterr().err
    assert main(["walkthrough", "no-such-tour", "--web", "--web-port", "0"]) == 2  # checked before serving
    assert "unknown walkthrough 'no-such-tour'" in capsys.readouterr().err


def test_each_connection_runs_the_same_view_without_web(tmp_path):
    import argparse

    from lpdev.commands.tui import _view_argv
    from tui.webserve import web_command

    def ns(**kw):
        base = dict(replay=None, attach=None, scenario=None, demo=False, chain=None, seed=None, start="end",
                    screenshot_dir=None, step=False)
        return argparse.Namespace(**{**base, **kw})

    assert _view_argv(ns()) == ["walkthrough"]
    assert _view_argv(ns(seed=3)) == ["walkthrough", "--seed", "3"]
    assert _view_argv(ns(scenario="refresh-params-expired", chain="mock")) == [
        "tui", "--scenario", "refresh-params-expired", "--chain", "mock"]
    trace = tmp_path / "t.jsonl"
    assert _view_argv(ns(replay=str(trace))) == ["tui", "--replay", str(trace.resolve()), "--start", "end"]
    assert web_command(["walkthrough"]).endswith(" -m lpdev walkthrough") and sys.executable in web_command([])
