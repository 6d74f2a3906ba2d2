"""A managed anvil subprocess: find the pinned binary, start on a free port, wait until it answers, stop it
without leaving an orphan.

- Binary: ``$LPDEV_ANVIL``, else the platform binary of the pinned npm package ``@foundry-rs/anvil`` in
  ``devnet/tools/node_modules`` (``make bootstrap`` installs it), else ``anvil`` on PATH. If none is found (and
  ``LPDEV_ANVIL`` is not set) and ``npm`` is on PATH, :func:`ensure_anvil` installs the pinned package once
  (``npm ci`` in ``devnet/tools``) and looks again; without npm, or if the install fails, the error says why.
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
import fcntl
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

__all__ = ["AnvilProcess", "find_anvil", "ensure_anvil"]

ROOT = Path(__file__).resolve().parent.parent.parent
TOOLS_DIR = ROOT / "devnet" / "tools"  # package.json pins @foundry-rs/anvil; node_modules is git-ignored
READY_TIMEOUT_S = 15.0
INSTALL_TIMEOUT_S = 600.0
# What to do when anvil is missing or broken (every anvil error ends with it).
FIX_HINT = ("set LPDEV_ANVIL=/path/to/anvil, or run `make bootstrap` to (re)install the pinned @foundry-rs/anvil, "
            "or run without anvil: `lpdev up --chain embedded` / `lpdev chain up --backend embedded`")
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
    node_modules = TOOLS_DIR / "node_modules"
    pkg = platform_package()
    if pkg:
        p = node_modules / "@foundry-rs" / pkg / "bin" / "anvil"
        if p.is_file() and os.access(p, os.X_OK):
            return str(p)
    wrapper = node_modules / ".bin" / "anvil"
    if wrapper.exists() and shutil.which("node"):
        return str(wrapper)
    on_path = shutil.which("anvil")
    if on_path:
        return on_path
    raise AnvilMissing("anvil binary not found (looked for LPDEV_ANVIL, devnet/tools/node_modules/@foundry-rs and "
                       "PATH): run `make bootstrap` to install the pinned @foundry-rs/anvil, or set "
                       "LPDEV_ANVIL=/path/to/anvil, or use --backend embedded")


def platform_package() -> str | None:
    """Name of the npm package holding this platform's anvil binary (an optional dependency of the pinned one)."""
    arch = {"x86_64": "amd64", "amd64": "amd64", "aarch64": "arm64", "arm64": "arm64"}.get(platform.machine().lower())
    plat = {"linux": "linux", "darwin": "darwin"}.get(sys.platform)
    return f"anvil-{plat}-{arch}" if arch and plat else None


def pinned_version() -> str:
    try:
        return json.loads((TOOLS_DIR / "package.json").read_text())["dependencies"]["@foundry-rs/anvil"]
    except (OSError, ValueError, KeyError, TypeError):
        return "(pinned)"


def _say(line: str) -> None:
    print(f"lpdev: {line}", file=sys.stderr, flush=True)


def ensure_anvil(log=_say) -> str:
    """:func:`find_anvil`, and if the binary is missing, install the pinned npm package once and look again.

    Not when ``LPDEV_ANVIL`` is set (the user chose a binary: its error stands). Needs ``npm`` on PATH; runs
    ``npm ci`` (``npm install`` without a lock file) in ``devnet/tools`` under a lock, so two lpdev processes do
    not install at once. Raises :class:`AnvilMissing` with the reason when npm is missing or the install fails.
    """
    try:
        return find_anvil()
    except AnvilMissing as exc:
        if os.environ.get("LPDEV_ANVIL"):
            raise
        missing = str(exc)
    npm = shutil.which("npm")
    if npm is None:
        raise AnvilMissing(f"{missing} (npm is not on PATH, so lpdev could not install it: install Node.js/npm)")
    lock_path = TOOLS_DIR / "package.json"
    try:
        lock = open(lock_path, "rb")
    except OSError as exc:
        raise AnvilMissing(f"{missing} (cannot install it: {exc})") from None
    with lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # another lpdev may be installing: wait for it, then look again
        try:
            return find_anvil()
        except AnvilMissing:
            pass
        ci = (TOOLS_DIR / "package-lock.json").exists()
        cmd = [npm, "ci" if ci else "install", "--no-audit", "--no-fund", "--loglevel=error"]
        shown = f"npm {cmd[1]}"
        log(f"anvil not found: installing the pinned @foundry-rs/anvil {pinned_version()} with `{shown}` in "
            "devnet/tools (one-time; later runs reuse it)...")
        try:
            r = subprocess.run(cmd, cwd=TOOLS_DIR, stdin=subprocess.DEVNULL, capture_output=True, text=True,
                               timeout=INSTALL_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            raise AnvilMissing(f"{missing} (`{shown}` in devnet/tools did not finish within "
                               f"{INSTALL_TIMEOUT_S:.0f} s)") from None
        except OSError as exc:
            raise AnvilMissing(f"{missing} (`{shown}` in devnet/tools could not run: {exc})") from None
        if r.returncode != 0:
            tail = " | ".join(ln.strip() for ln in (r.stderr or r.stdout or "").splitlines() if ln.strip())[-400:]
            raise AnvilMissing(f"{missing} (`{shown}` in devnet/tools failed with exit code {r.returncode}: "
                               f"{tail or '(no output)'})")
        try:
            found = find_anvil()
        except AnvilMissing:
            raise AnvilMissing(f"{missing} (`{shown}` in devnet/tools succeeded but installed no anvil binary for "
                               f"this platform ({platform_package() or platform.machine() + ' ' + sys.platform}))"
                               ) from None
        try:  # the Makefile's stamp: `make` need not run npm again
            (TOOLS_DIR / "node_modules" / ".lpdev-installed").touch()
        except OSError:
            pass
        return found


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
        binary = ensure_anvil()
        args = [binary, "--host", "127.0.0.1", "--port", str(port or 0), "--chain-id", str(chain_id),
                "--accounts", "10"] + list(extra_args or [])
        main_thread = threading.current_thread() is threading.main_thread()
        try:
            popen = subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                     stderr=subprocess.STDOUT, start_new_session=True,
                                     preexec_fn=_pdeathsig if (main_thread and _PRCTL is not None) else None)
        except OSError as exc:
            raise AnvilMissing(f"cannot run anvil at {binary}: {exc}; {FIX_HINT}") from None
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
            # The reader sets the event at end of output too, which can come a moment before the process is
            # reapable: wait for the exit itself (briefly) so a crash is not reported as a timeout.
            try:
                self.popen.wait(1.0)
            except subprocess.TimeoutExpired:
                pass
            self._reader.join(0.2)  # let the reader collect the last lines
            if self.popen.poll() is not None:
                hint = " (port in use? choose another --port)" if "in use" in self.output_tail() else ""
                raise AnvilCrashed(f"anvil exited at start with code {self.popen.returncode}{hint}: "
                                   f"{self.output_tail()}" + ("" if hint else f"; {FIX_HINT}"))
            raise AnvilCrashed(f"anvil did not report its port within {timeout:g} s: {self.output_tail()}; "
                               f"{FIX_HINT}")
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
                                   f"{self.output_tail()}; {FIX_HINT}")
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
