"""A missing anvil is installed once from the pinned npm package (issue 7: "anvil by default, installed from the
pinned npm package if missing"), with a fake `npm` on PATH (no network); without npm, or when npm fails, the
error is today's message plus the reason; LPDEV_ANVIL is respected. A binary that dies at start or never reports
its port names the fix, like the missing-binary error does."""
from __future__ import annotations

import json
import os
import shutil
import sys
from pathlib import Path

import pytest

from devnet.backends import anvil
from devnet.base import AnvilCrashed, AnvilMissing

ROOT = Path(__file__).resolve().parent.parent


def fake_npm(bindir: Path, *, exit_code: int = 0, stub_body: str = "#!/bin/sh\nexit 0\n",
             stderr: str = "") -> Path:
    """An `npm` that records its argv and, on success, "installs" a stub anvil where the pinned package puts it."""
    bindir.mkdir(parents=True, exist_ok=True)
    npm = bindir / "npm"
    rel = f"node_modules/@foundry-rs/{anvil.platform_package()}/bin/anvil"
    npm.write_text(f"""#!{sys.executable}
import os, sys
with open("npm-calls.txt", "a") as f:
    f.write(" ".join(sys.argv[1:]) + "\\n")
sys.stderr.write({stderr!r})
if {exit_code}:
    sys.exit({exit_code})
os.makedirs(os.path.dirname({rel!r}), exist_ok=True)
with open({rel!r}, "w") as f:
    f.write({stub_body!r})
os.chmod({rel!r}, 0o755)
""")
    npm.chmod(0o755)
    return npm


def tools_copy(tmp_path: Path, lock: bool = True) -> Path:
    tools = tmp_path / "tools"
    tools.mkdir()
    shutil.copy(anvil.TOOLS_DIR / "package.json", tools / "package.json")
    if lock:
        shutil.copy(anvil.TOOLS_DIR / "package-lock.json", tools / "package-lock.json")
    return tools


@pytest.fixture
def no_anvil(tmp_path, monkeypatch):
    """A checkout without devnet/tools/node_modules, no anvil on PATH and no LPDEV_ANVIL."""
    tools = tools_copy(tmp_path)
    monkeypatch.setattr(anvil, "TOOLS_DIR", tools)
    monkeypatch.delenv("LPDEV_ANVIL", raising=False)
    bindir = tmp_path / "bin"
    bindir.mkdir()
    monkeypatch.setenv("PATH", str(bindir))
    return tools, bindir


@pytest.mark.skipif(anvil.platform_package() is None, reason="no anvil npm package for this platform")
def test_missing_anvil_is_installed_with_npm_ci_once(no_anvil):
    tools, bindir = no_anvil
    fake_npm(bindir)
    said: list[str] = []
    path = anvil.ensure_anvil(log=said.append)
    assert path == str(tools / "node_modules" / "@foundry-rs" / anvil.platform_package() / "bin" / "anvil")
    assert (tools / "npm-calls.txt").read_text().split()[0] == "ci"
    assert len(said) == 1 and "installing the pinned @foundry-rs/anvil 1.7.1 with `npm ci`" in said[0]
    assert "one-time" in said[0]
    assert (tools / "node_modules" / ".lpdev-installed").exists()  # the Makefile's stamp
    # one-time: the next call finds it and runs nothing
    assert anvil.ensure_anvil(log=said.append) == path
    assert len((tools / "npm-calls.txt").read_text().splitlines()) == 1 and len(said) == 1


@pytest.mark.skipif(anvil.platform_package() is None, reason="no anvil npm package for this platform")
def test_without_a_lock_file_it_runs_npm_install(tmp_path, monkeypatch):
    tools = tools_copy(tmp_path, lock=False)
    monkeypatch.setattr(anvil, "TOOLS_DIR", tools)
    monkeypatch.delenv("LPDEV_ANVIL", raising=False)
    monkeypatch.setenv("PATH", str(tmp_path / "bin"))
    fake_npm(tmp_path / "bin")
    anvil.ensure_anvil(log=lambda m: None)
    assert (tools / "npm-calls.txt").read_text().split()[0] == "install"


def test_no_npm_keeps_the_message_and_says_why(no_anvil):
    tools, _ = no_anvil
    with pytest.raises(AnvilMissing) as ei:
        anvil.ensure_anvil(log=lambda m: pytest.fail(f"no install without npm: {m}"))
    msg = str(ei.value)
    assert msg.startswith("anvil binary not found") and "make bootstrap" in msg and "LPDEV_ANVIL" in msg
    assert "npm is not on PATH" in msg


def test_failing_npm_gives_its_reason(no_anvil):
    tools, bindir = no_anvil
    fake_npm(bindir, exit_code=1, stderr="npm ERR! code ENOTFOUND\nnpm ERR! network registry unreachable\n")
    said: list[str] = []
    with pytest.raises(AnvilMissing) as ei:
        anvil.ensure_anvil(log=said.append)
    msg = str(ei.value)
    assert said and msg.startswith("anvil binary not found") and "make bootstrap" in msg
    assert "`npm ci` in devnet/tools failed with exit code 1" in msg and "registry unreachable" in msg


def test_lpdev_anvil_is_respected_no_install(no_anvil, monkeypatch):
    tools, bindir = no_anvil
    fake_npm(bindir)
    monkeypatch.setenv("LPDEV_ANVIL", str(tools / "no-such-anvil"))
    with pytest.raises(AnvilMissing) as ei:
        anvil.ensure_anvil(log=lambda m: pytest.fail("installed although LPDEV_ANVIL is set"))
    assert "LPDEV_ANVIL=" in str(ei.value)
    assert not (tools / "npm-calls.txt").exists()


def _fake_binary(tmp_path: Path, body: str) -> str:
    fake = tmp_path / "anvil"
    fake.write_text(body)
    fake.chmod(0o755)
    return str(fake)


def test_anvil_exiting_at_start_names_the_fix(tmp_path, monkeypatch):
    monkeypatch.setenv("LPDEV_ANVIL", _fake_binary(tmp_path, "#!/bin/sh\nexit 3\n"))
    with pytest.raises(AnvilCrashed) as ei:
        anvil.AnvilProcess.start(timeout=10)
    msg = str(ei.value)
    assert "exited at start with code 3: (no output)" in msg
    assert "LPDEV_ANVIL" in msg and "make bootstrap" in msg and "--chain embedded" in msg and "--backend embedded" in msg


def test_anvil_never_reporting_its_port_names_the_fix(tmp_path, monkeypatch):
    monkeypatch.setenv("LPDEV_ANVIL", _fake_binary(tmp_path, "#!/bin/sh\nexec sleep 30\n"))
    with pytest.raises(AnvilCrashed) as ei:
        anvil.AnvilProcess.start(timeout=0.3)
    msg = str(ei.value)
    assert "did not report its port within" in msg
    assert "LPDEV_ANVIL" in msg and "make bootstrap" in msg and "--chain embedded" in msg and "--backend embedded" in msg
