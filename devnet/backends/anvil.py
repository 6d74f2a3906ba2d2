"""A managed anvil subprocess: find the pinned binary, start on a free port, wait until it answers, stop it
without leaving an orphan.

- Binary: ``$LPDEV_ANVIL``, else the platform binary of the pinned npm package ``@foundry-rs/anvil`` in
  ``devnet/tools/node_modules`` (``make bootstrap`` installs it), else ``anvil`` on PATH.
- Port: ``--port 0`` (the OS picks a free port, no race) unless one is asked for; the port is read from
  anvil's "Listening on" line.
- Readiness: ``eth_chainId`` answers; bounded by a timeout; if anvil exits first, :class:`AnvilCrashed` carries
  its output.
- Stop: anvil runs in its own process group; SIGTERM to the group, then SIGKILL after a grace period, then
  reap. On Linux the child also gets SIGTERM if the thread that started it dies (PR_SET_PDEATHSIG), so a killed
  test runner leaves no anvil behind. ``atexit`` stops anything still running.
"""
from __future__ import annotations

import atexit
import collections
import json
import os
import platform
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

from devnet.base import AnvilCrashed, AnvilMissing, ChainError

__all__ = ["AnvilProcess", "find_anvil"]

ROOT = Path(__file__).resolve().parent.parent.parent
NODE_MODULES = ROOT / "devnet" / "tools" / "node_modules"
READY_TIMEOUT_S = 15.0
STOP_GRACE_S = 3.0
_LISTEN = re.compile(rb"Listening on ([0-9.]+):(\d+)")

_running: "set[AnvilProcess]" = set()


def find_anvil() -> str:
    """Path of the anvil binary, or raise :class:`AnvilMissing` naming the fix."""
    env = os.environ.get("LPDEV_ANVIL")
    if env:
        if os.path.isfile(env) and os.access(env, os.X_OK):
            return env
        raise AnvilMissing(f"LPDEV_ANVIL={env} is not an executable file: point it at an anvil binary or unset it")
    arch = {"x86_64": "amd64", "amd64": "amd64", "aarch64": "arm64", "arm64": "arm64"}.get(platform.machine().lower())
    plat = {"linux": "linux", "darwin": "darwin"}.get(sys.platform)
    if arch and plat:
        p = NODE_MODULES / "@foundry-rs" / f"anvil-{plat}-{arch}" / "bin" / "anvil"
        if p.is_file() and os.access(p, os.X_OK):
            return str(p)
    wrapper = NODE_MODULES / ".bin" / "anvil"
    if wrapper.exists() and shutil.which("node"):
        return str(wrapper)
    on_path = shutil.which("anvil")
    if on_path:
        return on_path
    raise AnvilMissing("anvil binary not found (looked for LPDEV_ANVIL, devnet/tools/node_modules/@foundry-rs and "
                       "PATH): run `make bootstrap` to install the pinned @foundry-rs/anvil, or set "
                       "LPDEV_ANVIL=/path/to/anvil, or use --backend embedded")


def _load_prctl():
    """libc's prctl, resolved in the parent so the child does no dlopen/import between fork and exec."""
    try:
        import ctypes

        return ctypes.CDLL(None, use_errno=True).prctl
    except Exception:
        return None


_PRCTL = _load_prctl() if sys.platform == "linux" else None
_SIGTERM = int(signal.SIGTERM)


def _pdeathsig():  # runs in the child between fork and exec: keep it to one foreign call
    _PRCTL(1, _SIGTERM)  # PR_SET_PDEATHSIG


class AnvilProcess:
    """One running anvil. Use :meth:`start`; :meth:`stop` is idempotent."""

    def __init__(self, popen: subprocess.Popen, binary: str):
        self.popen = popen
        self.binary = binary
        self.pid = popen.pid
        self.url: str | None = None
        self.port: int | None = None
        self._tail: collections.deque[bytes] = collections.deque(maxlen=40)
        self._port_event = threading.Event()
        self._stopped = False
        self._ready = False
        self._reader = threading.Thread(target=self._drain, name=f"anvil-{self.pid}-stdout", daemon=True)
        self._reader.start()

    # anvil logs every request/tx on stdout: drain it continuously so the pipe never fills up
    def _drain(self) -> None:
        for line in iter(self.popen.stdout.readline, b""):
            self._tail.append(line.rstrip())
            if self.port is None:
                m = _LISTEN.search(line)
                if m:
                    self.port = int(m.group(2))
                    self.url = f"http://127.0.0.1:{self.port}"
                    self._port_event.set()
        self._port_event.set()

    def output_tail(self, n: int = 8) -> str:
        lines = [b.decode(errors="replace") for b in list(self._tail)[-n:] if b.strip()]
        return " | ".join(lines) or "(no output)"

    @classmethod
    def start(cls, *, port: int | None = None, chain_id: int = 31337, extra_args: list[str] | None = None,
              timeout: float = READY_TIMEOUT_S) -> "AnvilProcess":
        """Spawn and wait until anvil answers JSON-RPC."""
        proc = cls.spawn(port=port, chain_id=chain_id, extra_args=extra_args)
        try:
            proc.wait_ready(timeout)
        except BaseException:
            proc.stop()
            raise
        return proc

    @classmethod
    def spawn(cls, *, port: int | None = None, chain_id: int = 31337,
              extra_args: list[str] | None = None) -> "AnvilProcess":
        """Start anvil without waiting (call :meth:`wait_ready`), so the caller can work meanwhile."""
        binary = find_anvil()
        args = [binary, "--host", "127.0.0.1", "--port", str(port or 0), "--chain-id", str(chain_id),
                "--accounts", "10"] + list(extra_args or [])
        main_thread = threading.current_thread() is threading.main_thread()
        try:
            popen = subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                     stderr=subprocess.STDOUT, start_new_session=True,
                                     preexec_fn=_pdeathsig if (main_thread and _PRCTL is not None) else None)
        except OSError as exc:
            raise AnvilMissing(f"cannot run anvil at {binary}: {exc}; run `make bootstrap` or set LPDEV_ANVIL") from None
        proc = cls(popen, binary)
        _running.add(proc)
        return proc

    def wait_ready(self, timeout: float = READY_TIMEOUT_S) -> None:
        """Block until anvil answers ``eth_chainId``; :class:`AnvilCrashed` if it exits or times out."""
        if self._ready:
            return
        try:
            self._wait_ready(timeout)
        except BaseException:
            self.stop()
            raise
        self._ready = True

    def _wait_ready(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while not self._port_event.wait(0.005):
            if self.popen.poll() is not None or time.monotonic() > deadline:
                break
        if self.url is None:
            self._port_event.wait(0.2)  # let the reader collect the last lines
            if self.popen.poll() is not None:
                hint = " (port in use? choose another --port)" if "in use" in self.output_tail() else ""
                raise AnvilCrashed(f"anvil exited at start with code {self.popen.returncode}{hint}: "
                                   f"{self.output_tail()}")
            raise AnvilCrashed(f"anvil did not report its port within {timeout:.0f} s: {self.output_tail()}")
        body = json.dumps({"jsonrpc": "2.0", "id": 1, "method": "eth_chainId", "params": []}).encode()
        while True:
            try:
                req = urllib.request.Request(self.url, data=body, headers={"Content-Type": "application/json"})
                with urllib.request.urlopen(req, timeout=1.0) as resp:
                    if "result" in json.loads(resp.read()):
                        return
            except Exception:
                pass
            self.check_alive()
            if time.monotonic() > deadline:
                raise AnvilCrashed(f"anvil on {self.url} did not answer eth_chainId within {timeout:.0f} s: "
                                   f"{self.output_tail()}")
            time.sleep(0.005)

    def check_alive(self) -> None:
        """Raise :class:`AnvilCrashed` if the process has exited (other than by :meth:`stop`)."""
        if self._stopped:
            raise ChainError("this anvil was stopped (chain closed)")
        code = self.popen.poll()
        if code is not None:
            _running.discard(self)
            how = f"killed by signal {-code}" if code < 0 else f"exit code {code}"
            raise AnvilCrashed(f"anvil (pid {self.pid}) exited mid-run ({how}); the chain state is gone: "
                               f"restart with `lpdev chain up` (last output: {self.output_tail(4)})")

    def alive(self) -> bool:
        return self.popen.poll() is None

    def stop(self) -> None:
        """SIGTERM the process group, SIGKILL after a grace period, reap. Idempotent; never raises."""
        if self._stopped:
            return
        self._stopped = True
        _running.discard(self)
        for sig, wait in ((signal.SIGTERM, STOP_GRACE_S), (signal.SIGKILL, 5.0)):
            if self.popen.poll() is not None:
                break
            try:
                os.killpg(self.pid, sig)
            except (ProcessLookupError, PermissionError):
                try:
                    self.popen.send_signal(sig)
                except ProcessLookupError:
                    pass
            try:
                self.popen.wait(wait)
            except subprocess.TimeoutExpired:
                continue
        try:
            self.popen.wait(1.0)
        except subprocess.TimeoutExpired:
            pass
        self._reader.join(1.0)
        if self.popen.stdout and not self._reader.is_alive():
            try:
                self.popen.stdout.close()
            except Exception:
                pass


@atexit.register
def _stop_all() -> None:
    for p in list(_running):
        p.stop()
