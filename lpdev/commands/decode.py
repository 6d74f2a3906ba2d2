"""``lpdev decode``: show every field of a payment, segCreds, OrchestratorInfo or signer state.

    lpdev decode payment  <base64|->  [--recipient-rand HEX] [--json]
    lpdev decode segcreds <base64|->  [--sender ADDR] [--json]
    lpdev decode orch-info <base64|-> [--json]
    lpdev decode state    <json|->    [--signer ADDR] [--json]

Inputs are what travels on the wire (docs/wire.md, docs/remote-signer.md#endpoints): the ``Livepeer-Payment`` /
``Livepeer-Segment`` header values, the base64 ``orchestrator`` field, and the ``{"State": …, "Sig": …}`` envelope
(a whole /generate-live-payment request or response also works, and so does a bare state JSON). ``-`` reads stdin.
Malformed input is one line on stderr and exit code 2.

JSON output: 256-bit numbers (face value, win prob, seed) are decimal strings, fractions are RatStrings,
byte strings are ``0x`` hex, addresses EIP-55.
"""
from __future__ import annotations

import argparse
import json
import sys
from fractions import Fraction
from typing import Any

from lpdev.cli import UsageError
from sim.pm.crypto import SignatureError, bytes_to_address, keccak, parse_address, to_checksum_address
from sim.pm.money import float_string, rat_string
from sim.pm.ticket import MAX_WIN_PROB, from_minbytes, ticket_ev, u256, win_value
from sim.wire import bounded, codec
from sim.wire import lp_rpc_pb2 as pb
from sim.wire.capabilities import capability_ids, capability_name
from sim.wire.gojson import GoJSONError, format_rfc3339nano, get_ci, has_ci, loads
from sim.wire.state import RemotePaymentState, StateError, parse_envelope, recover_state_signer

__all__ = ["register", "describe_payment", "describe_segcreds", "describe_orch_info", "describe_state"]


# ==================================================================================================
# Small formatting helpers
# ==================================================================================================
def _hex(b: bytes) -> str:
    return "0x" + bytes(b).hex()


def _addr(b: bytes) -> str:
    return to_checksum_address(bytes(b))


def _wei(x: Fraction | int) -> str:
    """Readable wei amount: integer, or 3 decimals when fractional."""
    x = Fraction(x)
    return str(x.numerator) if x.denominator == 1 else float_string(x, 3)


def _eth(wei: int) -> str:
    return float_string(Fraction(wei, 10**18), 18).rstrip("0").rstrip(".") or "0"


def _win_prob(wp: int) -> dict[str, Any]:
    frac = Fraction(wp, MAX_WIN_PROB)
    return {"int": str(wp), "hex": hex(wp), "fraction": rat_string(frac),
            "decimal": float_string(frac, 14), "percent": float_string(frac * 100, 12)}


def _win_prob_approx(wp: int) -> str:
    """Human "1 in N" form of a win prob: ``≈ 1/150000`` (N = MAX_WIN_PROB / wp, rounded); above 1/2, the
    closest fraction with a denominator up to 1000."""
    if wp <= 0:
        return "= 0 (never wins)"
    if wp >= MAX_WIN_PROB:
        return "= 1 (always wins)"
    if 2 * wp <= MAX_WIN_PROB:
        n = (2 * MAX_WIN_PROB + wp) // (2 * wp)  # round half up
        return f"≈ 1/{n}"
    f = Fraction(wp, MAX_WIN_PROB).limit_denominator(1000)
    return f"≈ {f.numerator}/{f.denominator}"


def _price(p: pb.PriceInfo) -> dict[str, Any]:
    out: dict[str, Any] = {"price_per_unit": p.pricePerUnit, "pixels_per_unit": p.pixelsPerUnit}
    try:
        out["price"] = rat_string(codec.price_info(p))
    except codec.WireError as exc:
        out["price"] = None
        out["price_error"] = str(exc)
    if p.capability:
        out["capability"] = p.capability
        out["capability_name"] = capability_name(p.capability)
    if p.constraint:
        out["constraint"] = p.constraint
    return out


def _time(unix_s: int) -> str | None:
    try:
        return format_rfc3339nano(unix_s * 1_000_000_000)
    except ValueError:
        return None


def _auth_token(t: pb.AuthToken) -> dict[str, Any]:
    return {"token": _hex(t.token), "session_id": t.session_id, "expiration": t.expiration,
            "expiration_time": _time(t.expiration)}


def _capabilities(c: pb.Capabilities) -> dict[str, Any]:
    caps = capability_ids(c.bitstring)
    out: dict[str, Any] = {
        "capabilities": [{"id": i, "name": capability_name(i)} for i in caps],
        "mandatories": capability_ids(c.mandatories),
        "capacities": {str(k): v for k, v in sorted(c.capacities.items())},
        "version": c.version,
    }
    if c.HasField("constraints"):
        per = {}
        for cap_id, cc in sorted(c.constraints.PerCapability.items()):
            per[str(cap_id)] = {
                "name": capability_name(cap_id),
                "models": {m: {"warm": mc.warm, "capacity": mc.capacity, "runner_version": mc.runnerVersion,
                               "capacity_in_use": mc.capacityInUse}
                           for m, mc in sorted(cc.models.items())},
            }
        out["constraints"] = {"min_version": c.constraints.minVersion, "per_capability": per}
    return out


def _ticket_params(tp: pb.TicketParams) -> dict[str, Any]:
    fv, wp = from_minbytes(tp.face_value), from_minbytes(tp.win_prob)
    out: dict[str, Any] = {
        "recipient": _addr(tp.recipient) if tp.recipient else None,
        "face_value": str(fv),
        "face_value_eth": _eth(fv),
        "win_prob": _win_prob(wp),
        "ev": rat_string(ticket_ev(fv, wp)),
        "ev_wei": _wei(ticket_ev(fv, wp)),
        "recipient_rand_hash": _hex(tp.recipient_rand_hash),
        "seed": str(from_minbytes(tp.seed)),
        "seed_hex": _hex(tp.seed),
        "expiration_block": from_minbytes(tp.expiration_block),
    }
    if tp.HasField("expiration_params"):
        out["creation_round"] = tp.expiration_params.creation_round
        out["creation_round_block_hash"] = _hex(tp.expiration_params.creation_round_block_hash)
    return out


# ==================================================================================================
# Describers: protobuf -> JSON-able dict
# ==================================================================================================
def describe_payment(pay: pb.Payment, recipient_rand: int | None = None) -> dict[str, Any]:
    tickets = codec.payment_tickets(pay)
    doc: dict[str, Any] = {
        "sender": _addr(pay.sender),
        "num_tickets": len(tickets),
        "expected_price": _price(pay.expected_price) if pay.HasField("expected_price") else None,
    }
    if pay.HasField("ticket_params"):
        tp = _ticket_params(pay.ticket_params)
        doc.update({k: tp[k] for k in ("recipient", "face_value", "face_value_eth", "win_prob", "ev", "ev_wei",
                                        "recipient_rand_hash", "seed", "seed_hex", "expiration_block")})
    else:
        doc.update({"recipient": None, "face_value": None, "win_prob": None, "ev": None})
    if pay.HasField("expiration_params"):
        doc["creation_round"] = pay.expiration_params.creation_round
        doc["creation_round_block_hash"] = _hex(pay.expiration_params.creation_round_block_hash)
    if recipient_rand is not None:
        doc["recipient_rand"] = hex(recipient_rand)
        if pay.HasField("ticket_params"):
            doc["recipient_rand_matches_hash"] = (
                keccak(u256(recipient_rand)) == codec.hash32(pay.ticket_params.recipient_rand_hash))
    sender = bytes_to_address(pay.sender) if pay.sender else b""
    out = []
    total = Fraction(0)
    for ticket, sig in tickets:
        entry: dict[str, Any] = {"nonce": ticket.sender_nonce, "hash": _hex(ticket.hash()), "sig": _hex(sig)}
        try:
            signer = ticket.recover_signer(sig)
            entry["signer"] = _addr(signer)
            entry["signer_is_sender"] = signer == sender
        except SignatureError as exc:
            entry["signer"] = None
            entry["signer_is_sender"] = False
            entry["sig_error"] = str(exc)
        entry["ev"] = rat_string(ticket.ev)
        entry["ev_wei"] = _wei(ticket.ev)
        total += ticket.ev
        if recipient_rand is not None:
            wv = win_value(sig, recipient_rand)
            entry["win_value"] = hex(wv)
            entry["winning"] = wv < ticket.win_prob
        out.append(entry)
    doc["total_ev"] = rat_string(total)
    doc["total_ev_wei"] = _wei(total)
    doc["tickets"] = out
    return doc


def describe_segcreds(seg: pb.SegData, sender: bytes | None = None) -> dict[str, Any]:
    try:
        mid: str | None = bytes(seg.manifestId).decode("utf-8")
    except UnicodeDecodeError:
        mid = None
    flat = codec.segcreds_flatten_of(seg)
    doc: dict[str, Any] = {
        "manifest_id": mid,
        "manifest_id_hex": _hex(seg.manifestId),
        "seq": seg.seq,
        "hash": _hex(seg.hash),
        "hash_is_empty_segment": bytes(seg.hash) == codec.EMPTY_SEGMENT_HASH,
        "profiles": bytes(seg.profiles).decode("latin-1"),
        "duration_ms": seg.duration,
        "flatten": _hex(flat),
        "sig": _hex(seg.sig),
    }
    try:
        doc["signer"] = _addr(codec.segcreds_signer(seg))
    except SignatureError as exc:
        doc["signer"] = None
        doc["sig_error"] = str(exc)
    if sender is not None:
        doc["expected_sender"] = _addr(sender)
        doc["sig_valid"] = codec.verify_segcreds(seg, sender)
    doc["auth_token"] = _auth_token(seg.auth_token) if seg.HasField("auth_token") else None
    doc["capabilities"] = _capabilities(seg.capabilities) if seg.HasField("capabilities") else None
    doc["calc_perceptual_hash"] = seg.calc_perceptual_hash
    doc["force_session_reinit"] = seg.ForceSessionReinit
    doc["storage"] = len(seg.storage)
    doc["full_profiles"] = {name: [p.name for p in getattr(seg, name)]
                            for name in ("fullProfiles", "fullProfiles2", "fullProfiles3")}
    if seg.HasField("segment_parameters"):
        doc["segment_parameters"] = {"from_ms": getattr(seg.segment_parameters, "from"),
                                     "to_ms": seg.segment_parameters.to}
    return doc


def describe_orch_info(info: pb.OrchestratorInfo) -> dict[str, Any]:
    return {
        "transcoder": info.transcoder,
        "address": _addr(info.address) if info.address else None,
        "price_info": _price(info.price_info) if info.HasField("price_info") else None,
        "ticket_params": _ticket_params(info.ticket_params) if info.HasField("ticket_params") else None,
        "auth_token": _auth_token(info.auth_token) if info.HasField("auth_token") else None,
        "capabilities": _capabilities(info.capabilities) if info.HasField("capabilities") else None,
        "capabilities_prices": [_price(p) for p in info.capabilities_prices],
        "hardware": [{"pipeline": h.pipeline, "model_id": h.model_id,
                      "gpus": {k: {"id": g.id, "name": g.name, "major": g.major, "minor": g.minor,
                                   "memory_free": g.memory_free, "memory_total": g.memory_total}
                               for k, g in sorted(h.gpu_info.items())}} for h in info.hardware],
        "storage": [pb.OSInfo.StorageType.Name(s.storageType) for s in info.storage],
        "nodes": list(info.nodes),
    }


def describe_state(raw: bytes, sig: bytes | None, signer: bytes | None = None) -> dict[str, Any]:
    state = RemotePaymentState.from_json(raw)
    go = state.to_go_dict()
    doc: dict[str, Any] = {"state": go, "raw_state": raw.decode("utf-8", errors="replace"),
                           "raw_state_bytes": len(raw)}
    bal = state.balance_rat
    doc["balance_wei"] = _wei(bal) if bal is not None else None
    price = state.initial_price
    doc["initial_price"] = rat_string(price) if price is not None else None
    doc["last_update_is_zero"] = state.last_update_is_zero
    doc["sig"] = _hex(sig) if sig is not None else None
    if sig is not None:
        try:
            rec = recover_state_signer(raw, sig)
            doc["signer"] = _addr(rec)
        except SignatureError as exc:
            rec = None
            doc["signer"] = None
            doc["sig_error"] = str(exc)
        if signer is not None:
            doc["expected_signer"] = _addr(signer)
            doc["sig_valid"] = rec is not None and rec == signer
    elif signer is not None:
        doc["expected_signer"] = _addr(signer)
        doc["sig_valid"] = None
    return doc


# ==================================================================================================
# Human rendering
# ==================================================================================================
def _lines(doc: Any, indent: int = 0) -> list[str]:
    pad = "  " * indent
    out: list[str] = []
    if isinstance(doc, dict):
        for k, v in doc.items():
            label = k.replace("_", " ")
            if isinstance(v, dict) and v:
                out.append(f"{pad}{label}:")
                out.extend(_lines(v, indent + 1))
            elif isinstance(v, list) and v and isinstance(v[0], (dict, list)):
                out.append(f"{pad}{label}:")
                for i, item in enumerate(v):
                    out.append(f"{pad}  [{i}]")
                    out.extend(_lines(item, indent + 2))
            else:
                out.append(f"{pad}{label:<{max(12, 30 - len(pad))}} {_scalar(v)}")
    elif isinstance(doc, list):
        for item in doc:
            out.append(f"{pad}{_scalar(item)}")
    return out


def _scalar(v: Any) -> str:
    if v is None:
        return "-"
    if isinstance(v, bool):
        return "yes" if v else "no"
    if isinstance(v, (list, dict)):
        return json.dumps(v) if v else ("[]" if isinstance(v, list) else "{}")
    return str(v)


def _render_payment(doc: dict[str, Any]) -> list[str]:
    out = [f"Payment: {doc['num_tickets']} ticket(s)"]
    wp = doc.get("win_prob")
    head = {
        "sender": doc["sender"],
        "recipient": doc.get("recipient"),
        "face value": f"{doc['face_value']} wei ({doc['face_value_eth']} ETH)" if doc.get("face_value") else None,
        "win prob": (f"{wp['int']} = {wp['decimal']} x (2^256-1) = {wp['percent']} % "
                     f"{_win_prob_approx(int(wp['int']))}" if wp else None),
        "EV per ticket": f"{doc['ev_wei']} wei" if doc.get("ev") else None,
        "expected price": (f"{doc['expected_price']['price']} wei/unit (pricePerUnit "
                           f"{doc['expected_price']['price_per_unit']}, pixelsPerUnit "
                           f"{doc['expected_price']['pixels_per_unit']})" if doc.get("expected_price") else None),
        "recipient rand hash": doc.get("recipient_rand_hash"),
        "seed": doc.get("seed_hex"),
        "expiration block": doc.get("expiration_block"),
        "creation round": doc.get("creation_round"),
        "creation round block hash": doc.get("creation_round_block_hash"),
        "total EV": f"{doc['total_ev_wei']} wei" if doc["tickets"] else None,
    }
    if "recipient_rand" in doc:
        head["recipient rand"] = doc["recipient_rand"]
        head["rand matches hash"] = doc.get("recipient_rand_matches_hash")
    out += [f"  {k:<26} {_scalar(v)}" for k, v in head.items()]
    for i, t in enumerate(doc["tickets"]):
        out.append(f"  ticket [{i}] nonce {t['nonce']}")
        out.append(f"    {'hash':<24} {t['hash']}")
        if t["signer"]:
            same = "= sender" if t["signer_is_sender"] else "NOT the sender"
            out.append(f"    {'signer':<24} {t['signer']} ({same})")
        else:
            out.append(f"    {'signer':<24} - (bad signature: {t['sig_error']})")
        out.append(f"    {'EV':<24} {t['ev_wei']} wei")
        if "winning" in t:
            out.append(f"    {'win test':<24} {'WINS' if t['winning'] else 'loses'} (win value {t['win_value']})")
    return out


# ==================================================================================================
# CLI plumbing
# ==================================================================================================
MAX_INPUT = 64 * 1024  # a payment of 100 tickets is ~11 KB of base64


def _read_input(value: str) -> str:
    if value == "-":
        stdin = getattr(sys.stdin, "buffer", sys.stdin)  # bytes when there are bytes: binary input is named
        text = bounded.decode_text(stdin.read(MAX_INPUT + 1), what="stdin", max_bytes=MAX_INPUT)
    else:
        text = bounded.decode_text(value, what="the argument", max_bytes=MAX_INPUT)
    text = text.strip()
    if not text:
        raise UsageError("empty input")
    return text


def _parse_addr(text: str | None, flag: str) -> bytes | None:
    if text is None:
        return None
    try:
        return parse_address(text)
    except ValueError as exc:
        raise UsageError(f"{flag}: {exc}") from None


def _parse_rand(text: str | None) -> int | None:
    if text is None:
        return None
    s = text.strip()
    s = s[2:] if s.lower().startswith("0x") else s
    try:
        raw = bytes.fromhex(s if len(s) % 2 == 0 else "0" + s)
    except ValueError:
        raise UsageError(f"--recipient-rand: not hex: {text!r}") from None
    if not raw or len(raw) > 32:
        raise UsageError(f"--recipient-rand: want 1 to 32 bytes of hex, got {len(raw)}")
    return int.from_bytes(raw, "big")


def _emit(args: argparse.Namespace, doc: dict[str, Any], lines: list[str]) -> int:
    if args.json:
        print(json.dumps(doc, indent=2))
    else:
        print("\n".join(lines))
    return 0


def _cmd_payment(args: argparse.Namespace) -> int:
    rand = _parse_rand(args.recipient_rand)
    try:
        pay = codec.decode_payment(_read_input(args.data))
        doc = describe_payment(pay, rand)
    except codec.WireError as exc:
        raise UsageError(str(exc)) from None
    return _emit(args, doc, _render_payment(doc))


def _cmd_segcreds(args: argparse.Namespace) -> int:
    sender = _parse_addr(args.sender, "--sender")
    try:
        doc = describe_segcreds(codec.decode_segcreds(_read_input(args.data)), sender)
    except codec.WireError as exc:
        raise UsageError(str(exc)) from None
    return _emit(args, doc, ["SegCreds (SegData)"] + _lines(doc, 1))


def _cmd_orch_info(args: argparse.Namespace) -> int:
    try:
        doc = describe_orch_info(codec.decode_orch_info(_read_input(args.data)))
    except codec.WireError as exc:
        raise UsageError(str(exc)) from None
    return _emit(args, doc, ["OrchestratorInfo"] + _lines(doc, 1))


def _split_state_input(text: str) -> tuple[bytes, bytes | None]:
    """(raw state JSON, sig or None) from an envelope, a request/response holding one, or a bare state."""
    try:
        obj = loads(bounded.check_json(text, what="state", max_bytes=MAX_INPUT))
    except GoJSONError as exc:
        raise UsageError(f"state: not valid JSON: {exc}") from None
    if not isinstance(obj, dict):
        raise UsageError("state: want a JSON object (the {\"State\",\"Sig\"} envelope or a state)")
    inner = get_ci(obj, "State")
    if isinstance(inner, dict):  # a whole request/response: {"state": {"State":…, "Sig":…}, …}
        obj = inner
    if isinstance(get_ci(obj, "State"), str) or isinstance(get_ci(obj, "Sig"), str):
        try:
            raw, sig = parse_envelope(obj)
        except StateError as exc:
            raise UsageError(f"state envelope: {exc}") from None
        if not raw:
            raise UsageError("state envelope: State is empty")
        if sig and len(sig) != 65:
            raise UsageError(f"state envelope: Sig is {len(sig)} bytes, want 65")
        return raw, (sig if sig else None)
    if (has_ci(obj, "State") or has_ci(obj, "Sig")) and get_ci(obj, "State") is None:
        raise UsageError("state envelope: State is null (no state yet)")
    return text.encode("utf-8"), None


def _cmd_state(args: argparse.Namespace) -> int:
    signer = _parse_addr(args.signer, "--signer")
    raw, sig = _split_state_input(_read_input(args.data))
    try:
        doc = describe_state(raw, sig, signer)
    except StateError as exc:
        raise UsageError(f"state: {exc}") from None
    lines = ["RemotePaymentState"] + _lines(doc["state"], 1)
    extra = {k: v for k, v in doc.items() if k not in ("state", "raw_state")}
    lines += _lines(extra, 1)
    return _emit(args, doc, lines)


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "decode", help="decode a payment, segCreds, OrchestratorInfo or signer state",
        description="Show every field of a payment, segCreds, OrchestratorInfo or signer state, as sent on "
                    "the wire. Malformed input: one line on stderr, exit code 2.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="\n".join(line for line in __doc__.splitlines() if line.startswith("    lpdev decode")))
    sub = p.add_subparsers(dest="decode_kind", metavar="KIND", required=True)

    def common(sp: argparse.ArgumentParser, what: str) -> None:
        sp.add_argument("data", help=f"{what}, or - to read stdin")
        sp.add_argument("--json", action="store_true", help="print one JSON document")

    sp = sub.add_parser("payment", help="a Livepeer-Payment value (base64 protobuf net.Payment)")
    common(sp, "base64 Payment")
    sp.add_argument("--recipient-rand", metavar="HEX", help="the orchestrator's recipientRand: run each ticket's win test")
    sp.set_defaults(func=_cmd_payment)

    sp = sub.add_parser("segcreds", help="a Livepeer-Segment value (base64 protobuf net.SegData)")
    common(sp, "base64 SegData")
    sp.add_argument("--sender", metavar="ADDR", help="check the signature against this sender address")
    sp.set_defaults(func=_cmd_segcreds)

    sp = sub.add_parser("orch-info", help="a base64 protobuf net.OrchestratorInfo")
    common(sp, "base64 OrchestratorInfo")
    sp.set_defaults(func=_cmd_orch_info)

    sp = sub.add_parser("state", help='the signer state: {"State","Sig"} envelope JSON, or a raw state JSON')
    common(sp, "JSON")
    sp.add_argument("--signer", metavar="ADDR", help="check the state signature against this signer address")
    sp.set_defaults(func=_cmd_state)
