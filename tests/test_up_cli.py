"""`lpdev up` as a user runs it: a real subprocess. The --config-out file appears only once every service answers
(and is complete JSON the moment it appears); payments flow in the log; SIGTERM and SIGINT stop everything it
started, anvil included (no orphan); a missing anvil says how to install it; a taken port names the port."""
from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
LPDEV = [sys.executable, "-m", "lpdev"]


def children(pid: int) -> set[int]:
    """Every descendant pid of ``pid`` (from /proc)."""
    kids: dict[int, list[int]] = {}
    for d in Path("/proc").iterdir():
        if not d.name.isdigit():
            continue
        try:
            stat = (d / "stat").read_text()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        kids.setdefault(ppid, []).append(int(d.name))
    out, todo = set(), [pid]
    while todo:
        for c in kids.get(todo.pop(), []):
            if c not in out:
                out.add(c)
                todo.append(c)
    return out


def cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace")
    except OSError:
        return ""


def alive(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


class Up:
    def __init__(self, tmp: Path, *extra: str, env: dict | None = None, lpdev: list[str] = LPDEV) -> None:
        self.out = tmp / "cast.json"
        self.state = tmp / "state.json"
        self.lines: list[str] = []
        args = lpdev + ["up", "--headless", "--any-port", "--config-out", str(self.out), "--state-file",
                        str(self.state), *extra]
        self.proc = subprocess.Popen(args, cwd=tmp, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                                     env={**os.environ, "PYTHONPATH": str(ROOT), **(env or {})},
                                     start_new_session=True)
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        for line in self.proc.stdout:
            self.lines.append(line.rstrip("\n"))

    def text(self) -> str:
        return "\n".join(self.lines)

    def wait_for_file(self, timeout: float = 90) -> dict:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.out.exists():
                return json.loads(self.out.read_text())  # complete the moment it exists (temp + rename)
            if self.proc.poll() is not None:
                break
            time.sleep(0.02)
        self.kill()
        raise AssertionError(f"no config file; lpdev up said:\n{self.text()}")

    def wait_for_line(self, needle: str, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if any(needle in x for x in self.lines):
                return
            time.sleep(0.05)
        raise AssertionError(f"{needle!r} never logged:\n{self.text()}")

    def kill(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(10)


def rpc(url: str, method: str) -> dict:
    import urllib.request

    req = urllib.request.Request(url, data=json.dumps({"jsonrpc": "2.0", "id": 1, "method": method,
                                                       "params": []}).encode(),
                                 headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=5) as r:
        return json.loads(r.read())


@pytest.mark.anvil
@pytest.mark.slow
@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_up_ready_file_payments_and_clean_stop(tmp_path, sig):
    up = Up(tmp_path, "--block-time", "0.5", "--interval", "1", "--seed", "5", "--serve-events", "127.0.0.1:0")
    try:
        doc = up.wait_for_file()
        # the file appears only when every service answers: check each one right now
        for k in ("eth_url", "chain_id", "controller", "contracts", "signer_url", "signer_address", "orchestrators",
                  "sender", "token"):
            assert k in doc, k
        assert doc["chain_id"] == 31337 and doc["contracts"]["Controller"] == doc["controller"]
        assert int(rpc(doc["eth_url"], "eth_chainId")["result"], 16) == 31337
        assert doc["sender"]["deposit"] > 0 and doc["sender"]["reserve"] > 0
        assert json.loads(up.state.read_text()) == doc
        import ssl
        import urllib.request

        ctx = ssl._create_unverified_context()
        req = urllib.request.Request(doc["signer_url"] + "/sign-orchestrator-info", data=b"{}", method="POST")
        with urllib.request.urlopen(req, timeout=5, context=ctx) as r:
            assert json.loads(r.read())["address"].lower() == doc["signer_address"].lower()
        from livepeer_gateway import get_orch_info  # installed by make; a broken install fails here

        o = doc["orchestrators"][0]
        info = get_orch_info(o["url"].split("://")[1], signer_url=doc["signer_url"].split("://")[1])
        assert "0x" + info.address.hex() == o["address"].lower()
        # the scripted gateway's payments show in the log, as the orchestrator's credits
        up.wait_for_line("ticket(s) from 0x3c44cddd…, manifest ")
        assert "PUBLIC THROWAWAY DEV KEYS" in up.text()
        # --serve-events: another terminal can follow this stack (`lpdev tui --attach URL`)
        import re

        feed = re.search(r"follow them with `lpdev tui --attach (http://[0-9.:]+)`", up.text()).group(1)
        # the credit is logged while the orchestrator answers; the gateway's own gateway.payment follows the answer
        deadline = time.monotonic() + 15
        while True:
            with urllib.request.urlopen(feed + "/events?since=0", timeout=5) as r:
                kinds_seen = {json.loads(line)["kind"] for line in r.read().decode().splitlines() if line.strip()}
            if {"gateway.payment", "signer.payment"} <= kinds_seen or time.monotonic() > deadline:
                break
            time.sleep(0.1)
        assert "gateway.payment" in kinds_seen and "signer.payment" in kinds_seen, sorted(kinds_seen)
        kids = children(up.proc.pid)
        anvil = [p for p in kids if "anvil" in cmdline(p)]
        assert anvil, "no anvil child found"
        os.killpg(up.proc.pid, sig) if sig == signal.SIGINT else up.proc.send_signal(sig)
        assert up.proc.wait(30) in (0, 130)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and any(alive(p) for p in kids):
            time.sleep(0.05)
        assert not [p for p in kids if alive(p)], "processes left behind"
        assert not up.out.exists() and not up.state.exists()  # stale files would point at a dead stack
        assert "stopped after" in up.text()
    finally:
        up.kill()


def test_missing_anvil_says_how_to_install(tmp_path):
    """LPDEV_ANVIL names a binary that is not there: the user's choice stands (no install), exit 1 with the fix."""
    up = Up(tmp_path, env={"LPDEV_ANVIL": str(tmp_path / "no-such-anvil")})
    assert up.proc.wait(60) == 1
    up._reader.join(5)
    text = up.text()
    assert "make bootstrap" in text and "@foundry-rs/anvil 1.7.1" in text and "--chain embedded" in text
    assert "installing" not in text
    assert not up.out.exists()


def _lpdev_with_tools(tools: Path) -> list[str]:
    """`python -m lpdev` as if this checkout's devnet/tools were ``tools`` (a copy without node_modules)."""
    return [sys.executable, "-c", "import sys; from pathlib import Path; import devnet.backends.anvil as a; "
            "a.TOOLS_DIR = Path(sys.argv.pop(1)); from lpdev.cli import main; sys.exit(main(sys.argv[1:]))",
            str(tools)]


@pytest.mark.anvil
def test_missing_anvil_is_installed_from_the_pinned_npm_package(tmp_path):
    """No anvil anywhere, npm on PATH: `lpdev up` runs `npm ci` in devnet/tools once, says so, and carries on."""
    from devnet.backends.anvil import find_anvil
    from tests.test_devnet_anvil_install import fake_npm, tools_copy

    real = find_anvil()
    tools = tools_copy(tmp_path)
    # the fake npm "installs" a stub at the pinned package's place that runs the real anvil
    fake_npm(tmp_path / "bin", stub_body=f'#!/bin/sh\nexec "{real}" "$@"\n')
    env = {"PATH": str(tmp_path / "bin"), "LPDEV_ANVIL": ""}
    up = Up(tmp_path, "--no-gateway", "--exit-after-ready", env=env, lpdev=_lpdev_with_tools(tools))
    try:
        assert up.proc.wait(90) == 0, up.text()
    finally:
        up.kill()
    up._reader.join(5)
    text = up.text()
    assert "anvil not found: installing the pinned @foundry-rs/anvil 1.7.1 with `npm ci` in devnet/tools " \
           "(one-time" in text
    assert (tools / "npm-calls.txt").read_text().split()[0] == "ci"
    assert "stack ready in" in text and "(anvil chain, id 31337)" in text


def test_missing_anvil_without_npm_says_how_to_install(tmp_path):
    from tests.test_devnet_anvil_install import tools_copy

    tools = tools_copy(tmp_path)
    (tmp_path / "bin").mkdir()
    up = Up(tmp_path, env={"PATH": str(tmp_path / "bin"), "LPDEV_ANVIL": ""}, lpdev=_lpdev_with_tools(tools))
    assert up.proc.wait(60) == 1
    up._reader.join(5)
    text = up.text()
    assert "anvil binary not found" in text and "npm is not on PATH" in text
    assert "make bootstrap" in text and "@foundry-rs/anvil 1.7.1" in text and "--chain embedded" in text
    assert "installing" not in text and not up.out.exists()


def test_up_help_says_the_cast_files_are_removed_on_exit():
    from lpdev.cli import build_parser

    sub = next(a for a in build_parser()._actions if a.dest == "command").choices["up"]
    help_ = next(a for a in sub._actions if "--config-out" in a.option_strings).help
    assert "removed on exit" in help_


def test_port_in_use_names_the_port_and_the_flag(tmp_path):
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    s.listen(1)
    port = s.getsockname()[1]
    try:
        r = subprocess.run(LPDEV + ["up", "--headless", "--chain", "embedded", "--orch-port", str(port),
                                    "--signer-port", "0", "--state-file", str(tmp_path / "s.json")],
                           cwd=tmp_path, capture_output=True, text=True, timeout=60,
                           env={**os.environ, "PYTHONPATH": str(ROOT)})
    finally:
        s.close()
    assert r.returncode == 1
    assert f"port {port} (orchestrator 1) is in use" in r.stderr and "--orch-port" in r.stderr
    assert not (tmp_path / "s.json").exists()


def test_bad_flags_are_usage_errors(tmp_path):
    r = subprocess.run(LPDEV + ["up", "--orchestrators", "9"], cwd=tmp_path, capture_output=True, text=True,
                       timeout=60, env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert r.returncode == 2 and "--orchestrators 9: must be 1..4" in r.stderr
    (tmp_path / "lpdev.toml").write_text("[orchestrator]\nticket_eve = 5\n")
    r = subprocess.run(LPDEV + ["up"], cwd=tmp_path, capture_output=True, text=True, timeout=60,
                       env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert r.returncode == 2 and "lpdev.toml:2: lpdev.toml.orchestrator: unknown key 'ticket_eve'" in r.stderr
    for flag, value in (("--block-time", "nan"), ("--interval", "0"), ("--eth-port", "70000"), ("--seed", "-1")):
        r = subprocess.run(LPDEV + ["up", flag, value], cwd=tmp_path, capture_output=True, text=True, timeout=60,
                           env={**os.environ, "PYTHONPATH": str(ROOT)})
        assert r.returncode == 2 and f"argument {flag}: {value}:" in r.stderr and "Traceback" not in r.stderr
    (tmp_path / "lpdev.toml").write_text("[orchestrator]\nfaults = {nope = 1}\n")
    r = subprocess.run(LPDEV + ["up"], cwd=tmp_path, capture_output=True, text=True, timeout=60,
                       env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert r.returncode == 2 and "lpdev.toml:2: lpdev.toml.orchestrator.faults: unknown fault 'nope'" in r.stderr
    (tmp_path / "lpdev.toml").unlink()
    for argv, want in ((["up", "--serve-events", "127.0.0.1:abc"],
                        "--serve-events wants HOST:PORT with a port 0..65535"),
                       (["up", "--scenario", "happy-path-fixed", "--fork-url", "http://127.0.0.1:1"],
                        "--scenario runs on a local chain lpdev deploys"),
                       (["up", "--name", "../x"], "stack name '../x'"),
                       (["up", "--runner", "noop:1e999999999"], "bad price '1e999999999'")):
        r = subprocess.run(LPDEV + argv, cwd=tmp_path, capture_output=True, text=True, timeout=60,
                           env={**os.environ, "PYTHONPATH": str(ROOT)})
        assert r.returncode == 2 and want in r.stderr and "Traceback" not in r.stderr, (argv, r.stderr)


def test_ctrl_c_ends_a_headless_scenario_mid_step(tmp_path):
    """`lpdev up --scenario` on the wall clock: SIGINT during a long `wait` step stops everything at once (exit
    130, no verdict), as SIGTERM does; it does not wait for the step to end."""
    for sig in (signal.SIGINT, signal.SIGTERM):
        up = Up(tmp_path, "--chain", "mock", "--scenario", "refresh-auth-token-expired")
        try:
            up.wait_for_line("step 3: wait 1600")
            t0 = time.monotonic()
            os.killpg(up.proc.pid, sig)
            assert up.proc.wait(30) == 130
            assert time.monotonic() - t0 < 15
            up.wait_for_line("scenario refresh-auth-token-expired interrupted; no verdict")
            assert "PASS" not in up.text() and "FAIL" not in up.text()
        finally:
            up.kill()


@pytest.mark.anvil
@pytest.mark.slow
def test_make_up_runs_lpdev_up(tmp_path):
    import shutil

    if shutil.which("make") is None:
        pytest.skip("make is not installed")
    stamps = [".venv/.lpdev-installed", "devnet/tools/node_modules/.lpdev-installed"]
    if not all((ROOT / s).exists() for s in stamps):
        pytest.skip("not bootstrapped with make")
    state = tmp_path / "s.json"
    # -o: treat the bootstrap stamps as up to date (this test checks the `up` recipe, not pip/npm)
    r = subprocess.run(["make", "-s", *sum((["-o", s] for s in stamps), []), "up",
                        f"ARGS=--headless --any-port --no-gateway --exit-after-ready --state-file {state}"],
                       cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    assert "stack ready in" in r.stdout and "livepeer-gateway token" in r.stdout
    assert not state.exists()  # removed on exit


def test_lpdev_token_reads_the_cast(tmp_path, capsys):
    import base64

    from lpdev.cli import main
    from stack.cast import write_atomic

    doc = {"signer_url": "https://127.0.0.1:7936", "signer_http_url": "http://127.0.0.1:4000",
           "orchestrators": [{"url": "https://127.0.0.1:8935", "address": "0x" + "11" * 20}],
           "remote_discovery": False}
    path = tmp_path / "cast.json"
    write_atomic(path, doc)
    assert main(["token", "--config", str(path)]) == 0
    tok = capsys.readouterr().out.strip()
    assert json.loads(base64.b64decode(tok)) == {"orchestrators": ["https://127.0.0.1:8935"],
                                                 "signer": "https://127.0.0.1:7936"}
    assert main(["token", "--config", str(path), "--http", "--decode"]) == 0
    assert json.loads(capsys.readouterr().out)["signer"] == "http://127.0.0.1:4000"
    assert main(["token", "--config", str(path), "--discovery-only"]) == 2
    assert "--remote-discovery" in capsys.readouterr().err
    assert main(["token", "--config", str(tmp_path / "missing.json")]) == 2
    assert "start the stack with `lpdev up`" in capsys.readouterr().err


@pytest.mark.anvil
def test_ctrl_c_during_start_up_leaves_nothing(tmp_path):
    up = Up(tmp_path)
    try:
        deadline = time.monotonic() + 60
        anvil = []
        while not anvil and time.monotonic() < deadline and up.proc.poll() is None:
            kids = children(up.proc.pid)
            anvil = [p for p in kids if "anvil" in cmdline(p)]
            time.sleep(0.01)
        assert anvil, f"anvil never started:\n{up.text()}"
        os.killpg(up.proc.pid, signal.SIGINT)  # what Ctrl-C in the terminal does
        assert up.proc.wait(30) in (0, 130)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and any(alive(p) for p in anvil):
            time.sleep(0.05)
        assert not [p for p in anvil if alive(p)], "anvil left behind"
        assert not up.out.exists() and not up.state.exists()
    finally:
        up.kill()


def test_up_with_dev_runners_prints_them(tmp_path):
    """`lpdev up --runner echo --runner text:0.01/fixed` (README): the banner lists the secret, the plain-HTTP entry
    and both runners; a bad runner spec is one line, exit 2."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    r = subprocess.run(LPDEV + ["up", "--runner", "echo", "--runner", "text:0.01/fixed", "--headless", "--any-port",
                                "--chain", "mock", "--exit-after-ready"], cwd=tmp_path, capture_output=True, text=True,
                       timeout=120, env=env)
    assert r.returncode == 0, r.stderr
    assert "runners register with --orchSecret abcdef" in r.stdout and "plain HTTP: http://127.0.0.1:" in r.stdout
    assert "echo     echo  http://127.0.0.1:" in r.stdout and "app lpdev/text, 0.01 USD/fixed" in r.stdout
    r = subprocess.run(LPDEV + ["up", "--runner", "echo:1/week", "--headless", "--any-port", "--chain", "mock"],
                       cwd=tmp_path, capture_output=True, text=True, timeout=60, env=env)
    assert r.returncode == 2 and "bad unit 'week'" in r.stderr and len(r.stderr.strip().splitlines()) == 1


def test_data_dir_and_resume_errors(tmp_path):
    """`lpdev up` keeps its state in a data dir named in the cast; --resume needs one that holds a saved anvil chain,
    and restarts the saved stack as it was (only the ports, the gateway's on/off and the block time may move)."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}

    def up(*argv):
        return subprocess.run(LPDEV + ["up", "--headless", "--any-port", *argv], cwd=tmp_path, capture_output=True,
                              text=True, timeout=120, env=env)

    r = up("--chain", "mock", "--exit-after-ready", "--name", "m", "--config-out", str(tmp_path / "c.json"))
    assert r.returncode == 0, r.stderr
    data = tmp_path / ".lpdev" / "data" / "m"
    assert f"Data dir {data}" in r.stdout and (data / "spec.json").is_file()
    r = up("--resume", "--name", "m")
    assert r.returncode == 1 and "--resume needs --chain anvil: the mock chain keeps its state" in r.stderr
    r = up("--resume")
    assert r.returncode == 2 and "--resume needs --data-dir DIR" in r.stderr
    r = up("--resume", "--data-dir", str(tmp_path / "nowhere"))
    assert r.returncode == 2 and "spec.json: no such file" in r.stderr
    r = up("--resume", "--name", "m", "--orchestrators", "2")
    assert r.returncode == 2 and "--resume restarts the saved stack as it was: drop --orchestrators" in r.stderr
