"""Winning tickets are money: `kill -9` the orchestrator process mid-stream (anvil chain, real redemptions),
restart it on the same data dir, and check that every winner was redeemed exactly once and that the SQLite
ledger and the chain agree (issue 5, "Done when")."""
from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
import urllib.request

import pytest

import devnet
from sim.orchestrator.probe import Payer, get_orchestrator
from sim.pm.params import PARAMS_EXPIRATION_BLOCK
from sim.tls import client_context_insecure

pytestmark = [pytest.mark.slow, pytest.mark.anvil]

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def start_orch(chain, data_dir, **faults) -> tuple[subprocess.Popen, str]:
    cmd = [sys.executable, "-m", "lpdev", "orchestrator", "--eth-url", chain.eth_url,
           "--controller", chain.contracts["Controller"], "--eth-key", chain.key("orchestrator").hex(),
           "--service-addr", "https://127.0.0.1:0", "--data-dir", str(data_dir), "--block-poll", "0.1",
           "--faults", json.dumps({"win_prob_max": True, **faults}), "--json"]
    p = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    line = p.stdout.readline()
    if not line:
        p.kill()
        raise AssertionError(f"orchestrator did not start: {p.stderr.read()}")
    return p, json.loads(line)["url"]


def post_payment(url: str, headers: dict) -> tuple[int, bytes]:
    req = urllib.request.Request(url + "/payment", data=b"", method="POST", headers=headers)
    try:
        with urllib.request.urlopen(req, context=client_context_insecure(), timeout=10) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()


def rows(db) -> list[tuple]:
    con = sqlite3.connect(str(db))
    try:
        return con.execute("SELECT ticket_hash, status, face_value, reason FROM winning_tickets").fetchall()
    finally:
        con.close()


def init_round(chain) -> None:
    """Redemptions wait for an initialized round; a devnet has no round initializer, the test is it. Always tried:
    on a round's last block the current round looks initialized, yet every redemption (simulated in the pending
    block) reverts unsent; initializeRound then starts the next round (a no-op eth_call otherwise)."""
    chain.initialize_round(chain.key("deployer"))


def expire_params(chain, url: str | None = None) -> None:
    """Mine past every issued ticket params' expiration. With ``url``: also wait until that orchestrator has seen
    the new head (it polls every 0.1 s), so the params it issues next are based on it and not already expired."""
    chain.mine(PARAMS_EXPIRATION_BLOCK + 1)
    init_round(chain)
    if url is not None:
        head = chain.last_block()
        deadline = time.time() + 30
        while True:
            req = urllib.request.Request(url + "/admin/status")
            with urllib.request.urlopen(req, context=client_context_insecure(), timeout=10) as r:
                seen = json.loads(r.read())["chain"]["last_block"]
            if seen >= head:
                return
            assert time.time() < deadline, f"the orchestrator still sees block {seen}, the chain is at {head}"
            time.sleep(0.05)


def counts(db) -> dict[str, int]:
    out: dict[str, int] = {}
    for r in rows(db):
        out[r[1]] = out.get(r[1], 0) + 1
    return out


@pytest.fixture
def lab():
    """An anvil chain and ``start(data_dir, **faults)`` for orchestrator processes, every one killed at the end."""
    chain = devnet.open_chain("anvil", config=devnet.DevnetConfig(round_length=400))
    procs: list[subprocess.Popen] = []

    def start(data_dir, **faults) -> tuple[subprocess.Popen, str]:
        p, url = start_orch(chain, data_dir, **faults)
        procs.append(p)
        return p, url

    try:
        yield chain, start
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait()
            for f in (p.stdout, p.stderr):
                f.close()
        chain.close()


def settle_and_stop(p: subprocess.Popen, chain, db) -> None:
    """Until every stored winner is redeemed or failed (60 s at most), keep rounds initialized; then SIGTERM."""
    deadline = time.time() + 60
    while time.time() < deadline and not set(counts(db)) <= {"redeemed", "failed"}:
        init_round(chain)
        time.sleep(0.2)
    p.send_signal(signal.SIGTERM)
    assert p.wait(timeout=20) == 0


def test_kill9_mid_stream_no_winner_lost_none_redeemed_twice(tmp_path, lab):
    chain, start = lab
    data = tmp_path / "orch"
    db = data / "winners.sqlite"
    o_addr = bytes.fromhex(chain.address("orchestrator")[2:])
    s_addr = bytes.fromhex(chain.address("sender")[2:])
    fees0 = chain.pending_fees(o_addr)
    s0 = chain.sender_info(s_addr)
    answered: set[bytes] = set()  # tickets of payments the orchestrator answered 200: must be in the DB
    payer = Payer(chain.key("sender"))

    def pay(url, n):
        for i in range(n):
            if i % 4 == 0:
                payer.use(get_orchestrator(url, payer.request()))  # new params now and then
            status, body = post_payment(url, payer.headers(2))
            assert status == 200, body
            answered.update(t.ticket.hash() for t in payer.sent[-2:])

    # 1st process: 24 winners stored, then they become redeemable and we keep paying while the redemption
    # burst runs; kill -9 as soon as some are redeemed and some are not.
    p, url = start(data)
    pay(url, 12)
    expire_params(chain, url)
    killed_at = None
    deadline = time.time() + 60
    while killed_at is None and time.time() < deadline:
        pay(url, 1)
        c = counts(db)
        if c.get("redeemed", 0) >= 1 and c.get("queued", 0) + c.get("sending", 0) >= 1:
            os.kill(p.pid, signal.SIGKILL)
            p.wait()
            killed_at = c
    assert killed_at is not None, f"redemptions never started: {counts(db)}"

    # 2nd process, same data dir: more payments, then everything must settle.
    p, url = start(data)
    pay(url, 4)
    expire_params(chain, url)
    settle_and_stop(p, chain, db)

    table = rows(db)
    stored = {bytes.fromhex(h[2:]) for h, *_ in table}
    assert answered <= stored, "a winner acknowledged with 200 is missing from the DB"
    assert {r[1] for r in table} == {"redeemed"}, (chain.gas_price(), [r for r in table if r[1] != "redeemed"])
    assert all(chain.is_used_ticket(h) for h in stored)
    total = sum(int(r[2]) for r in table)
    # ledger == chain: the orchestrator earned exactly the face values it recorded, the sender paid them
    assert chain.pending_fees(o_addr) - fees0 == total
    s1 = chain.sender_info(s_addr)
    assert (s0.deposit + s0.reserve) - (s1.deposit + s1.reserve) == total
    assert len(table) >= 34


def test_crash_exactly_around_the_send(tmp_path, lab):
    """Deterministic: die right after marking 'sending' (nothing sent), then right after the transaction was
    mined (DB still says 'sending'); the third process must resend the first and only settle the second."""
    chain, start = lab
    data = tmp_path / "orch"
    db = data / "winners.sqlite"
    o_addr = bytes.fromhex(chain.address("orchestrator")[2:])
    fees0 = chain.pending_fees(o_addr)
    payer = Payer(chain.key("sender"))

    p, url = start(data, crash_at="before_send")
    payer.use(get_orchestrator(url, payer.request()))
    for _ in range(2):
        status, body = post_payment(url, payer.headers(2))
        assert status == 200, body
    expire_params(chain)
    assert p.wait(timeout=60) == -signal.SIGKILL
    [first] = [r for r in rows(db) if r[1] == "sending"]
    assert not chain.is_used_ticket(bytes.fromhex(first[0][2:]))  # died before sending

    p, url = start(data, crash_at="after_send")
    assert p.wait(timeout=60) == -signal.SIGKILL
    sending = [r for r in rows(db) if r[1] == "sending"]
    assert len(sending) == 1
    assert chain.is_used_ticket(bytes.fromhex(sending[0][0][2:]))  # mined, but the DB never heard back

    p, url = start(data)
    settle_and_stop(p, chain, db)
    table = rows(db)
    assert len(table) == 4 and {r[1] for r in table} == {"redeemed"}, table
    assert any("found used on chain after restart" in (r[3] or "") for r in table)
    assert chain.pending_fees(o_addr) - fees0 == sum(int(r[2]) for r in table)  # each paid exactly once
