"""Vectors that test_pm_vectors.py does not cover: GetOrchInfoSig's hex parsing (go-livepeer's test), TestTicketParams'
zero round block hash fallback (docs/tickets.md#ticket-params) through ChainWatch and the orchestrator, and the
end-to-end ticket vector through ``sim.pm.crypto`` when coincurve cannot be imported (pure-Python backend)."""
from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from aiohttp import web

from sim.gateway.signer_client import OrchestratorInfoSig, SignerClient
from sim.orchestrator.chainwatch import ChainWatch
from sim.orchestrator.node import Orchestrator, OrchestratorConfig
from sim.pm.crypto import keccak, private_key_to_address
from sim.pm.params import recipient_rand, recipient_rand_hash
from sim.pm.sender import SenderInfo
from sim.pm.ticket import ZERO_HASH
from sim.wire import codec

REPO = Path(__file__).resolve().parents[1]


# ---- go-livepeer GetOrchInfoSig: {"address":"0x1234","signature":"0xabcd"} -> 12 34 / ab cd ------------------
async def _signer_stub(body: bytes, status: int = 200) -> tuple[web.AppRunner, str]:
    async def handler(request: web.Request) -> web.Response:
        assert request.method == "POST"
        return web.Response(status=status, body=body, content_type="application/json")

    app = web.Application()
    app.router.add_post("/sign-orchestrator-info", handler)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]
    return runner, f"http://127.0.0.1:{port}"


@pytest.mark.parametrize("body,address,signature", [
    (b'{"address":"0x1234","signature":"0xabcd"}', b"\x12\x34", b"\xab\xcd"),  # the Go test's response
    (b'{"address":"1234","signature":"abcd"}\n', b"\x12\x34", b"\xab\xcd"),  # 0x is optional (HexBytes)
], ids=["go-vector", "no-0x"])
async def test_get_orch_info_sig_vector(body, address, signature):
    runner, url = await _signer_stub(body)
    client = SignerClient([url])
    try:
        got = await client.sign_orchestrator_info()
    finally:
        await client.close()
        await runner.cleanup()
    assert got == OrchestratorInfoSig(address=address, signature=signature)


async def test_get_orch_info_sig_non_200_is_go_error():
    runner, url = await _signer_stub(b"boom", status=500)
    client = SignerClient([url])
    try:
        with pytest.raises(RuntimeError, match="^remote signer returned status 500: boom$"):
            await client.sign_orchestrator_info()
    finally:
        await client.close()
        await runner.cleanup()


# ---- go-livepeer TestTicketParams: round block hash zero -> creationRound = round-1 + previous round's hash ----------
H_PREV = keccak(b"round 41")
H_LIR = keccak(b"round 42")


class StubChain:
    """The ChainView reads ChainWatch.refresh() and the sender monitor make, with fixed answers."""

    chain_id = 1337

    def __init__(self, lir: int, hashes: dict[int, bytes]) -> None:
        self.lir, self.hashes = lir, hashes
        self.hash_reads: list[int] = []

    def last_block(self) -> int:
        return 1000

    def gas_price(self) -> int:
        return 10**9

    def current_round(self) -> int:
        return self.lir

    def last_initialized_round(self) -> int:
        return self.lir

    def block_hash_for_round(self, round_: int) -> bytes:
        self.hash_reads.append(round_)
        return self.hashes.get(round_, ZERO_HASH)  # RoundsManager: zero when never initialized

    def transcoder_pool_size(self) -> int:
        return 1

    def is_active_transcoder(self, addr: bytes) -> bool:
        return True

    def sender_info(self, sender: bytes) -> SenderInfo:
        return SenderInfo(deposit=10**18, withdraw_round=0, reserve=10**18, claimed_in_current_round=0)

    def claimed_reserve(self, reserve_holder: bytes, claimant: bytes) -> int:
        return 0


@pytest.mark.parametrize("hashes,want_round,want_hash", [
    ({41: H_PREV, 42: H_LIR}, 42, H_LIR),  # normal: the last initialized round and its hash
    ({41: H_PREV, 42: ZERO_HASH}, 41, H_PREV),  # zero hash (Arbitrum bug): round-1 and the previous hash
    ({41: H_PREV}, 41, H_PREV),  # never stored (a view returning zero bytes) -> same fallback
], ids=["hash-set", "zero-hash", "never-stored"])
def test_chainwatch_zero_round_hash_fallback(hashes, want_round, want_hash):
    chain = StubChain(42, hashes)
    snap, moved = ChainWatch(chain, b"\x01" * 20).refresh()
    assert moved
    assert snap.last_initialized_round == 42
    assert (snap.creation_round, snap.creation_round_block_hash) == (want_round, want_hash)
    assert snap.to_dict()["creation_round_block_hash"] == "0x" + want_hash.hex()


def test_orchestrator_params_carry_the_fallback_round(tmp_path):
    key = keccak(b"lpdev test orchestrator")  # throwaway test key
    sender = private_key_to_address(keccak(b"lpdev test sender"))
    orch = Orchestrator(OrchestratorConfig(eth_key=key, data_dir=tmp_path),
                        StubChain(42, {41: H_PREV, 42: ZERO_HASH}), secret=b"\x03" * 32)
    try:
        info = orch.orchestrator_info(sender)
    finally:
        orch.close()
    exp = info.ticket_params.expiration_params
    assert (exp.creation_round, exp.creation_round_block_hash) == (41, H_PREV)
    params = codec.ticket_params_from_pb(info.ticket_params, codec.price_info(info.price_info))
    assert (params.creation_round, params.creation_round_block_hash) == (41, H_PREV)
    assert params.face_value > 0 and params.win_prob > 0
    # The recipientRand commitment binds the fallback round and hash (docs/tickets.md#ticket-params), so tickets the
    # sender builds on these params are checked against round 41, not the zero-hash round 42.
    rand = recipient_rand(b"\x03" * 32, params.seed, sender, params.face_value, params.win_prob,
                          params.expiration_block, params.price_per_pixel, 41, H_PREV)
    assert recipient_rand_hash(rand) == params.recipient_rand_hash


# ---- the end-to-end ticket vector through sim.pm.crypto with coincurve blocked (pure-Python backend) -----------------
_PURE_SCRIPT = textwrap.dedent("""
    import json, sys
    sys.modules["coincurve"] = None  # `import coincurve` now raises ImportError
    from fractions import Fraction
    from sim.pm import crypto
    from sim.pm.params import RecipientConfig, TicketParams
    from sim.pm.sender import create_ticket_batch
    from sim.pm.ticket import win_value

    key = bytes.fromhex("fad9c8855b740a0b7ed4c221dbad0f33a83a49cad6b3fe8d5817ac83d38b6a19")
    sender = crypto.private_key_to_address(key)
    params, rand = TicketParams.issue(
        secret=b"\\x03" + b"\\x00" * 31, cfg=RecipientConfig(ev=8_000_000_000),
        recipient=bytes.fromhex("73AEd7b5dEb30222fa896f399d46cC99c7BEe57F"), sender=sender, price=Fraction(3),
        gas_price=10**9, max_float=1_200_000_000_000_000, seed=int.from_bytes(bytes(range(1, 33)), "big"),
        last_block=20_000_000, creation_round=3600, creation_round_block_hash=crypto.keccak(b"block"))
    out = {"backend": crypto.BACKEND, "coincurve_loaded": crypto._coincurve is not None,
           "address": crypto.to_checksum_address(sender), "rand": hex(rand), "tickets": []}
    for st in create_ticket_batch(key, sender, params, range(1, 3)):
        h = st.ticket.hash()
        out["tickets"].append({
            "hash": h.hex(), "sig": st.sig.hex(),
            "sign_personal": crypto.sign_personal(key, h).hex(),
            "recovered": crypto.to_checksum_address(crypto.recover_personal(h, st.sig)),
            "verified": crypto.verify_personal(sender, h, st.sig),
            "win_value": hex(win_value(st.sig, rand))})
    print(json.dumps(out))
""")

VECTOR_TICKETS = [
    ("cfb09215f5abafe38b3c834bf1d4fe8552bd485ef49b24e7c151dd2b17aa3ced",
     "40502df6b5411b0b24409d2fc9e713eb6df529c163bfe8071b1f68dd041fef8722cc520e67148be26bd343a66c01fafd2f9eee5053"
     "977c95c3a4c8dccc3039f21c",
     "0xb18f02c3911834acc101b1681026741a48dd9fbf598ccdad3674859dbe1366be"),
    ("d2ac5f8a2947b71696016bfcff8c26a419176af3e3166eda7823820df89253f7",
     "dea95ca3949e03a3de3e913d70dc928f0212211b0fd86653ada672b24b812d4660461755bc23297cc1074042aefec84e5853fc01b3"
     "edc0e5352b1a69e48c7a901b",
     "0x43922c54df904505337f14e3bb1c7806215b553bfd09f8d9c9bed91c4a486dfe"),
]


def test_pure_python_backend_through_crypto_module():
    proc = subprocess.run([sys.executable, "-c", _PURE_SCRIPT], cwd=REPO, capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    assert out["backend"] == "pure-python" and out["coincurve_loaded"] is False
    assert out["address"] == "0x96216849c49358B10257cb55b28eA603c874b05E"
    assert out["rand"] == "0xb97815179d15e33fce3da4d09516bac510715eb9a3d72f85c95d932a1c287d7f"
    assert [(t["hash"], t["sig"], t["win_value"]) for t in out["tickets"]] == VECTOR_TICKETS
    for t in out["tickets"]:
        assert t["sign_personal"] == t["sig"]
        assert t["recovered"] == "0x96216849c49358B10257cb55b28eA603c874b05E" and t["verified"] is True
