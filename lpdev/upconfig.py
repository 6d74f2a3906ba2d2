"""What ``lpdev up`` starts, and the "cast" it prints and writes (ecosystem.md §4 anvil-style banner).

:class:`UpConfig` holds every knob; values come from the defaults below, then ``lpdev.toml`` (``--config``), then
the command-line flags. The cast document (``cast_document``) is the JSON written to ``.lpdev/stack.json`` and to
``--config-out``; ``make_token`` builds the livepeer-gateway SDK token (ecosystem.md §1a.5) from it.

``lpdev.toml`` (every key optional; amounts in wei, or with a unit: ``"100eth"``, ``"20gwei"``)::

    chain = "anvil"            # anvil | embedded
    orchestrators = 1          # 1..4
    signers = 1                # 1..4
    gateway = true
    seed = 7
    remote_discovery = false
    [ports]                    # 0 = any free port
    eth = 8545                 # anvil JSON-RPC
    signer = 7936              # first signer (HTTPS); the next ones count up
    orchestrator = 8935        # first orchestrator (TLS gRPC + HTTP); the next ones count up
    [chain]
    block_time = 0.5           # seconds between mined blocks (0 = only when a transaction is sent)
    round_length = 100         # blocks per round
    [sender]
    deposit = "100eth"
    reserve = "100eth"
    [orchestrator]
    ticket_ev = "0.001eth"
    max_face_value = "0.005eth"   # face value cap => win probability = ticket_ev / max_face_value
    price_per_unit = 10000000     # wei per pixel
    pixels_per_unit = 1
    [gateway]
    interval = 5.0             # seconds between payments (the SDK's LV2V cadence)
    type = "lv2v"              # lv2v | live | fixed
    lv2v_job = false           # run a paid noop live-video-to-video job (publish, echo, pay; orchestrator debits)
    segment_s = 1.0            # with lv2v_job: seconds of generated video per published segment

All keys lpdev prints or writes are PUBLIC throwaway dev keys (the anvil mnemonic).
"""
from __future__ import annotations

import base64
import json
import os
import tempfile
from dataclasses import dataclass, fields
from fractions import Fraction
from pathlib import Path

__all__ = ["UpConfig", "ConfigError", "load_toml", "apply_toml", "cast_document", "make_token", "write_atomic",
           "read_cast", "DEFAULT_CAST", "ORCH_ROLES", "SENDER_ROLES", "MAX_ACTORS", "sdk_commands"]

ETHER = 10**18
DEFAULT_CAST = os.path.join(".lpdev", "stack.json")
# Dev-account roles (devnet.config.ROLES plus the extra indices the stack adds): one account per actor.
ORCH_ROLES = (("orchestrator", 1), ("orchestrator2", 4), ("orchestrator3", 6), ("orchestrator4", 8))
SENDER_ROLES = (("sender", 2), ("sender2", 5), ("sender3", 7), ("sender4", 9))
MAX_ACTORS = 4
KEY_NOTE = "PUBLIC throwaway dev keys from the anvil mnemonic: never send real funds to them"


class ConfigError(ValueError):
    """A bad lpdev.toml value or flag; the message names it."""


@dataclass
class UpConfig:
    chain: str = "anvil"
    orchestrators: int = 1
    signers: int = 1
    gateway: bool = True
    seed: int | None = None
    remote_discovery: bool = False
    host: str = "127.0.0.1"
    eth_port: int = 8545
    signer_port: int = 7936
    orch_port: int = 8935
    block_time: float = 0.5
    round_length: int = 100  # > 2 x 40 blocks: params expiry fits inside the ticket validity (2 rounds)
    deposit: int = 100 * ETHER
    reserve: int = 100 * ETHER
    # Demo economics: ticket EV 0.001 ETH, face value capped at 5 x EV => win probability 1/5; a 5 s LV2V payment
    # at 1e7 wei/pixel is 1280x720x30x5 px x 1e7 = 1.38e15 wei (~1.4 tickets), so a winner every ~4 payments.
    ticket_ev: int = 10**15
    max_face_value: int = 5 * 10**15
    price_per_unit: int = 10**7
    pixels_per_unit: int = 1
    # signer limits: go-livepeer's 3e12 / 2e13 would refuse the demo's 1e15 EV tickets
    max_ticket_ev: int = 10**17
    max_total_ev: int = 10**20
    interval: float = 5.0
    job_type: str = "lv2v"
    # job mode (sim.gateway.job): the gateway starts a noop LV2V job, publishes generated MPEG-TS segments and pays
    # on output segments (the SDK's cadence: at most one payment per `interval`); off = payments only
    lv2v_job: bool = False
    segment_s: float = 1.0

    def validate(self) -> "UpConfig":
        if self.chain not in ("anvil", "embedded"):
            raise ConfigError(f"chain {self.chain!r}: choose anvil or embedded")
        for name in ("orchestrators", "signers"):
            v = getattr(self, name)
            if not isinstance(v, int) or isinstance(v, bool) or not 1 <= v <= MAX_ACTORS:
                raise ConfigError(f"{name} = {v!r}: must be 1..{MAX_ACTORS} (one dev account each)")
        for name in ("eth_port", "signer_port", "orch_port"):
            v = getattr(self, name)
            if not isinstance(v, int) or isinstance(v, bool) or not 0 <= v <= 65535:
                raise ConfigError(f"{name} = {v!r}: must be a port 0..65535 (0 = any free port)")
        for name in ("signer_port", "orch_port"):
            v = getattr(self, name)
            n = self.signers if name == "signer_port" else self.orchestrators
            if v and v + n - 1 > 65535:
                raise ConfigError(f"{name} = {v}: {n} services count up past 65535")
        if self.block_time < 0:
            raise ConfigError("block_time must be >= 0")
        if self.interval <= 0:
            raise ConfigError("gateway interval must be > 0 seconds")
        if self.round_length < 1:
            raise ConfigError("round_length must be >= 1 block")
        if self.job_type not in ("lv2v", "live", "fixed"):
            raise ConfigError(f"gateway type {self.job_type!r}: choose lv2v, live or fixed")
        if self.lv2v_job and self.job_type != "lv2v":
            raise ConfigError(f"gateway lv2v_job pays with type lv2v, not {self.job_type!r}")
        if not 0 < self.segment_s <= 60:
            raise ConfigError("gateway segment_s must be > 0 and <= 60 seconds")
        if self.ticket_ev <= 0:
            raise ConfigError("ticket_ev must be > 0 wei")
        if self.max_face_value and self.max_face_value <= self.ticket_ev:
            raise ConfigError("max_face_value must be > ticket_ev (the sender refuses EV >= face value), "
                              "or 0 for no cap")
        if self.deposit <= 0 or self.reserve < 0:
            raise ConfigError("sender deposit must be > 0 and reserve >= 0")
        if self.price_per_unit < 0 or self.pixels_per_unit <= 0:
            raise ConfigError("price_per_unit must be >= 0 and pixels_per_unit > 0")
        return self

    def orch_roles(self) -> list[str]:
        return [r for r, _ in ORCH_ROLES[: self.orchestrators]]

    def sender_roles(self) -> list[str]:
        return [r for r, _ in SENDER_ROLES[: self.signers]]

    def win_prob(self) -> Fraction:
        """Expected win probability per ticket when the face value cap binds (it does with the defaults)."""
        return Fraction(self.ticket_ev, self.max_face_value) if self.max_face_value else Fraction(1, 100)


# ---------------------------------------------------------------------- lpdev.toml
# (table, key) -> UpConfig field
_TOML_KEYS = {
    (None, "chain"): "chain", (None, "orchestrators"): "orchestrators", (None, "signers"): "signers",
    (None, "gateway"): "gateway", (None, "seed"): "seed", (None, "remote_discovery"): "remote_discovery",
    ("ports", "eth"): "eth_port", ("ports", "signer"): "signer_port", ("ports", "orchestrator"): "orch_port",
    ("chain", "block_time"): "block_time", ("chain", "round_length"): "round_length",
    ("chain", "backend"): "chain",
    ("sender", "deposit"): "deposit", ("sender", "reserve"): "reserve",
    ("signer", "max_ticket_ev"): "max_ticket_ev", ("signer", "max_total_ev"): "max_total_ev",
    ("orchestrator", "ticket_ev"): "ticket_ev", ("orchestrator", "max_face_value"): "max_face_value",
    ("orchestrator", "price_per_unit"): "price_per_unit", ("orchestrator", "pixels_per_unit"): "pixels_per_unit",
    ("gateway", "interval"): "interval", ("gateway", "type"): "job_type", ("gateway", "enabled"): "gateway",
    ("gateway", "lv2v_job"): "lv2v_job", ("gateway", "segment_s"): "segment_s",
}
_AMOUNTS = {"deposit", "reserve", "ticket_ev", "max_face_value", "price_per_unit", "max_ticket_ev", "max_total_ev"}


def load_toml(path: str) -> dict:
    import tomllib

    try:
        with open(path, "rb") as f:
            return tomllib.load(f)
    except FileNotFoundError:
        raise ConfigError(f"config file {path} not found") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from None
    except OSError as exc:
        raise ConfigError(f"cannot read {path}: {exc}") from None


def _amount(v, where: str) -> int:
    if isinstance(v, bool):
        raise ConfigError(f"{where}: want an amount in wei, got {v!r}")
    if isinstance(v, int):
        return v
    if isinstance(v, str):
        from lpdev.cli import UsageError
        from lpdev.commands.chain import parse_amount

        try:
            return parse_amount(v)
        except UsageError as exc:
            raise ConfigError(f"{where}: {exc}") from None
    raise ConfigError(f"{where}: want an amount (integer wei or a string like \"1.5eth\"), got {v!r}")


def apply_toml(cfg: UpConfig, doc: dict, path: str = "lpdev.toml") -> UpConfig:
    """Set ``cfg`` fields from a parsed lpdev.toml; unknown keys and wrong types are errors naming the key."""
    types = {f.name: f.type for f in fields(UpConfig)}
    items = []
    for k, v in doc.items():
        if isinstance(v, dict):
            for k2, v2 in v.items():
                items.append(((k, k2), v2))
        else:
            items.append(((None, k), v))
    for (table, key), v in items:
        name = _TOML_KEYS.get((table, key))
        where = f"{path}: {table + '.' if table else ''}{key}"
        if name is None:
            known = sorted(f"{t + '.' if t else ''}{k}" for t, k in _TOML_KEYS)
            raise ConfigError(f"{where}: unknown key (known: {', '.join(known)})")
        t = str(types[name])
        if name in _AMOUNTS:
            v = _amount(v, where)
        elif "bool" in t:
            if not isinstance(v, bool):
                raise ConfigError(f"{where}: want true or false, got {v!r}")
        elif "float" in t:
            if isinstance(v, bool) or not isinstance(v, (int, float)):
                raise ConfigError(f"{where}: want a number, got {v!r}")
            v = float(v)
        elif "int" in t:
            if isinstance(v, bool) or not isinstance(v, int):
                raise ConfigError(f"{where}: want an integer, got {v!r}")
        elif "str" in t and not isinstance(v, str):
            raise ConfigError(f"{where}: want a string, got {v!r}")
        setattr(cfg, name, v)
    return cfg


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


def sdk_commands(doc: dict) -> list[str]:
    """Copy-paste commands for the livepeer-gateway SDK's examples (run from a clone of livepeer-python-gateway,
    with the SDK installed: ``pip install --ignore-requires-python livepeer-gateway==1.0.0`` on Python 3.11)."""
    o = _bare(doc["orchestrators"][0]["url"]) if doc.get("orchestrators") else "127.0.0.1:8935"
    s = _bare(doc.get("signer_url") or "")
    lines = [
        f"python examples/get_orchestrator_info.py {o}",
        f"python examples/get_orchestrator_info.py {o} --signer {s}",
        f"python examples/get_orchestrator_info.py --token {doc['token']}",
    ]
    lines.append(f"python examples/write_frames.py {o} --signer {s}      # LV2V noop job, paid via the signer")
    if doc.get("remote_discovery"):
        lines.append(f"python examples/get_orchestrator_info.py --signer {s}      # signer discovery")
    lines.append(
        "python -c \"from livepeer_gateway import get_orch_info, PaymentSession; "
        f"i = get_orch_info('{o}', signer_url='{s}'); "
        f"p = PaymentSession('{s}', i, type='lv2v'); p.set_manifest_id('demo'); "
        "p.send_payment(); p.send_payment(); print('paid twice')\"")
    return lines


def cast_document(up) -> dict:
    """The JSON written to .lpdev/stack.json / --config-out (``up`` is a running :class:`lpdev.upstack.UpStack`).
    Money in wei (int). Keys are throwaway dev keys."""
    chain = up.chain
    cfg: UpConfig = up.config
    signers = [{"name": s.name, "url": s.url, "http_url": s.http_url, "address": s.address, "role": s.role}
               for s in up.signers]
    orchs = [{"name": o.name, "url": o.url, "address": o.address, "role": o.role} for o in up.orchestrators]
    first = up.signers[0]
    info = chain.sender_info(bytes.fromhex(first.address[2:]))
    doc = {
        "note": KEY_NOTE,
        "pid": os.getpid(),
        "backend": chain.backend,
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
        "sender": {"address": first.address, "deposit": info.deposit, "reserve": info.reserve},
        "senders": [],
        "ticket": {"ev": cfg.ticket_ev, "max_face_value": cfg.max_face_value,
                   "win_prob": f"{cfg.win_prob().numerator}/{cfg.win_prob().denominator}",
                   "price_per_unit": cfg.price_per_unit, "pixels_per_unit": cfg.pixels_per_unit},
        "block_time": cfg.block_time,
        "round_length": cfg.round_length,
        "gateway": {"enabled": cfg.gateway, "interval": cfg.interval, "type": cfg.job_type,
                    "lv2v_job": cfg.lv2v_job},
        "remote_discovery": cfg.remote_discovery,
        "token": make_token([o["url"] for o in orchs], first.url),
    }
    for s in up.signers:
        si = chain.sender_info(bytes.fromhex(s.address[2:]))
        doc["senders"].append({"address": s.address, "deposit": si.deposit, "reserve": si.reserve})
    if cfg.remote_discovery:
        doc["discovery_token"] = make_token(None, first.url)
    doc["sdk_commands"] = sdk_commands(doc)
    return doc


def write_atomic(path: str | Path, doc: dict) -> None:
    """Write JSON to a temp file in the same directory, then rename: readers never see a partial file."""
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{p.name}.", suffix=".tmp", dir=str(p.parent))
    try:
        with os.fdopen(fd, "w") as f:
            json.dump(doc, f, indent=2)
            f.write("\n")
        os.replace(tmp, p)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


def read_cast(path: str) -> dict:
    try:
        with open(path) as f:
            doc = json.load(f)
    except FileNotFoundError:
        raise ConfigError(f"{path} not found: start the stack with `lpdev up` (it writes {DEFAULT_CAST}) or "
                          "pass --config FILE from `lpdev up --config-out FILE`") from None
    except (OSError, ValueError) as exc:
        raise ConfigError(f"cannot read {path}: {exc}") from None
    if not isinstance(doc, dict) or not doc.get("signer_url") or not isinstance(doc.get("orchestrators"), list):
        raise ConfigError(f"{path} has no signer_url/orchestrators: was it written by `lpdev up`?")
    return doc
