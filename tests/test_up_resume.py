"""`lpdev up --data-dir DIR` and `--resume` (issue 15): the whole `lpdev up` process group is killed with SIGKILL at
five moments -- right after a winning ticket's redemption was sent, in the middle of the SDK's payment, and at
other times -- while the scripted gateway and the real SDK pay; each time `lpdev up --resume` comes back on the
same chain from the data dir. In the end every winning ticket the orchestrator stored is used on chain exactly
once, and what the sender lost is exactly the face values of those tickets: no winner lost, none paid twice."""
from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest


from livepeer_gateway import PaymentSession, get_orch_info  # noqa: E402

pytestmark = [pytest.mark.anvil, pytest.mark.sdk, pytest.mark.slow]
ROOT = Path(__file__).resolve().parents[1]
ETHER = 10**18


class Up:
    def __init__(self, tmp: Path, data: Path, *extra: str) -> None:
        self.cast = tmp / "cast.json"
        self.cast.unlink(missing_ok=True)
        self.lines: list[str] = []
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "lpdev", "up", "--headless", "--any-port", "--data-dir", str(data), "--name",
             "crash", "--config-out", str(self.cast), "--block-time", "0.1", *extra],
            cwd=tmp, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True,
            env={**os.environ, "PYTHONPATH": str(ROOT)})
        threading.Thread(target=lambda: self.lines.extend(self.proc.stdout), daemon=True).start()

    def ready(self, timeout: float = 90) -> dict:
        deadline = time.monotonic() + timeout
        while not self.cast.exists():
            assert self.proc.poll() is None and time.monotonic() < deadline, "".join(self.lines)[-3000:]
            time.sleep(0.02)
        return json.loads(self.cast.read_text())

    def wait_line(self, text: str, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while not any(text in x for x in self.lines):
            assert time.monotonic() < deadline, f"{text!r} never logged:\n" + "".join(self.lines)[-3000:]
            time.sleep(0.01)

    def kill(self) -> None:
        os.killpg(self.proc.pid, signal.SIGKILL)  # the whole process group: lpdev up and its anvil
        self.proc.wait(30)

    def stop(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            self.proc.wait(60)


def sdk_pay(doc: dict, n: int, stop: threading.Event | None = None) -> int:
    """The SDK paying like a user would (a fresh session from this run's cast); returns payments accepted. With
    ``stop`` (the stack is about to be killed under it) an error ends the payments quietly; without, it fails."""
    bare = lambda u: u.split("://", 1)[1]  # noqa: E731
    ok = 0
    try:
        info = get_orch_info(bare(doc["orchestrators"][0]["url"]), signer_url=bare(doc["signer_url"]))
        session = PaymentSession(bare(doc["signer_url"]), info, type="lv2v")
        session.set_manifest_id("resume")
        for _ in range(n):
            if stop is not None and stop.is_set():
                break
            session.send_payment()
            ok += 1
    except Exception:  # noqa: BLE001 - the stack may be killed under it: that is the point
        if stop is None:
            raise
    return ok


def winners(data: Path) -> list[tuple[str, str, int]]:
    """(ticket hash, status, face value) of every winner the orchestrator stored (its SQLite in the data dir)."""
    db = sqlite3.connect(f"file:{data / 'orch' / 'winners.sqlite'}?mode=ro", uri=True)
    try:
        cols = [r[1] for r in db.execute("PRAGMA table_info(winning_tickets)")]
        rows = db.execute("SELECT * FROM winning_tickets").fetchall()
    finally:
        db.close()
    out = []
    for r in rows:
        d = dict(zip(cols, r))
        h = d.get("ticket_hash")
        h = h.hex() if isinstance(h, (bytes, bytearray)) else str(h)
        out.append((h.removeprefix("0x"), d["status"], int(d["face_value"])))
    return out


def test_kill9_the_whole_stack_five_times_resume_every_winner_redeemed_once(tmp_path):
    data = tmp_path / "data"
    up = Up(tmp_path, data, "--interval", "0.3")
    sdk_ok = 0
    try:
        for kill in range(5):
            doc = up.ready()
            if kill > 0:
                assert doc["resumed"] and doc["data_dir"] == str(data)
            time.sleep(1.5)  # the chain's state is saved within a second of a block
            if kill % 2 == 0:  # mid-redemption: the transaction just left
                up.wait_line("redeeming winning ticket", timeout=60)
                up.kill()
            else:  # mid-request: the SDK is paying when the group dies
                stop = threading.Event()
                box: list[int] = []
                t = threading.Thread(target=lambda: box.append(sdk_pay(doc, 50, stop)))
                t.start()
                time.sleep(0.4 + 0.3 * kill)
                up.kill()
                stop.set()
                t.join(60)
                sdk_ok += box[0] if box else 0
            up = Up(tmp_path, data, "--resume")
        # the last resume: the SDK pays once more, then only the chain runs until every winner is settled
        doc = up.ready()
        assert sdk_pay(doc, 2) == 2  # nothing is killed now: the resumed stack takes the SDK's payments
        up.stop()
        up = Up(tmp_path, data, "--resume", "--no-gateway")
        doc = up.ready()
        deadline = time.monotonic() + 90
        while any(s != "redeemed" for _, s, _ in winners(data)) and time.monotonic() < deadline:
            time.sleep(0.5)
        stored = winners(data)
        assert stored and all(s == "redeemed" for _, s, _ in stored), stored
        import devnet

        chain = devnet.open_chain("external", eth_url=doc["eth_url"], controller=doc["controller"])
        try:
            assert all(chain.is_used_ticket(bytes.fromhex(h)) for h, _, _ in stored)
            sender = bytes.fromhex(doc["signer_address"][2:])
            info = chain.sender_info(sender)
            lost = 200 * ETHER - info.deposit - info.reserve  # `lpdev up` funds 100 ETH deposit + 100 ETH reserve
            paid = chain.pending_fees(bytes.fromhex(doc["orchestrators"][0]["address"][2:]))
        finally:
            chain.close()
        face = sum(f for _, _, f in stored)
        assert lost == face == paid, (lost, face, paid)  # every winner paid once; nothing else left the sender
        assert len({h for h, _, _ in stored}) == len(stored)
        assert sdk_ok >= 2  # the SDK's payments went through between the crashes
    finally:
        up.stop()
