"""The managed anvil process and the external backend: readiness, clean stop with no orphan, a crash mid-run,
a missing binary, dump/load state, and the errors for an unreachable chain or a wrong Controller."""
from __future__ import annotations

import os
import signal
import socket
import time

import pytest

from devnet import open_chain
from devnet.backends.anvil import AnvilProcess, find_anvil
from devnet.backends.evm import open_external
from devnet.base import AnvilCrashed, AnvilMissing, ChainError, ChainUnreachable, ContractNotFound
from devnet.config import DevnetConfig

pytestmark = pytest.mark.anvil


def _gone(pid: int, timeout: float = 5.0) -> bool:
    """True once ``pid`` no longer exists (reaped) or is a zombie not ours to reap."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with open(f"/proc/{pid}/stat") as f:
                if f.read().split()[2] == "Z":
                    return True
        except FileNotFoundError:
            return True
        time.sleep(0.02)
    return False


@pytest.fixture(scope="module")
def anvil_chain():
    c = open_chain("anvil")
    yield c
    c.close()


def test_close_leaves_no_process():
    c = open_chain("anvil", setup=False)
    pid = c._process.pid
    assert c.paused()  # setup=False: deployed, still paused
    c.close()
    assert _gone(pid)
    c.close()  # idempotent
    with pytest.raises(ChainError):
        c.last_block()


def test_context_manager_stops_anvil():
    with _Start() as p:
        pid = p.pid
        assert p.alive()
    assert _gone(pid)


class _Start:
    def __enter__(self):
        self.p = AnvilProcess.start()
        return self.p

    def __exit__(self, *exc):
        self.p.stop()


def test_killed_anvil_gives_clear_error_not_hang():
    c = open_chain("anvil", setup=False)
    try:
        os.killpg(c._process.pid, signal.SIGKILL)
        time.sleep(0.05)
        t0 = time.monotonic()
        with pytest.raises(AnvilCrashed) as ei:
            c.fund_deposit(c.key("sender"), 1)
        assert time.monotonic() - t0 < 5
        msg = str(ei.value)
        assert "exited mid-run" in msg and "killed by signal 9" in msg and "lpdev chain up" in msg
    finally:
        c.close()
    assert _gone(c._process.pid)


def test_missing_binary(monkeypatch, tmp_path):
    monkeypatch.setenv("LPDEV_ANVIL", str(tmp_path / "no-such-anvil"))
    with pytest.raises(AnvilMissing) as ei:
        open_chain("anvil")
    assert "LPDEV_ANVIL" in str(ei.value)


def test_binary_that_exits_at_start(monkeypatch, tmp_path):
    fake = tmp_path / "anvil"
    fake.write_text("#!/bin/sh\necho 'boom: cannot start' >&2\nexit 3\n")
    fake.chmod(0o755)
    monkeypatch.setenv("LPDEV_ANVIL", str(fake))
    t0 = time.monotonic()
    with pytest.raises(AnvilCrashed) as ei:
        open_chain("anvil")
    assert time.monotonic() - t0 < 5
    assert "exited at start with code 3" in str(ei.value) and "boom" in str(ei.value)


def test_binary_that_closes_its_output_before_exiting_is_a_crash_not_a_timeout(monkeypatch, tmp_path):
    # end of output can come before the exit is reapable (seen under load): still "exited at start"
    fake = tmp_path / "anvil"
    fake.write_text("#!/bin/sh\necho 'boom: cannot start' >&2\nexec >&- 2>&-\nsleep 0.3\nexit 3\n")
    fake.chmod(0o755)
    monkeypatch.setenv("LPDEV_ANVIL", str(fake))
    with pytest.raises(AnvilCrashed) as ei:
        open_chain("anvil")
    assert "exited at start with code 3" in str(ei.value) and "boom" in str(ei.value)


def test_port_in_use_is_reported():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    s.listen()
    try:
        with pytest.raises(AnvilCrashed) as ei:
            AnvilProcess.start(port=s.getsockname()[1])
        assert "port" in str(ei.value).lower()
    finally:
        s.close()


def test_find_anvil_is_the_pinned_binary():
    assert "anvil" in os.path.basename(find_anvil())


def test_external_backend_resolves_through_controller(anvil_chain):
    ext = open_external(anvil_chain.eth_url, anvil_chain.contracts["Controller"])
    assert ext.contracts == anvil_chain.contracts
    sender = bytes.fromhex(anvil_chain.address("sender")[2:])
    assert ext.sender_info(sender) == anvil_chain.sender_info(sender)
    assert ext.current_round() == anvil_chain.current_round()
    # an actor on the external client redeems a ticket like on the managed one
    from sim.pm.crypto import keccak
    from sim.pm.ticket import MAX_WIN_PROB, Ticket, u256

    sid = anvil_chain.snapshot()
    try:
        r = ext.last_initialized_round()
        t = Ticket(recipient=bytes.fromhex(ext.address("orchestrator")[2:]), sender=sender, face_value=5,
                   win_prob=MAX_WIN_PROB, sender_nonce=1, recipient_rand_hash=keccak(u256(42)), creation_round=r,
                   creation_round_block_hash=ext.block_hash_for_round(r))
        res = ext.redeem_winning_ticket(t, t.sign(ext.key("sender")), 42, from_key=ext.key("orchestrator"))
        assert res.ok and res.event_names() == ["WinningTicketTransfer", "WinningTicketRedeemed"]
        assert anvil_chain.is_used_ticket(t.hash())
    finally:
        anvil_chain.revert(sid)
    ext.close()
    via_api = open_chain("external", eth_url=anvil_chain.eth_url, controller=anvil_chain.contracts["Controller"])
    assert via_api.backend == "external" and via_api.contracts == anvil_chain.contracts


def test_external_wrong_controller(anvil_chain):
    with pytest.raises(ContractNotFound) as ei:
        open_external(anvil_chain.eth_url, "0x" + "12" * 20)
    assert "no contract code" in str(ei.value) and "--controller" in str(ei.value)
    # a contract that is not a Controller
    with pytest.raises(ContractNotFound) as ei:
        open_external(anvil_chain.eth_url, anvil_chain.contracts["Minter"])
    assert "Controller" in str(ei.value)
    with pytest.raises(ContractNotFound):
        open_external(anvil_chain.eth_url, "not-an-address")


def test_external_unknown_name(anvil_chain):
    """A Controller that lacks a registration: clear error naming the contract."""
    c = open_chain("anvil", setup=False)
    try:
        # deregister the Minter in this fresh deployment
        from devnet import abi

        res = c._transact(c.key("deployer"), "Controller", "setContractInfo", abi.name_id("Minter"),
                          "0x" + "00" * 20, b"\x00" * 20)
        assert res.ok
        with pytest.raises(ContractNotFound) as ei:
            open_external(c.eth_url, c.contracts["Controller"])
        assert "'Minter'" in str(ei.value) and "zero address" in str(ei.value)
    finally:
        c.close()


def test_unreachable_chain_fails_fast():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()  # nothing listens there now
    t0 = time.monotonic()
    with pytest.raises(ChainUnreachable) as ei:
        open_external(f"http://127.0.0.1:{port}", "0x" + "12" * 20)
    assert time.monotonic() - t0 < 5
    assert "cannot reach" in str(ei.value) and "lpdev chain up" in str(ei.value)


def test_silent_server_times_out():
    """A server that accepts but never answers: bounded by the RPC timeout, never a hang."""
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    s.listen()
    try:
        t0 = time.monotonic()
        with pytest.raises(ChainUnreachable) as ei:
            open_external(f"http://127.0.0.1:{s.getsockname()[1]}", "0x" + "12" * 20, timeout=0.5)
        assert time.monotonic() - t0 < 5
        assert "did not answer in time" in str(ei.value)
    finally:
        s.close()


def test_dump_and_load_state(anvil_chain, tmp_path):
    import json

    sender = bytes.fromhex(anvil_chain.address("sender")[2:])
    sid = anvil_chain.snapshot()
    assert anvil_chain.fund_deposit(anvil_chain.key("sender"), 7).ok
    state = anvil_chain.dump_state()
    path = tmp_path / "state.json"
    path.write_text(json.dumps(state))
    c2 = open_chain("anvil", load_state=str(path))
    try:
        assert c2.contracts == anvil_chain.contracts
        assert c2.sender_info(sender) == anvil_chain.sender_info(sender)
        assert c2.current_round() == anvil_chain.current_round()
        assert c2.last_block() == anvil_chain.last_block()
        assert c2.sender_info(sender).deposit == DevnetConfig().sender_deposit + 7
    finally:
        c2.close()
        anvil_chain.revert(sid)


def test_backends_agree_on_setup(anvil_chain):
    """Same bytecode, same keys, same block numbers: anvil and embedded end setup in the same state."""
    emb = open_chain("embedded", config=DevnetConfig())
    try:
        assert emb.contracts == anvil_chain.contracts
        for role in ("sender", "orchestrator"):
            a = bytes.fromhex(emb.address(role)[2:])
            assert emb.sender_info(a) == anvil_chain.sender_info(a)
            assert emb.is_active_transcoder(a) == anvil_chain.is_active_transcoder(a)
    finally:
        emb.close()
