"""`lpdev chain ...` end to end: `chain up` in a subprocess (banner, config JSON, SIGTERM and SIGKILL leave no
anvil behind), the other sub-commands against it through --config and --eth-url/--controller, and one-line
errors with a non-zero exit for bad input."""
from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from lpdev.cli import main

pytestmark = pytest.mark.anvil
ROOT = Path(__file__).resolve().parent.parent


def _answers(url: str) -> bool:
    body = json.dumps({"jsonrpc": "2.0", "id": 1, "method": "eth_blockNumber", "params": []}).encode()
    try:
        req = urllib.request.Request(url, data=body, headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=1) as r:
            return "result" in json.loads(r.read())
    except Exception:
        return False


def _wait_gone(url: str, timeout: float = 8.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not _answers(url):
            return True
        time.sleep(0.05)
    return False


def _start_up(tmp_path, *extra):
    cfg = tmp_path / "chain.json"
    proc = subprocess.Popen([sys.executable, "-m", "lpdev", "chain", "up", "--config-out", str(cfg), *extra],
                            cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 60
    while not cfg.exists():
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            out, err = proc.communicate()
            pytest.fail(f"chain up did not write its config: {out} {err}")
        time.sleep(0.05)
    time.sleep(0.05)
    return proc, cfg, json.loads(cfg.read_text())


@pytest.fixture(scope="module")
def running(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("up")
    proc, cfg, doc = _start_up(tmp)
    yield proc, cfg, doc
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()


def test_up_writes_config(running):
    _, _, doc = running
    assert doc["eth_url"].startswith("http://127.0.0.1:") and doc["chain_id"] == 31337
    assert doc["controller"] == doc["contracts"]["Controller"]
    assert set(doc["contracts"]) >= {"Controller", "TicketBroker", "RoundsManager", "BondingManager", "Minter"}
    roles = {a["role"] for a in doc["accounts"]}
    assert {"deployer", "orchestrator", "sender", "gateway"} <= roles
    assert all(len(a["private_key"]) == 66 for a in doc["accounts"])
    assert doc["sender"] == {"address": next(a["address"] for a in doc["accounts"] if a["role"] == "sender"),
                             "deposit": 100 * 10**18, "reserve": 100 * 10**18}
    assert "throwaway" in doc["note"]


def test_info_json(running, capsys):
    _, cfg, doc = running
    assert main(["chain", "info", "--config", str(cfg), "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["round"]["initialized"] and info["round"]["current"] >= 2
    assert info["sender"]["deposit"] == 100 * 10**18 and info["sender"]["reserve"] == 100 * 10**18
    assert info["orchestrators"][0]["active"] is True
    assert info["sender"]["claimable_reserve"][info["orchestrators"][0]["address"]] == 100 * 10**18


def test_operations_through_eth_url_and_controller(running, capsys):
    _, cfg, doc = running
    conn = ["--eth-url", doc["eth_url"], "--controller", doc["controller"]]
    assert main(["chain", "fund", *conn, "--deposit", "1.5eth", "--reserve", "2gwei", "--json"]) == 0
    res = json.loads(capsys.readouterr().out)
    assert res["ok"] and [e["event"] for e in res["events"]] == ["ReserveFunded", "DepositFunded"]
    assert res["events"][1]["args"]["amount"] == 1_500_000_000_000_000_000
    assert main(["chain", "mine", "3", *conn]) == 0
    assert "mined 3 blocks" in capsys.readouterr().out
    assert main(["chain", "advance-round", "--config", str(cfg)]) == 0
    assert "advanced to round" in capsys.readouterr().out
    assert main(["chain", "unlock", "--config", str(cfg)]) == 0
    assert "Unlock(" in capsys.readouterr().out
    # still locked: withdraw reverts with the contract's reason, exit 1
    assert main(["chain", "withdraw", "--config", str(cfg)]) == 1
    assert "account is locked" in capsys.readouterr().err
    assert main(["chain", "cancel-unlock", "--config", str(cfg)]) == 0


def test_bad_input_errors(running, capsys):
    _, cfg, doc = running
    assert main(["chain", "info", "--eth-url", doc["eth_url"], "--controller", "0x" + "34" * 20]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "no contract code at Controller" in err
    assert main(["chain", "fund", "--config", str(cfg), "--deposit", "1.2.3eth"]) == 2
    assert "bad amount" in capsys.readouterr().err
    assert main(["chain", "fund", "--config", str(cfg), "--deposit", "1wei", "--key", "0x1234"]) == 2
    assert main(["chain", "info", "--config", str(cfg) + ".missing"]) == 2
    assert "not found" in capsys.readouterr().err
    assert main(["chain", "mine", "-1", "--config", str(cfg)]) == 2


def test_config_of_embedded_chain_is_explained(tmp_path, capsys):
    cfg = tmp_path / "emb.json"
    cfg.write_text(json.dumps({"backend": "embedded", "eth_url": None, "controller": "0x" + "11" * 20}))
    assert main(["chain", "info", "--config", str(cfg)]) == 2
    err = capsys.readouterr().err
    assert "no RPC URL" in err and "lpdev chain up --backend anvil" in err
    # the stack document of `lpdev up --chain embedded` points at `lpdev up`, not at `lpdev chain up`
    cfg.write_text(json.dumps({"backend": "embedded", "eth_url": None, "controller": "0x" + "11" * 20,
                               "orchestrators": [], "signers": []}))
    assert main(["chain", "info", "--config", str(cfg)]) == 2
    err = capsys.readouterr().err
    assert "lpdev up --chain embedded` stack" in err and "run `lpdev up`" in err
    cfg.write_text("[1, 2]")
    assert main(["chain", "info", "--config", str(cfg)]) == 2
    assert "not a JSON object" in capsys.readouterr().err


def test_embedded_banner_does_not_send_other_commands_to_its_config():
    """An in-process chain has no RPC endpoint: the banner must not tell users to pass its config to `lpdev chain
    info/fund/...` (they refuse it), but say what works instead; a chain with an RPC URL keeps the hint."""
    import devnet
    from lpdev.commands.chain import DEFAULT_CONFIG, _banner

    chain = devnet.open_chain("mock")  # like embedded: no eth_url
    assert chain.eth_url is None
    for cfg_out in (DEFAULT_CONFIG, "elsewhere.json"):
        text = _banner(chain, cfg_out, 0.1)
        assert "pass --config" not in text and "read it by default" not in text
        assert "cannot reach an in-process chain" in text and "`lpdev chain up` (anvil)" in text
        assert "lpdev up --chain embedded" in text
    chain.eth_url = "http://127.0.0.1:8545"
    assert "(pass --config elsewhere.json to other lpdev commands)" in _banner(chain, "elsewhere.json", 0.1)


def test_unreachable_chain_one_line(capsys):
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    t0 = time.monotonic()
    assert main(["chain", "info", "--eth-url", f"http://127.0.0.1:{port}", "--controller", "0x" + "12" * 20]) == 1
    assert time.monotonic() - t0 < 5
    err = capsys.readouterr().err
    assert err.startswith("lpdev: error: cannot reach the chain") and err.count("\n") == 1


@pytest.mark.slow
def test_sigkill_of_parent_leaves_no_orphan(tmp_path):
    proc, cfg, doc = _start_up(tmp_path)
    proc.kill()
    proc.wait(10)
    assert _wait_gone(doc["eth_url"])


def test_sigterm_stops_anvil(running):
    """Last in the module: stops the shared `chain up`."""
    proc, cfg, doc = running
    assert _answers(doc["eth_url"])
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=15)
    assert proc.returncode == 0, err
    assert "THROWAWAY" in out and doc["contracts"]["TicketBroker"] in out and doc["eth_url"] in out
    assert _wait_gone(doc["eth_url"])
    assert not cfg.exists()  # a stale config would point at nothing


@pytest.mark.slow
def test_anvil_crash_mid_run_ends_chain_up_with_clear_error(tmp_path):
    proc, cfg, doc = _start_up(tmp_path)
    children = []
    for task in Path(f"/proc/{proc.pid}/task").iterdir():
        children += [int(c) for c in (task / "children").read_text().split()]
    assert len(children) == 1
    os.kill(children[0], signal.SIGKILL)
    try:
        out, err = proc.communicate(timeout=15)
    except subprocess.TimeoutExpired:
        proc.kill()
        pytest.fail("chain up did not notice that anvil died")
    assert proc.returncode == 1
    last = err.strip().splitlines()[-1]
    assert last.startswith("lpdev: error: anvil (pid") and "exited mid-run (killed by signal 9)" in last
    assert "lpdev chain up" in last


def test_up_bad_flags_fail_before_starting_anything(capsys):
    assert main(["chain", "up", "--backend", "embedded", "--port", "1234"]) == 2
    assert "need --backend anvil" in capsys.readouterr().err
    assert main(["chain", "up", "--auto-round"]) == 2
    assert main(["chain", "up", "--deposit", "lots"]) == 2
    assert "bad amount" in capsys.readouterr().err


@pytest.mark.slow
def test_block_ticker_and_auto_round(tmp_path):
    proc, cfg, doc = _start_up(tmp_path, "--block-time", "0.1", "--auto-round", "--round-length", "5")
    try:
        from devnet.backends.evm import open_external

        ext = open_external(doc["eth_url"], doc["controller"])
        b0, r0 = ext.last_block(), ext.current_round()
        deadline = time.monotonic() + 20
        while ext.current_round() < r0 + 2 and time.monotonic() < deadline:
            time.sleep(0.1)
        assert ext.last_block() > b0 and ext.current_round() >= r0 + 2
        # the ticker initializes rounds shortly after they start
        deadline = time.monotonic() + 10
        while not ext.current_round_initialized() and time.monotonic() < deadline:
            time.sleep(0.05)
        assert ext.last_initialized_round() >= r0 + 1
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.communicate(timeout=15)


@pytest.mark.slow
def test_dump_state_then_load_state(tmp_path, capsys):
    state = tmp_path / "state.json"
    proc, cfg, doc = _start_up(tmp_path, "--dump-state", str(state))
    assert main(["chain", "fund", "--config", str(cfg), "--deposit", "3wei"]) == 0
    proc.send_signal(signal.SIGTERM)
    proc.communicate(timeout=15)
    assert state.exists()
    (tmp_path / "again").mkdir()
    proc2, cfg2, doc2 = _start_up(tmp_path / "again", "--load-state", str(state))
    try:
        assert doc2["contracts"] == doc["contracts"]
        capsys.readouterr()
        assert main(["chain", "info", "--config", str(cfg2), "--json"]) == 0
        info = json.loads(capsys.readouterr().out)
        assert info["sender"]["deposit"] == 100 * 10**18 + 3
    finally:
        proc2.send_signal(signal.SIGTERM)
        proc2.communicate(timeout=15)
