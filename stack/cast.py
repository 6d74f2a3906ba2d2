"""The "cast" of a running stack (like anvil's start-up banner: who is who, at which address, with which keys): the
JSON document written to ``.lpdev/stack.json`` and ``--config-out``, the livepeer-gateway SDK token built from it,
and copy-paste commands for the SDK's examples. All keys it holds are PUBLIC throwaway dev keys (the anvil mnemonic).
"""
from __future__ import annotations

import base64
import json
import os
from pathlib import Path

from stack.files import write_atomic

__all__ = ["cast_document", "make_token", "write_atomic", "read_cast", "sdk_commands", "DEFAULT_CAST", "KEY_NOTE",
           "CastError", "claim_cast_file", "release_cast_file", "find_cast"]

DEFAULT_CAST = os.path.join(".lpdev", "stack.json")
KEY_NOTE = "PUBLIC throwaway dev keys from the anvil mnemonic: never send real funds to them"


class CastError(ValueError):
    """A cast file that cannot be read or is not one; the message says what to do."""


# ---------------------------------------------------------------------- the cast
def make_token(orchestrators: list[str] | None, signer: str | None, *, discovery: str | None = None) -> str:
    """The livepeer-gateway token: base64 (standard, padded) of a JSON object with the SDK's keys
    ``orchestrators`` (list of URLs), ``signer`` (URL), optional ``discovery`` (``livepeer_gateway/token.py``)."""
    doc: dict = {}
    if orchestrators is not None:
        doc["orchestrators"] = list(orchestrators)
    if signer:
        doc["signer"] = signer
    if discovery:
        doc["discovery"] = discovery
    return base64.b64encode(json.dumps(doc, separators=(",", ":")).encode()).decode("ascii")


def _bare(url: str) -> str:
    return url.split("://", 1)[-1]


SDK_EXAMPLES = Path(__file__).resolve().parents[1] / ".sdk" / "livepeer_gateway-1.0.0" / "examples"


def sdk_commands(doc: dict) -> list[str]:
    """Commands for the livepeer-gateway SDK's own examples that work pasted into any shell, in any folder: the
    interpreter lpdev runs on (where `make` installed the SDK) and the examples `make bootstrap` unpacked into
    ``.sdk/``, by absolute path; the signer on every line; the token inline. Each exits 0 against this stack."""
    import shlex
    import sys

    o = _bare(doc["orchestrators"][0]["url"]) if doc.get("orchestrators") else "127.0.0.1:8935"
    s = _bare(doc.get("signer_url") or "")
    py = shlex.quote(sys.executable)

    def ex(name: str) -> str:
        return shlex.quote(str(SDK_EXAMPLES / name))

    lines = [
        f"{py} {ex('get_orchestrator_info.py')} {o} --signer {s}",
        f"{py} {ex('get_orchestrator_info.py')} --token {doc['token']}",
        f"{py} {ex('select_orchestrator.py')} {o} --signer {s} --model noop",
        f"{py} {ex('write_frames.py')} {o} --signer {s} --count 30",
    ]
    if doc.get("remote_discovery"):
        lines.append(f"{py} {ex('get_orchestrator_info.py')} --signer {s}")
    lines.append(
        f"{py} -c \"from livepeer_gateway import get_orch_info, PaymentSession; "
        f"i = get_orch_info('{o}', signer_url='{s}'); "
        f"p = PaymentSession('{s}', i, type='lv2v'); p.set_manifest_id('demo'); "
        "p.send_payment(); p.send_payment(); print('paid twice')\"")
    return lines


def cast_document(st) -> dict:
    """The JSON written to .lpdev/stack.json / --config-out (``st`` is a started :class:`stack.stack.Stack`).
    Money in wei (int). Keys are throwaway dev keys."""
    chain, spec = st.chain, st.spec
    signers = [{"name": s.name, "url": s.url, "http_url": s.http_url, "address": s.address, "role": s.role,
                "profile": s.spec.profile, "metrics_url": (s.https or s.http).metrics_url}
               for s in st.signers.values()]
    orchs = [{"name": o.name, "url": o.url, "address": o.address, "role": o.role, "http_url": o.http_url,
              "orch_secret": o.spec.orch_secret, "discovery_url": (o.http_url or o.url) + "/discovery"}
             for o in st.orchestrators.values()]
    runners = [{"name": n, "kind": r.kind, "url": r.url, "runner_id": r.runner_id, "app": r.registration.app,
                "orchestrator": st.spec.runners[i].orchestrator, "price_usd": st.spec.runners[i].price,
                "unit": st.spec.runners[i].unit} for i, (n, r) in enumerate(st.runners.items())]
    first = next(iter(st.signers.values()))
    o0 = spec.orchestrators[0]
    g0 = spec.gateways[0] if spec.gateways else None
    wp = spec.win_prob()
    discovery = any(s.remote_discovery for s in spec.signers)
    doc = {
        "note": KEY_NOTE,
        "pid": os.getpid(),
        "backend": chain.backend,
        "policy": st.policy.name,
        "eth_url": chain.eth_url,
        "chain_id": chain.chain_id,
        "controller": chain.contracts["Controller"],
        "contracts": dict(chain.contracts),
        "accounts": [dict(a) for a in chain.accounts],
        "signer_url": first.url,
        "signer_http_url": first.http_url,
        "signer_address": first.address,
        "signers": signers,
        "orchestrators": orchs,
        "runners": runners,
        "fork": getattr(chain, "fork", None),
        "sender": {},
        "senders": [],
        "ticket": {"ev": o0.ticket_ev, "max_face_value": o0.max_face_value,
                   "win_prob": f"{wp.numerator}/{wp.denominator}",
                   "price_per_unit": o0.price_per_unit, "pixels_per_unit": o0.pixels_per_unit},
        "block_time": spec.block_time if st.policy.block_ticker else 0,
        "round_length": spec.round_length,
        "gateway": {"enabled": bool(spec.gateways) and st.policy.gateway_loops,
                    "interval": g0.interval_s if g0 else None, "type": g0.type if g0 else None,
                    "lv2v_job": bool(g0 and g0.lv2v_job)},
        "remote_discovery": discovery,
        "token": make_token([o["url"] for o in orchs], first.url),
    }
    for s in st.signers.values():
        si = chain.sender_info(bytes.fromhex(s.address[2:]))
        entry = {"address": s.address, "deposit": si.deposit, "reserve": si.reserve}
        if s is first:
            doc["sender"] = dict(entry)
        if entry not in doc["senders"]:
            doc["senders"].append(entry)
    if discovery:
        doc["discovery_token"] = make_token(None, first.url)
    doc["sdk_commands"] = sdk_commands(doc)
    return doc


def read_cast(path: str) -> dict:
    from sim.wire import bounded

    if not os.path.exists(path):
        raise CastError(f"{path} not found: start the stack with `lpdev up` (it writes {DEFAULT_CAST}) or "
                        "pass --config FILE from `lpdev up --config-out FILE`")
    try:
        doc = bounded.load_json_file(path)
    except bounded.BoundedInputError as exc:
        raise CastError(str(exc)) from None
    if not isinstance(doc, dict) or not doc.get("signer_url") or not isinstance(doc.get("orchestrators"), list):
        raise CastError(f"{path} has no signer_url/orchestrators: was it written by `lpdev up`?")
    return doc


def _owner(path: str | Path) -> int | None:
    from sim.wire import bounded

    try:
        doc = bounded.load_json_file(path)
    except (bounded.BoundedInputError, OSError):
        return None
    pid = doc.get("pid") if isinstance(doc, dict) else None
    return pid if isinstance(pid, int) and not isinstance(pid, bool) else None


def claim_cast_file(path: str | Path, doc: dict) -> bool:
    """Write the cast to ``path`` unless another running stack owns that file (two stacks in one folder must not
    clobber each other's ``.lpdev/stack.json``). Returns whether it was written."""
    from stack.registry import _alive

    pid = _owner(path)
    if pid is not None and pid != doc["pid"] and _alive(pid):
        return False
    write_atomic(path, doc)
    return True


def release_cast_file(path: str | Path, pid: int) -> None:
    """Remove the cast file if it is still this process's (a stale file would point at a dead stack)."""
    if _owner(path) == pid:
        try:
            os.remove(path)
        except OSError:
            pass


def find_cast(config: str | None = None, stack: str | None = None) -> dict:
    """The cast a command should use: ``config`` (a file), else the running stack named ``stack``, else the only
    running stack, else this folder's ``.lpdev/stack.json`` if its stack is alive."""
    from stack.registry import RegistryError, _alive, pick, running

    if config:
        return read_cast(config)
    if stack or running():
        try:
            return pick(stack)
        except RegistryError as exc:
            raise CastError(str(exc)) from None
    pid = _owner(DEFAULT_CAST)
    if pid is not None and _alive(pid):
        return read_cast(DEFAULT_CAST)
    raise CastError("no lpdev stack is running: start one with `lpdev up` (`lpdev ps` lists running stacks), or "
                    "pass --config FILE (a cast written by `lpdev up --config-out FILE`)")
