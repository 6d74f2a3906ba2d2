"""The livepeer-gateway SDK 1.0.0's own example scripts, unmodified, against lpdev (the pinned sdist that
``make bootstrap`` unpacks into the git-ignored ``.sdk/``; input media generated with PyAV).

One stack for the module: what `lpdev up --chain mock --no-gateway --live-runner-config examples/text/runners.json`
runs (the same Stack, spec and defaults: lpdev's signer, an orchestrator with the plain-HTTP entry, ``--orch-secret
abcdef``, one free noop dev runner, and the text example's ``runners.json``), in this process so its events can be
read; each example runs as the README says, with
lpdev's addresses:

* echo: ``echo/runner.py --orchestrator <http entry> --orchSecret abcdef`` and ``echo/client.py --discovery
  <http entry>/discovery in.ts`` — ``started echo session <id>``, and ``echo-out.ts`` decodes to as many frames as
  went in; the session is released afterwards (O2R ``released``, channels closed);
* ping-pong: a single-shot WebSocket runner; the client's aiohttp ``ws_connect`` verifies TLS, so it discovers over
  the plain-HTTP entry: 5 round trips, a session per connection, released when it closes;
* text: the static ``runners.json`` (label routing, ``/healthz``); ``runner.py`` needs Python >= 3.12 (a backslash
  in an f-string): a 3.12+ interpreter from the machine runs it with this venv's (pure-Python) aiohttp; curl reads
  the streamed story and the SSE lines through ``/apps/story-runner/app/…``;
* the live-video-to-video examples that work against lpdev (orchestrator info, selection, a noop job, control
  messages, events, frames).

The example runners bind fixed ports (8989 echo, 8990 text, 8991 ping-pong).
"""
from __future__ import annotations

import json
import os
import re
import shutil
import socket
import subprocess
import sys
import sysconfig
import threading
import time
import urllib.request
from pathlib import Path

import pytest

import av  # noqa: E402 - PyAV, installed by `make` (see README)

from sim.media import mpegts  # noqa: E402
from stack.thread import StackThread  # noqa: E402
from tests.stacks import up_spec  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / ".sdk" / "livepeer_gateway-1.0.0" / "examples"
VENV_SITE = sysconfig.get_paths()["purelib"]  # this venv's site-packages (aiohttp for the 3.12 text runner)

pytestmark = [pytest.mark.sdk, pytest.mark.slow]


def bare(url: str) -> str:
    return url.split("://", 1)[1]


def free_port(port: int) -> None:
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            pytest.fail(f"port {port} is in use by another process; the SDK example runner binds it: stop it")


class Proc:
    """A long-running example process whose output is collected line by line."""

    def __init__(self, args: list[str], **kw) -> None:
        self.lines: list[str] = []
        self.p = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, bufsize=1,
                                  env=dict(os.environ, PYTHONUNBUFFERED="1", **kw.pop("env", {})), **kw)
        self._t = threading.Thread(target=self._read, daemon=True)
        self._t.start()

    def _read(self) -> None:
        for line in self.p.stdout:
            self.lines.append(line.rstrip("\n"))

    def wait_for(self, pattern: str, timeout: float = 30) -> re.Match:
        deadline = time.monotonic() + timeout
        rx = re.compile(pattern)
        while time.monotonic() < deadline:
            for line in list(self.lines):
                m = rx.search(line)
                if m:
                    return m
            if self.p.poll() is not None:
                time.sleep(0.2)
                break
            time.sleep(0.05)
        for line in list(self.lines):
            m = rx.search(line)
            if m:
                return m
        raise AssertionError(f"{pattern!r} never printed; output:\n" + "\n".join(self.lines[-40:]))

    def stop(self) -> str:
        if self.p.poll() is None:
            self.p.terminate()
            try:
                self.p.wait(10)
            except subprocess.TimeoutExpired:
                self.p.kill()
                self.p.wait(5)
        self._t.join(5)
        return "\n".join(self.lines)


def run(args: list[str], timeout: float = 90, **kw) -> subprocess.CompletedProcess:
    return subprocess.run(args, capture_output=True, text=True, timeout=timeout,
                          env=dict(os.environ, PYTHONUNBUFFERED="1"), **kw)


def python312() -> str | None:
    """A Python >= 3.12 on this machine (PATH, then pyenv), for examples/text/runner.py."""
    for name in ("python3.13", "python3.12"):
        if shutil.which(name):
            cand = [shutil.which(name)]
            break
    else:
        cand = []
    root = Path(os.environ.get("PYENV_ROOT", Path.home() / ".pyenv")) / "versions"
    if root.is_dir():
        cand += sorted(str(p / "bin" / "python") for p in root.iterdir() if re.match(r"3\.(1[2-9]|[2-9]\d)", p.name))
    for c in cand:
        try:
            out = subprocess.run([c, "-c", "import sys; print(sys.version_info >= (3, 12))"], capture_output=True,
                                 text=True, timeout=10)
        except (OSError, subprocess.TimeoutExpired):
            continue
        if out.stdout.strip() == "True":
            return c
    return None


class UpStack:
    """The running stack as these tests read it: its orchestrator server, its signer's URL, and every event."""

    def __init__(self, thread: StackThread) -> None:
        st = thread.stack
        self.orch = next(iter(st.orchestrators.values())).server
        self.signer_url = next(iter(st.signers.values())).url
        self._live: list = []
        st.bus.subscribe(self._live.append)
        self._early = list(st.bus.recent)  # what happened while the stack started

    def events(self, kind: str, **match) -> list:
        by_seq = {e.seq: e for e in [*self._early, *list(self._live)]}
        return [e for _, e in sorted(by_seq.items())
                if e.kind == kind and all(e.data.get(k) == v for k, v in match.items())]


@pytest.fixture(scope="module")
def stack():
    assert EXAMPLES.is_dir(), "the SDK's sdist is unpacked into .sdk/ by `make bootstrap`"
    spec = up_spec(chain="mock", gateway=False, live_runner_config=str(EXAMPLES / "text" / "runners.json"))
    with StackThread(spec) as t:
        yield UpStack(t)


def discovery(st) -> list[dict]:
    with urllib.request.urlopen(st.orch.http_url + "/discovery", timeout=5) as r:
        return json.load(r)[0].get("runners", [])


def wait_until(cond, timeout: float = 20, what: str = "condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        got = cond()
        if got:
            return got
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def make_input(path: Path, frames: int = 30, fps: int = 10) -> int:
    """An H.264 MPEG-TS file of a moving test pattern (PyAV), ``frames`` frames at ``fps``. The SDK's MediaPublish
    is a real-time pipeline that drops frames when its encoder falls behind media time (queue overflow, "debt"),
    so the clip is small and slow (64x48, 10 fps) to stay well inside that budget on a loaded 2-core machine."""
    out = av.open(str(path), "w", format="mpegts")
    s = out.add_stream("libx264", rate=fps)
    s.width, s.height, s.pix_fmt = 64, 48, "yuv420p"
    for i in range(frames):
        f = mpegts.test_pattern_frame(i, 64, 48)
        f.pts = i
        for p in s.encode(f):
            out.mux(p)
    for p in s.encode():
        out.mux(p)
    out.close()
    return frames


def count_frames(path: Path) -> int:
    with av.open(str(path)) as c:
        return sum(1 for _ in c.decode(video=0))


# ------------------------------------------------------------------------------------------------ echo
def test_echo_runner_and_client_unmodified(stack, tmp_path):
    """The echo example end to end. The SDK's MediaPublish is real-time and lossy by design (it drops frames when
    its encoder queue overflows or falls behind media time, and its close cancels segment tasks), so on a loaded
    machine the echo *runner* sometimes publishes fewer frames than it read; lpdev's part is checked on every
    attempt (every byte the runner published on ``out`` reached the client's file; the session, its channels and
    its capacity are released), and the client is run up to 3 times for one attempt whose output has every frame."""
    free_port(8989)
    n_in = make_input(tmp_path / "in.ts", 15)
    assert count_frames(tmp_path / "in.ts") == n_in
    runner = Proc([sys.executable, str(EXAMPLES / "echo" / "runner.py"), "--orchestrator", stack.orch.http_url,
                   "--orchSecret", "abcdef"])
    attempts = []
    try:
        m = runner.wait_for(r"runner_id=(runner_[a-z2-7]{8}) orchestrator=(\S+)")
        rid = m.group(1)
        assert m.group(2) == stack.orch.http_url
        wait_until(lambda: any(r["app"] == "livepeer-sample/echo" for r in discovery(stack)), what="echo runner")
        for attempt in range(3):
            out = tmp_path / f"echo-out-{attempt}.ts"
            client = run([sys.executable, str(EXAMPLES / "echo" / "client.py"), "--discovery",
                          stack.orch.http_url + "/discovery", "--output", str(out), str(tmp_path / "in.ts")],
                         cwd=tmp_path)
            assert client.returncode == 0, client.stdout + client.stderr
            sid = re.search(r"session_id: (session_[a-z2-7]{8})", client.stderr).group(1)
            assert f"app_url: {stack.orch.http_url}/apps/{rid}/session/{sid}/app" in client.stderr
            assert f"in: {stack.orch.http_url}/ai/trickle/{sid}-in" in client.stderr
            assert f"out: {stack.orch.http_url}/ai/trickle/{sid}-out" in client.stderr
            assert "publish complete; waiting for output to drain..." in client.stderr
            runner.wait_for(f"started echo session {sid}")
            # lpdev's part: the client's file holds every byte the runner published on `out`
            published = sum(e.data["bytes"] for e in stack.events("trickle.segment.published", channel=f"{sid}-out"))
            assert out.stat().st_size == published
            # the client's stop released the session: capacity back, channels closed, the runner told over O2R
            wait_until(lambda: stack.events("runner.session_released", session_id=sid), what="session released")
            assert [e.data["reason"] for e in stack.events("runner.session_released", session_id=sid)] == ["stopped"]
            hub = stack.orch.lv2v.hub
            assert hub.get(f"{sid}-in") is None and hub.get(f"{sid}-out") is None
            proxied = stack.events("runner.proxied", session_id=sid)
            assert proxied and proxied[0].data["path"] == "/echo" and proxied[0].data["status"] == 200
            entry = next(r for r in discovery(stack) if r["app"] == "livepeer-sample/echo")
            assert entry["capacity_used"] == 0 and "price_info" not in entry
            # nothing published on `out` (seen once on a loaded machine): a lossy attempt like any other, with what
            # reached `in` and what the runner was dealt from it named in the failure if no attempt is whole
            attempts.append((count_frames(out) if published else 0,
                             len(stack.events("trickle.segment.published", channel=f"{sid}-in")),
                             len(stack.events("trickle.subscribed", channel=f"{sid}-in"))))
            if attempts[-1][0] == n_in:
                break
        assert attempts[-1][0] == n_in, f"(frames out, segments in, segments dealt to the runner) per attempt " \
                                        f"{attempts} (frames in: {n_in})"
    finally:
        log = runner.stop()
    assert "Traceback" not in log, log


# ------------------------------------------------------------------------------------------------ ping-pong
def test_ping_pong_websocket_through_the_plain_http_entry(stack):
    free_port(8991)
    runner = Proc([sys.executable, str(EXAMPLES / "ping-pong" / "runner.py"), "--orchestrator",
                   stack.orch.http_url, "--orchSecret", "abcdef"])
    try:
        rid = runner.wait_for(r"runner_id=(runner_[a-z2-7]{8})").group(1)
        entry = wait_until(lambda: next((r for r in discovery(stack) if r["app"] == "livepeer-sample/ping-pong"),
                                        None), what="ping-pong runner")
        assert entry["url"] == f"{stack.orch.http_url}/apps/{rid}/app" and entry["mode"] == "single-shot"
        client = run([sys.executable, str(EXAMPLES / "ping-pong" / "client.py"), "--discovery",
                      stack.orch.http_url + "/discovery", "--count", "5"])
        assert client.returncode == 0, client.stdout + client.stderr
        trips = re.findall(r"ping-pong receiver_delta_ms=([\d.]+) round_trip_ms=([\d.]+)", client.stdout)
        assert len(trips) == 5, client.stdout
        assert f"connected: {stack.orch.http_url}/apps/{rid}/app/ws" in client.stderr
        runner.wait_for("websocket session opened")
        runner.wait_for("websocket session closed")
        ws = wait_until(lambda: [e for e in stack.events("runner.proxied", runner_id=rid) if e.data["websocket"]],
                        what="proxied websocket")
        assert ws[0].data["messages_in"] == 5 and ws[0].data["messages_out"] == 5 and ws[0].data["status"] == 101
        sid = ws[0].data["session_id"]
        assert [e.data["reason"] for e in stack.events("runner.session_released", session_id=sid)] == \
            ["single-shot done"]
        # the same WebSocket over the TLS entry fails the client's certificate check, which is why the entry exists
        tls = run([sys.executable, str(EXAMPLES / "ping-pong" / "client.py"), "--discovery",
                   stack.orch.url + "/discovery", "--count", "1"])
        assert tls.returncode != 0 and "certificate verify failed" in (tls.stdout + tls.stderr).lower()
    finally:
        out = runner.stop()
    assert "Traceback" not in out, out
    # the runner unregistered on exit (its cleanup calls registration.close())
    wait_until(lambda: stack.events("runner.unregistered", runner_id=rid), what="unregister")


# ------------------------------------------------------------------------------------------------ text
def test_text_static_runner_streams_story_and_sse(stack):
    py = python312()
    if py is None:
        pytest.fail("examples/text/runner.py needs Python >= 3.12 (backslash in an f-string) and none was found "
                    "on PATH or in pyenv: install one (e.g. `pyenv install 3.12`)")
    if not shutil.which("curl"):
        pytest.fail("the text example is driven with curl, which is not installed (apt-get install curl)")
    free_port(8990)
    # registered from runners.json at start; unhealthy (runner not up) = hidden from discovery
    reg = [e for e in stack.events("runner.registered") if e.data.get("label") == "story-runner"]
    assert len(reg) == 1 and reg[0].data["healthy"] is False and reg[0].data["route"] == "story-runner"
    assert not any(r["app"] == "livepeer/read-story" for r in discovery(stack))
    runner = Proc([py, "runner.py"], cwd=EXAMPLES / "text", env={"PYTHONPATH": str(VENV_SITE)})
    try:
        entry = wait_until(lambda: next((r for r in discovery(stack) if r["app"] == "livepeer/read-story"), None),
                           what="story-runner healthy")
        assert entry["url"] == f"{stack.orch.http_url}/apps/story-runner/app"
        assert entry["metadata"] == "{'title':'The Open Window', 'author': 'Saki'}" and entry["capacity"] == 10
        story = (EXAMPLES / "text" / "story.txt").read_text(encoding="utf-8")
        text = run(["curl", "-sN", "--max-time", "3", stack.orch.http_url + "/apps/story-runner/app/text"])
        assert len(text.stdout) > 40 and story.startswith(text.stdout), text.stdout[:200]
        sse = run(["curl", "-sN", "--max-time", "2.6", stack.orch.http_url + "/apps/story-runner/app/sse"])
        events = [ln[len("data: "):] for ln in sse.stdout.split("\n") if ln.startswith("data: ")]
        assert len(events) >= 4 and events == story.split("\n")[:len(events)], sse.stdout
        # curl without the trailing slash gets go's 301 to /app/
        redir = run(["curl", "-si", "--max-time", "3", stack.orch.http_url + "/apps/story-runner/app"])
        assert "301" in redir.stdout.split("\n")[0] and "location: /apps/story-runner/app/" in redir.stdout.lower()
    finally:
        runner.stop()
    wait_until(lambda: not any(r["app"] == "livepeer/read-story" for r in discovery(stack)),
               what="story-runner hidden once unhealthy")
    assert stack.events("runner.health", label="story-runner", status="unavailable")


# ------------------------------------------------------------------------------------------------ live video
def test_lv2v_examples_that_work_against_lpdev(stack, tmp_path):
    o, s = bare(stack.orch.url), bare(stack.signer_url)
    info = run([sys.executable, str(EXAMPLES / "get_orchestrator_info.py"), o, "--signer", s])
    assert info.returncode == 0 and "Live video to video" in info.stdout and "noop" in info.stdout, \
        info.stdout + info.stderr
    sel = run([sys.executable, str(EXAMPLES / "select_orchestrator.py"), o, "--signer", s, "--model", "noop"])
    assert sel.returncode == 0 and "=== Selected Orchestrator ===" in sel.stdout, sel.stdout + sel.stderr
    job = run([sys.executable, str(EXAMPLES / "start_job.py"), o, "--signer", s])
    assert job.returncode == 0 and "manifest_id" in job.stdout, job.stdout + job.stderr
    ctl = run([sys.executable, str(EXAMPLES / "write_control.py"), o, "--signer", s, "--count", "3"])
    assert ctl.returncode == 0 and "ERROR" not in ctl.stdout + ctl.stderr, ctl.stdout + ctl.stderr
    evs = run([sys.executable, str(EXAMPLES / "subscribe_events.py"), o, "--signer", s, "--count", "1"])
    assert evs.returncode == 0 and '"ONLINE"' in evs.stdout.replace("'", '"'), evs.stdout + evs.stderr
    frames = run([sys.executable, str(EXAMPLES / "write_frames.py"), o, "--signer", s, "--count", "30"])
    assert frames.returncode == 0 and "ERROR" not in frames.stdout + frames.stderr, frames.stdout + frames.stderr
