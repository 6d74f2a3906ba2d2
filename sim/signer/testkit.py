"""Building blocks for exercising a signer over the wire: OrchestratorInfos with valid ticket params, request
bodies, and a tiny in-memory chain view. Used by the tests, ``lpdev conformance`` and ``lpdev bench signer``.

Ticket params with an exact EV: ``faceValue = ev × 255`` and ``winProb = (2^256 − 1) / 255`` (255 divides
2^256 − 1), so ``EV = faceValue × winProb / (2^256 − 1) = ev`` exactly, with ``EV < faceValue``.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from fractions import Fraction

from sim.pm.crypto import keccak
from sim.pm.sender import SenderInfo
from sim.pm.ticket import MAX_WIN_PROB, minbytes
from sim.wire import gojson
from sim.wire import lp_rpc_pb2 as pb

__all__ = ["EV_DIVISOR", "make_orch_info", "make_caps", "request_body", "MemoryChain", "DEFAULT_RECIPIENT",
           "EthUsd", "NoPriceFeed"]

from sim.chainview import EthUsd


class NoPriceFeed(RuntimeError):
    """What a chain without an ETH/USD feed raises (devnet's ChainError says the same)."""

EV_DIVISOR = 255
DEFAULT_RECIPIENT = bytes.fromhex("73AEd7b5dEb30222fa896f399d46cC99c7BEe57F")


def make_orch_info(*, ev: int = 1, price: tuple[int, int] | None = (1, 1), last_block: int = 100,
                   expiration_block: int | None = None, creation_round: int = 1,
                   creation_round_block_hash: bytes | None = None, seed: int = 1,
                   recipient: bytes = DEFAULT_RECIPIENT, address: bytes | None = None,
                   transcoder: str = "http://orch.example", auth_expiration: int | None = None,
                   now: float | None = None, auth: bool = True, ticket_params: bool = True,
                   rand_hash: bytes | None = None, face_value: int | None = None,
                   win_prob: int | None = None) -> pb.OrchestratorInfo:
    """An OrchestratorInfo a signer will accept: exact ``ev``, expiring 40 blocks after ``last_block``, an auth
    token valid for an hour after ``now``. Every piece can be overridden or dropped to build failure cases."""
    import time as _time

    now = _time.time() if now is None else now
    info = pb.OrchestratorInfo(transcoder=transcoder, address=address if address is not None else recipient)
    if price is not None:
        info.price_info.CopyFrom(pb.PriceInfo(pricePerUnit=price[0], pixelsPerUnit=price[1]))
    if ticket_params:
        fv = face_value if face_value is not None else ev * EV_DIVISOR
        wp = win_prob if win_prob is not None else (MAX_WIN_PROB // EV_DIVISOR if ev else 0)
        rrh = rand_hash if rand_hash is not None else keccak(b"rand" + seed.to_bytes(32, "big"))
        tp = pb.TicketParams(recipient=recipient, face_value=minbytes(fv), win_prob=minbytes(wp),
                             recipient_rand_hash=rrh, seed=minbytes(seed),
                             expiration_block=minbytes(expiration_block if expiration_block is not None
                                                       else last_block + 40))
        tp.expiration_params.CopyFrom(pb.TicketExpirationParams(
            creation_round=creation_round,
            creation_round_block_hash=creation_round_block_hash or keccak(b"round" + bytes([creation_round % 256]))))
        info.ticket_params.CopyFrom(tp)
    if auth:
        exp = int(now) + 3600 if auth_expiration is None else auth_expiration
        info.auth_token.CopyFrom(pb.AuthToken(token=b"t" * 32, session_id="sess0001", expiration=exp))
    return info


def make_caps(models: dict[int, list[str]]) -> pb.Capabilities:
    caps = pb.Capabilities()
    for cap, names in models.items():
        cc = caps.constraints.PerCapability[cap]
        for m in names:
            cc.models[m].warm = True
    return caps


def request_body(info: pb.OrchestratorInfo | bytes | None = None, *, state: dict | None = None,
                 manifest_id: str | None = None, type: str | None = None, in_pixels: int | None = None,
                 app: str | None = None, max_price: dict | None = None, capabilities: bytes | pb.Capabilities |
                 None = None, extra: dict | None = None) -> bytes:
    """A /generate-live-payment body the way Go's gateway spells it (``ManifestID``, ``State``/``Sig``)."""
    doc: dict = {}
    doc["state"] = state if state is not None else {"State": None, "Sig": None}
    if info is not None:
        raw = info if isinstance(info, bytes) else info.SerializeToString()
        doc["orchestrator"] = gojson.b64encode(raw)
    if manifest_id is not None:
        doc["ManifestID"] = manifest_id
    if app is not None:
        doc["app"] = app
    if in_pixels is not None:
        doc["inPixels"] = in_pixels
    if type is not None:
        doc["type"] = type
    if max_price is not None:
        doc["maxPrice"] = max_price
    if capabilities is not None:
        raw = capabilities if isinstance(capabilities, bytes) else capabilities.SerializeToString()
        doc["capabilities"] = gojson.b64encode(raw)
    if extra:
        doc.update(extra)
    return json.dumps(doc).encode()


@dataclass
class MemoryChain:
    """A minimal :class:`~sim.chainview.ChainView` for unit tests: numbers you set, nothing more."""

    block: int = 100
    round: int = 1
    senders: dict[bytes, SenderInfo] = field(default_factory=dict)
    default_sender: SenderInfo = field(default_factory=lambda: SenderInfo(deposit=10**20, reserve=10**20))
    chain_id: int = 31337
    calls: int = 0
    usd_per_eth: Fraction | None = None  # an ETH/USD feed answering this price (None: no feed)
    usd_updated_at: int | None = None  # the feed's updatedAt (None: now)

    def last_block(self) -> int:
        self.calls += 1
        return self.block

    def gas_price(self) -> int:
        return 1

    def current_round(self) -> int:
        return self.round

    def last_initialized_round(self) -> int:
        self.calls += 1
        return self.round

    def block_hash_for_round(self, round_: int) -> bytes:
        return keccak(b"round" + bytes([round_ % 256]))

    def sender_info(self, sender: bytes) -> SenderInfo:
        self.calls += 1
        return self.senders.get(bytes(sender), self.default_sender)

    def claimed_reserve(self, reserve_holder: bytes, claimant: bytes) -> int:
        return 0

    def eth_usd(self) -> EthUsd:
        if self.usd_per_eth is None:
            raise NoPriceFeed("no ETH/USD price feed on this MemoryChain")
        import time as _time

        updated = int(_time.time()) if self.usd_updated_at is None else self.usd_updated_at
        return EthUsd(usd_per_eth=Fraction(self.usd_per_eth), updated_at=updated, decimals=8, round_id=1)

    def transcoder_pool_size(self) -> int:
        return 1

    def is_active_transcoder(self, addr: bytes) -> bool:
        return True

    def is_used_ticket(self, ticket_hash: bytes) -> bool:
        return False

    def redeem_winning_ticket(self, ticket, sig, recipient_rand, *, from_key):  # pragma: no cover
        raise NotImplementedError("MemoryChain does not redeem")


def fraction_of(text: str) -> Fraction:
    from sim.pm.money import parse_rat

    return parse_rat(text)
