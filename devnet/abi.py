"""ABI helpers over the committed artifacts: function encoding/decoding, event decoding, revert decoding.

Small and explicit (eth_abi only) so the same code serves anvil, the embedded py-evm chain and an external RPC,
and so a redemption does not pay web3's contract-object overhead.
"""
from __future__ import annotations

from dataclasses import dataclass

from eth_abi import decode as abi_decode, encode as abi_encode
from eth_utils import keccak, to_checksum_address

from devnet.build import DEPLOYABLE, load_artifact

__all__ = ["Fn", "functions", "decode_revert", "decode_logs", "EVENTS", "name_id"]

ERROR_SELECTOR = bytes.fromhex("08c379a0")  # Error(string)
PANIC_SELECTOR = bytes.fromhex("4e487b71")  # Panic(uint256)


def name_id(name: str) -> bytes:
    """Controller id of a contract name: keccak256(bytes(name)) (docs/chain.md#how-the-contracts-find-each-other)."""
    return keccak(name.encode())


def _type(p: dict) -> str:
    t = p["type"]
    if t.startswith("tuple"):
        return "(" + ",".join(_type(c) for c in p["components"]) + ")" + t[len("tuple"):]
    return t


@dataclass(frozen=True)
class Fn:
    name: str
    inputs: tuple[str, ...]
    outputs: tuple[str, ...]
    selector: bytes

    @property
    def signature(self) -> str:
        return f"{self.name}({','.join(self.inputs)})"

    def encode(self, *args) -> bytes:
        return self.selector + abi_encode(list(self.inputs), list(args))

    def decode(self, data: bytes) -> tuple:
        return tuple(abi_decode(list(self.outputs), bytes(data)))


def functions(contract: str) -> dict[str, Fn]:
    fns = {}
    for e in load_artifact(contract)["abi"]:
        if e["type"] != "function":
            continue
        ins = tuple(_type(p) for p in e["inputs"])
        outs = tuple(_type(p) for p in e["outputs"])
        sel = keccak(f"{e['name']}({','.join(ins)})".encode())[:4]
        fns[e["name"]] = Fn(e["name"], ins, outs, sel)
    return fns


@dataclass(frozen=True)
class _Event:
    name: str
    indexed: tuple[tuple[str, str], ...]  # (name, type)
    data: tuple[tuple[str, str], ...]
    order: tuple[str, ...]  # argument names in declaration order


def _events() -> dict[bytes, _Event]:
    out: dict[bytes, _Event] = {}
    for contract in DEPLOYABLE:
        for e in load_artifact(contract)["abi"]:
            if e["type"] != "event":
                continue
            types = [_type(p) for p in e["inputs"]]
            topic = keccak(f"{e['name']}({','.join(types)})".encode())
            out[topic] = _Event(
                e["name"],
                tuple((p["name"], _type(p)) for p in e["inputs"] if p["indexed"]),
                tuple((p["name"], _type(p)) for p in e["inputs"] if not p["indexed"]),
                tuple(p["name"] for p in e["inputs"]),
            )
    return out


EVENTS = _events()


def _jsonish(typ: str, value):
    if typ == "address":
        return to_checksum_address(value)
    if typ.startswith("bytes") or typ == "bytes":
        return "0x" + bytes(value).hex()
    return value


def _hexbytes(x) -> bytes:
    if isinstance(x, (bytes, bytearray)):
        return bytes(x)
    s = str(x)
    return bytes.fromhex(s[2:] if s.startswith("0x") else s)


def decode_logs(logs) -> list[dict]:
    """Receipt logs -> ``[{"event": name, "args": {...}}]`` in log order; unknown logs are skipped."""
    out = []
    for log in logs:
        topics = [_hexbytes(t) for t in log["topics"]]
        if not topics or topics[0] not in EVENTS:
            continue
        ev = EVENTS[topics[0]]
        args = {}
        for (name, typ), topic in zip(ev.indexed, topics[1:]):
            args[name] = _jsonish(typ, abi_decode([typ], topic)[0])
        values = abi_decode([t for _, t in ev.data], _hexbytes(log["data"])) if ev.data else ()
        for (name, typ), v in zip(ev.data, values):
            args[name] = _jsonish(typ, v)
        out.append({"event": ev.name, "args": {k: args[k] for k in ev.order}})
    return out


def decode_revert(data: bytes | str | None) -> str:
    """Revert data -> the reason string; ``Panic(0x11)`` for panics; ``""`` for empty data."""
    if data is None:
        return ""
    b = _hexbytes(data) if not isinstance(data, (bytes, bytearray)) else bytes(data)
    if not b:
        return ""
    if b[:4] == ERROR_SELECTOR:
        try:
            return abi_decode(["string"], b[4:])[0]
        except Exception:
            return "0x" + b.hex()
    if b[:4] == PANIC_SELECTOR and len(b) >= 36:
        return f"Panic(0x{int.from_bytes(b[4:36], 'big'):02x})"
    return "0x" + b.hex()
