"""Stacks a user can find and restart: `lpdev up` stopped and started again at once on the same well-known ports
(no "port in use" from TIME-WAIT), two stacks in one folder that do not clobber each other's files, `lpdev ps`, and
`lpdev token` reading each stack's token from another folder."""
from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def env() -> dict:
    """Read at call time: the suite's conftest points LPDEV_STATE_DIR at a private registry."""
    return {**os.environ, "PYTHONPATH": str(ROOT)}
LPDEV = [sys.executable, "-m", "lpdev"]


def free_ports(n: int) -> list[int]:
    socks, ports = [], []
    for _ in range(n):
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        socks.append(s)
        ports.append(s.getsockname()[1])
    for s in socks:
        s.close()
    return ports


def start(cwd: Path, *args: str) -> subprocess.Popen:
    return subprocess.Popen(LPDEV + ["up", "--headless", *args], cwd=cwd, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, env=env(), start_new_session=True)


def wait_ready(proc: subprocess.Popen, cast: Path, timeout: float = 60) -> dict:
    deadline = time.monotonic() + timeout
    while not cast.exists():
        if proc.poll() is not None or time.monotonic() > deadline:
            out = proc.communicate(timeout=10)[0] if proc.poll() is not None else ""
            raise AssertionError(f"not ready (exit {proc.poll()}):\n{out[-3000:]}")
        time.sleep(0.02)
    return json.loads(cast.read_text())


def stop(proc: subprocess.Popen) -> str:
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
    try:
        return proc.communicate(timeout=60)[0]
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)


def lpdev(cwd: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(LPDEV + list(args), cwd=cwd, capture_output=True, text=True, env=env(), timeout=60)


@pytest.mark.anvil
@pytest.mark.slow
def test_stop_and_start_again_five_times_on_the_same_ports(tmp_path):
    import threading

    eth, signer, orch, orch_http = free_ports(4)
    ports = ["--eth-port", str(eth), "--signer-port", str(signer), "--orch-port", str(orch),
             "--orch-http-port", str(orch_http)]
    for i in range(5):
        cast = tmp_path / f"cast{i}.json"
        proc = start(tmp_path, *ports, "--interval", "0.2", "--config-out", str(cast))
        lines: list[str] = []
        reader = threading.Thread(target=lambda: lines.extend(proc.stdout), daemon=True)
        reader.start()
        try:
            doc = wait_ready(proc, cast)
            assert doc["orchestrators"][0]["url"].endswith(f":{orch}") and doc["eth_url"].endswith(f":{eth}")
            deadline = time.monotonic() + 30  # a payment crosses every service, so their sockets were really used
            while not any("ticket(s) from 0x3c44cddd" in x for x in lines) and time.monotonic() < deadline:
                time.sleep(0.05)
            assert any("ticket(s) from 0x3c44cddd" in x for x in lines), "".join(lines)[-2000:]
        finally:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGTERM)
            proc.wait(60)
            reader.join(10)
        out = "".join(lines)
        assert proc.returncode == 0 and "is in use" not in out, out[-2000:]
        # no wait: the next start comes at once


def test_two_stacks_in_one_folder_each_found_from_another_folder(tmp_path):
    here, elsewhere = tmp_path / "proj", tmp_path / "other"
    here.mkdir()
    elsewhere.mkdir()
    a = start(here, "--any-port", "--chain", "mock", "--no-gateway")
    b = None
    try:
        doc_a = wait_ready(a, here / ".lpdev" / "stack.json")
        assert doc_a["name"] == "proj"
        b = start(here, "--any-port", "--chain", "mock", "--no-gateway", "--config-out", str(here / "b.json"))
        doc_b = wait_ready(b, here / "b.json")
        assert doc_b["name"] == "proj-2"
        # the folder's .lpdev/stack.json stays the first stack's
        assert json.loads((here / ".lpdev" / "stack.json").read_text())["pid"] == doc_a["pid"]
        ps = lpdev(elsewhere, "ps", "--json")
        assert ps.returncode == 0 and [d["name"] for d in json.loads(ps.stdout)] == ["proj", "proj-2"]
        table = lpdev(elsewhere, "ps").stdout
        assert "proj-2" in table and doc_b["signer_url"] in table
        # from another folder: several stacks -> a clear choice; --stack picks each one's token
        r = lpdev(elsewhere, "token")
        assert r.returncode == 2 and "several stacks are running: proj" in r.stderr and "--stack NAME" in r.stderr
        for doc in (doc_a, doc_b):
            r = lpdev(elsewhere, "token", "--stack", doc["name"], "--decode")
            assert r.returncode == 0 and json.loads(r.stdout)["signer"] == doc["signer_url"], r.stderr
        r = lpdev(elsewhere, "token", "--stack", "nope")
        assert r.returncode == 2 and "no running stack named 'nope'" in r.stderr
        # chain commands find stacks the same way; these chains live inside their processes
        r = lpdev(elsewhere, "chain", "info")
        assert r.returncode == 2 and "several stacks are running" in r.stderr and "--stack NAME" in r.stderr
        r = lpdev(elsewhere, "chain", "info", "--stack", "proj-2")
        assert r.returncode == 2 and "`lpdev up --chain mock` stack: its chain lives inside" in r.stderr, r.stderr
        # the second one exits: the first one's file and entry stay
        stop(b)
        assert (here / ".lpdev" / "stack.json").exists() and not (here / "b.json").exists()
        r = lpdev(elsewhere, "token", "--decode")  # now the only one running
        assert r.returncode == 0 and json.loads(r.stdout)["signer"] == doc_a["signer_url"]
    finally:
        if b is not None:
            stop(b)
        stop(a)
    assert not (here / ".lpdev" / "stack.json").exists()
    assert json.loads(lpdev(elsewhere, "ps", "--json").stdout) == []


def test_a_killed_stack_is_not_listed_and_its_name_is_free_again(tmp_path):
    a = start(tmp_path, "--any-port", "--chain", "mock", "--no-gateway", "--name", "demo")
    try:
        doc = wait_ready(a, tmp_path / ".lpdev" / "stack.json")
        assert doc["name"] == "demo"
        clash = start(tmp_path, "--any-port", "--chain", "mock", "--no-gateway", "--name", "demo",
                      "--config-out", str(tmp_path / "x.json"))
        out = clash.communicate(timeout=60)[0]
        assert clash.returncode == 2 and "a stack named 'demo' is already running" in out
        # refused before it touched anything: the running stack's data dir is whole
        assert (tmp_path / ".lpdev" / "data" / "demo" / "spec.json").is_file()
    finally:
        os.killpg(a.pid, signal.SIGKILL)  # no clean-up runs
        a.wait(10)
    assert json.loads(lpdev(tmp_path, "ps", "--json").stdout) == []
    r = lpdev(tmp_path, "token")
    assert r.returncode == 2 and "no lpdev stack is running" in r.stderr


@pytest.mark.anvil
def test_chain_and_conformance_find_the_running_stack_from_any_folder(tmp_path):
    """`lpdev chain …` and `lpdev conformance` with no chain flags, in a folder with no .lpdev/: the only running
    stack's chain and signer; --stack NAME names it; a wrong name or a flag clash is one line, exit 2."""
    here, elsewhere = tmp_path / "proj", tmp_path / "other"
    here.mkdir()
    elsewhere.mkdir()
    a = start(here, "--any-port", "--no-gateway", "--name", "conf")
    try:
        doc = wait_ready(a, here / ".lpdev" / "stack.json")
        r = lpdev(elsewhere, "chain", "info", "--json")
        assert r.returncode == 0, r.stderr
        info = json.loads(r.stdout)
        assert info["eth_url"] == doc["eth_url"] and info["contracts"]["Controller"] == doc["controller"]
        assert info["sender"]["deposit"] > 0  # the stack's own sender, from its cast
        r = lpdev(elsewhere, "chain", "mine", "3", "--stack", "conf")
        assert r.returncode == 0 and "mined 3 blocks" in r.stdout, r.stderr
        r = lpdev(elsewhere, "conformance", "--only", "manifest", "--json")
        assert r.returncode == 0, r.stdout + r.stderr
        assert f"checking the signer of stack 'conf': {doc['signer_url']}" in r.stderr
        assert json.loads(r.stdout)["verdict"]["match"] == "go-livepeer"
        for argv, want in ((["chain", "info", "--stack", "nope"], "no running stack named 'nope' (running: conf"),
                           (["chain", "info", "--stack", "conf", "--eth-url", "http://127.0.0.1:1"],
                            "--stack names a running stack's chain"),
                           (["conformance", "--stack", "nope"], "no running stack named 'nope'"),
                           (["conformance", "--local", "go-livepeer", "--stack", "conf"], "drop --eth-url")):
            r = lpdev(elsewhere, *argv)
            assert r.returncode == 2 and want in r.stderr and "Traceback" not in r.stderr, (argv, r.stderr)
    finally:
        stop(a)


def test_the_data_dir_is_claimed_and_never_someone_elses(tmp_path):
    """A data dir is emptied on a fresh start, so lpdev only ever empties one it made (it carries .lpdev-data) and
    holds a lock on it while it runs: a folder of someone's files, a second stack on the same dir, or a name that
    would escape .lpdev/data are each refused, and nothing is lost."""
    foreign = tmp_path / "mine"
    foreign.mkdir()
    (foreign / "notes.txt").write_text("precious")
    r = start(tmp_path, "--any-port", "--chain", "mock", "--no-gateway", "--data-dir", str(foreign),
              "--config-out", str(tmp_path / "x.json"))
    out = r.communicate(timeout=60)[0]
    assert r.returncode == 1 and "is not empty and was not made by lpdev up" in out, out
    assert (foreign / "notes.txt").read_text() == "precious"
    for bad in ("../..", "/tmp/x", ".hidden", "a" * 65):
        r = start(tmp_path, "--any-port", "--chain", "mock", "--name", bad)
        out = r.communicate(timeout=60)[0]
        assert r.returncode == 2 and "stack name" in out and "Traceback" not in out, (bad, out)
    shared = tmp_path / "shared"
    a = start(tmp_path, "--any-port", "--chain", "mock", "--no-gateway", "--data-dir", str(shared), "--name", "a")
    try:
        wait_ready(a, tmp_path / ".lpdev" / "stack.json")
        assert (shared / ".lpdev-data").is_file() and (shared / "spec.json").is_file()
        b = start(tmp_path, "--any-port", "--chain", "mock", "--no-gateway", "--data-dir", str(shared), "--name", "b",
                  "--config-out", str(tmp_path / "b.json"))
        out = b.communicate(timeout=60)[0]
        assert b.returncode == 1 and f"data dir {shared} is in use by a running stack" in out, out
        assert (shared / "spec.json").is_file() and (shared / "orch").is_dir()  # a's files are whole
    finally:
        stop(a)
    # stopped: the lock is gone, the dir is lpdev's, so the next fresh start may empty and reuse it
    c = start(tmp_path, "--any-port", "--chain", "mock", "--no-gateway", "--data-dir", str(shared), "--name", "c",
              "--exit-after-ready", "--config-out", str(tmp_path / "c.json"))
    out = c.communicate(timeout=60)[0]
    assert c.returncode == 0, out


def test_hostile_registry_and_cast_files_are_ignored_not_fatal(tmp_path):
    """The registry and a folder's .lpdev/stack.json are plain files anyone (or a clone) can hold: deeply nested,
    binary, a pid of 0, -1 or true, a started_at that is not a number -- `lpdev ps` and `lpdev token` treat them
    as no stack, with no traceback."""
    reg = Path(os.environ["LPDEV_STATE_DIR"]) / "stacks"
    reg.mkdir(parents=True, exist_ok=True)
    bad = {"deep.json": "[" * 200_000, "bin.json": "\x00\xff", "zero.json": '{"name": "zero", "pid": 0}',
           "neg.json": '{"name": "neg", "pid": -1}', "true.json": '{"name": "t", "pid": true}',
           "age.json": json.dumps({"name": "age", "pid": os.getpid(), "started_at": "soon"})}
    for name, text in bad.items():
        (reg / name).write_text(text, encoding="latin-1")
    (tmp_path / ".lpdev").mkdir()
    (tmp_path / ".lpdev" / "stack.json").write_text("[" * 200_000)
    try:
        ps = lpdev(tmp_path, "ps")
        assert ps.returncode == 0 and "Traceback" not in ps.stderr, ps.stderr
        assert [ln.split()[0] for ln in ps.stdout.splitlines()[1:]] == ["age"]  # the only live pid (this one)
        tok = lpdev(tmp_path, "token", "--stack", "zero")
        assert tok.returncode == 2 and "no running stack named 'zero'" in tok.stderr and "Traceback" not in tok.stderr
    finally:
        for name in bad:
            (reg / name).unlink(missing_ok=True)
