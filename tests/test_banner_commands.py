"""The banner's SDK commands work verbatim (issue 16): `lpdev up` prints them, and each one, pasted into a fresh
shell in a folder that is not lpdev's, runs the livepeer-gateway SDK's own example against the stack and exits 0
without an ERROR line."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from stack.cast import SDK_EXAMPLES

pytestmark = [pytest.mark.anvil, pytest.mark.sdk, pytest.mark.slow]
ROOT = Path(__file__).resolve().parents[1]


def banner_commands(text: str) -> list[str]:
    lines = text.splitlines()
    start = next(i for i, x in enumerate(lines) if x.startswith("Try the SDK's own examples"))
    out = []
    for x in lines[start + 1:]:
        if not x.startswith("  "):
            break
        out.append(x.strip())
    return out


def test_every_banner_sdk_command_runs_verbatim_in_a_fresh_shell_elsewhere(tmp_path):
    assert SDK_EXAMPLES.is_dir(), "the SDK's examples are unpacked into .sdk/ by `make bootstrap`"
    home, elsewhere = tmp_path / "stack", tmp_path / "elsewhere"
    home.mkdir()
    elsewhere.mkdir()
    proc = subprocess.Popen([sys.executable, "-m", "lpdev", "up", "--headless", "--any-port", "--remote-discovery",
                             "--config-out", str(home / "cast.json")], cwd=home, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, start_new_session=True,
                            env={**os.environ, "PYTHONPATH": str(ROOT)})
    out: list[str] = []
    threading.Thread(target=lambda: out.extend(proc.stdout), daemon=True).start()
    try:
        deadline = time.monotonic() + 90
        while "Ctrl-C stops everything" not in "".join(out):  # the banner's last line: all of it is there
            assert proc.poll() is None and time.monotonic() < deadline, "".join(out)[-3000:]
            time.sleep(0.05)
        commands = banner_commands("".join(out))
        assert len(commands) >= 5, commands
        assert all(c.startswith(sys.executable) for c in commands)  # an absolute interpreter, not "python"
        assert all("--signer" in c or "--token" in c or "signer_url" in c for c in commands)
        for cmd in commands:
            # a fresh shell: nothing of lpdev's environment but PATH and HOME, in a folder of its own
            r = subprocess.run(["bash", "-c", cmd], cwd=elsewhere, capture_output=True, text=True, timeout=120,
                               env={"PATH": os.environ["PATH"], "HOME": os.environ.get("HOME", str(tmp_path))})
            text = r.stdout + r.stderr
            assert r.returncode == 0 and "ERROR" not in text and "Traceback" not in text, (cmd, text[-2000:])
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
            proc.wait(60)
