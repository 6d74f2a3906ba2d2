"""The remote signer's configuration (docs/remote-signer.md#price-ceilings,
docs/remote-signer.md#auth-webhook-and-caller-identity; go-livepeer's flags and defaults in
``cmd/livepeer/starter/flags.go``).

Prices are exact rationals (wei per unit). ``max_price`` is go-livepeer's ``-maxPricePerUnit / -pixelsPerUnit``
(``None`` = accept any price, Go's ``"0"``); ``capability_max_prices`` is ``-maxPricePerCapability`` parsed into
``{capability id: {model id or "default": price}}``. ``max_price_usd`` is the same ceiling given in USD per unit
(``-maxPricePerUnit 0.5e-12USD``), converted at the ETH/USD feed's rate per request.

``profile`` names the dialect (:mod:`sim.signer.profiles`): ``go-livepeer`` (default, v0.9.3),
``go-livepeer@0.9.1`` or ``livepeer-node``. The livepeer-node USD ceilings (``max_hourly_price_usd``,
``max_fixed_price_usd``; ``None`` = the profile's defaults, 36 and 1 USD) use the feed too, or ``wei_per_usd`` when
pinned; ``eth_usd_max_age_s`` (``None`` = the profile's, 2 h for node) bounds how old the feed's answer may be.
"""
from __future__ import annotations

import re
from typing import Any
from dataclasses import dataclass, field
from fractions import Fraction

from sim.pm.money import RatParseError, parse_rat
from sim.pm.sender import SenderLimits
from sim.wire import bounded

__all__ = [
    "SignerConfig", "RequestLimits", "ConfigError", "CAPABILITY_IDS", "capability_name",
    "pipeline_to_capability", "parse_capability_max_prices", "parse_webhook_headers", "parse_price", "parse_number",
    "BALANCE_DIGITS",
]


class ConfigError(ValueError):
    """A bad flag value; the message names the flag."""


# core/capabilities.go CapabilityNameLookup (ids >= 0). Pipeline names are these lower-cased, spaces -> "-".
CAPABILITY_IDS: dict[int, str] = {
    0: "H.264", 1: "MPEGTS", 2: "MP4", 3: "Fractional framerates", 4: "Storage direct", 5: "Storage S3",
    6: "Storage GCS", 7: "H264 Baseline profile", 8: "H264 Main profile", 9: "H264 High profile",
    10: "H264 Constrained, Contained High profile", 11: "GOP", 12: "Auth token", 14: "MPEG7 signature",
    15: "HEVC decode", 16: "HEVC encode", 17: "VP8 decode", 18: "VP9 decode", 19: "VP8 encode",
    20: "VP9 encode", 21: "H264 Decode YUV444 8-bit", 22: "H264 Decode YUV422 8-bit",
    23: "H264 Decode YUV444 10-bit", 24: "H264 Decode YUV422 10-bit", 25: "H264 Decode YUV420 10-bit",
    26: "Segment slicing", 27: "Text to image", 28: "Image to image", 29: "Image to video", 30: "Upscale",
    31: "Audio to text", 32: "Segment anything 2", 33: "Llm", 34: "Image to text", 35: "Live video to video",
    36: "Text to speech", 37: "byoc",
}


def capability_name(cap: int) -> str:
    """Pipeline name of a capability id (``35`` -> ``live-video-to-video``); ``""`` if unknown."""
    name = CAPABILITY_IDS.get(int(cap))
    return name.lower().replace(" ", "-") if name else ""


def pipeline_to_capability(pipeline: str) -> int:
    """go-livepeer ``PipelineToCapability``: a pipeline name to its capability id."""
    want = pipeline.strip().lower().replace(" ", "-")
    for cap, name in CAPABILITY_IDS.items():
        if name.lower().replace(" ", "-") == want:
            return cap
    raise ConfigError(f"pipeline {_shown(pipeline)} in --max-price-per-capability is not a known capability")


# Go ``big.Rat.SetString``'s decimal syntax as sim.pm.money.parse_rat reads it: ``a/b``, integers, decimals, exponents
_RAT_SYNTAX = re.compile(r"[+-]?(?:\d+/\d+|(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?)\Z")
_ZERO_DENOMINATOR = re.compile(r"/0+\Z")
#: digits a state's ``Balance`` may have (each side of ``a/b``): a balance's denominator divides
#: lcm(2^256 - 1, pixelsPerUnit…), about 100 digits; lpdev's limit is four times that.
BALANCE_DIGITS = 400


def parse_number(text: Any, *, what: str, max_digits: int = bounded.MAX_DIGITS) -> Fraction:
    """Every number the signer reads from a request, a state, a webhook reply, a flag or a config value: Go
    ``big.Rat.SetString``'s syntax, with :func:`sim.wire.bounded.parse_fraction`'s bounds (at most ``max_digits``
    digits, an exponent within them) checked on the text before anything is expanded — ``Fraction(Decimal)`` of a
    10^6-digit price stalled the event loop for 30 s, ``int()`` of one over 4 300 digits raised.

    Raises :class:`RatParseError` for what Go's ``SetString`` refuses too (not a number, ``a/0``) and
    :class:`sim.wire.bounded.BoundedInputError` for a number beyond lpdev's bounds (``.problem`` says which)."""
    s = str(text).strip() if not isinstance(text, bool) and text is not None else ""
    if not _RAT_SYNTAX.match(s) or _ZERO_DENOMINATOR.search(s):
        raise RatParseError(f"cannot parse {s[:40]!r} as a rational number")
    if len(s) <= max_digits and "e" not in s and "E" not in s:
        return parse_rat(s)  # too short to exceed the bounds: the common case (a carried Balance), the quick way
    return bounded.parse_fraction(s, what=what, max_digits=max_digits)


def parse_price(text: str, flag: str, *, usd: bool = False) -> Fraction | tuple[str, Fraction]:
    """A wei amount as integer, decimal or ``a/b`` (optionally suffixed ``wei``). With ``usd=True`` an amount
    suffixed ``USD`` (``0.5e-12USD``, go-livepeer's spelling) is also accepted and returned as ``("USD", amount)``."""
    s = str(text).strip()
    low = s.lower()
    currency = "wei"
    if low.endswith("wei"):
        s = s[:-3].strip()
    elif usd and low.endswith("usd"):
        s, currency = s[:-3].strip(), "USD"
    elif any(c.isalpha() for c in low.replace("e", "")):
        extra = " or USD (e.g. 0.5e-12USD)" if usd else ""
        raise ConfigError(f"{flag}: {_shown(text)}: the price must be in wei{extra}")
    try:
        value = parse_number(s, what=flag)
    except RatParseError:
        raise ConfigError(f"{flag}: {_shown(text)} is not a number") from None
    except bounded.BoundedInputError as exc:
        raise ConfigError(str(exc)) from None
    return ("USD", value) if currency == "USD" else value


def _shown(text: Any) -> str:
    t = str(text)
    return repr(t) if len(t) <= 40 else f"{t[:24]!r}… ({len(t)} characters)"


def parse_capability_max_prices(text: str | bytes, *, pixels_per_unit: Fraction, max_price_per_unit: Fraction,
                                what: str = "--max-price-per-capability") -> dict[int, dict[str, Fraction]]:
    """``-maxPricePerCapability`` (inline JSON; Go also accepts a file path, so does the CLI).

    ``{"capabilities_prices": [{"pipeline", "model_id" (default "default"), "price_per_unit", "pixels_per_unit",
    "currency"}]}``. Like go-livepeer: a missing/non-positive pixels_per_unit falls back to ``-pixelsPerUnit``;
    a missing/non-positive price_per_unit falls back to ``-maxPricePerUnit`` or, if that is 0, the entry is skipped.
    ``what`` names the source in errors (the flag, or the flag and its file).
    """
    if not text:
        return {}
    try:
        doc = bounded.loads_json(text, what=what, exact=True)
    except bounded.BoundedInputError as exc:
        raise ConfigError(str(exc)) from None
    entries = doc.get("capabilities_prices") if isinstance(doc, dict) else None
    if not isinstance(entries, list):
        raise ConfigError(what + ': want {"capabilities_prices": [ ... ]}')
    out: dict[int, dict[str, Fraction]] = {}
    for i, e in enumerate(entries):
        if not isinstance(e, dict):
            raise ConfigError(f"{what}: entry {i} is not an object")
        pipeline = e.get("pipeline")
        if not isinstance(pipeline, str) or not pipeline:
            raise ConfigError(f"{what}: entry {i} has no pipeline")
        model = e.get("model_id") or "default"
        currency = e.get("currency") or "wei"
        if str(currency).strip().lower() != "wei":
            raise ConfigError(f"{what}: entry {i}: currency {_shown(currency)} unsupported "
                              "(only wei; lpdev has no price feed)")
        ppu = _opt_rat(e.get("pixels_per_unit"), f"{what}: entry {i}: pixels_per_unit")
        if ppu is None or ppu <= 0:
            ppu = Fraction(pixels_per_unit)
        price = _opt_rat(e.get("price_per_unit"), f"{what}: entry {i}: price_per_unit")
        if price is None or price <= 0:
            if max_price_per_unit > 0:
                price = Fraction(max_price_per_unit)
            else:
                continue
        out.setdefault(pipeline_to_capability(pipeline), {})[str(model)] = price / ppu
    return out


def _opt_rat(v, what: str) -> Fraction | None:
    if v is None:
        return None
    if isinstance(v, (bool, list, dict)):
        raise ConfigError(f"{what} must be a number")
    try:
        return parse_number(v, what=what)
    except RatParseError:
        raise ConfigError(f"{what} {_shown(v)} is not a number") from None
    except bounded.BoundedInputError as exc:
        raise ConfigError(str(exc)) from None


def parse_webhook_headers(text: str | None) -> dict[str, str]:
    """``'k:v,k2:v2'``: split on ``,``, then on the first ``:``, trimmed (go-livepeer's parsing)."""
    out: dict[str, str] = {}
    if not text:
        return out
    for part in text.split(","):
        if not part.strip():
            continue
        if ":" not in part:
            raise ConfigError(f"--remote-signer-webhook-headers: {part.strip()!r} is not key:value")
        k, v = part.split(":", 1)
        if not k.strip():
            raise ConfigError(f"--remote-signer-webhook-headers: empty header name in {part.strip()!r}")
        out[k.strip()] = v.strip()
    return out


@dataclass(frozen=True)
class RequestLimits:
    """Size limits on ``/generate-live-payment`` input (go-livepeer has these as a TODO). Over a limit is a 4xx
    naming the field: 413 for the body, 400 for a field. Sizes are bytes of the decoded value."""

    body: int = 1 << 20  # whole request body
    orchestrator: int = 64 * 1024  # decoded OrchestratorInfo protobuf
    capabilities: int = 16 * 1024  # decoded Capabilities protobuf
    state: int = 16 * 1024  # decoded state.State JSON
    sig: int = 1024  # decoded state.Sig (a valid one is 65 bytes)
    string: int = 1024  # ManifestID, app, type, maxPrice.* (UTF-8 bytes)
    capability_entries: int = 256  # PerCapability entries, and models per capability
    webhook_response: int = 64 * 1024  # bytes read from the auth webhook


@dataclass
class SignerConfig:
    max_price: Fraction | None = None  # -maxPricePerUnit / -pixelsPerUnit; None: accept any
    capability_max_prices: dict[int, dict[str, Fraction]] = field(default_factory=dict)
    limits: SenderLimits = field(default_factory=SenderLimits)
    webhook_url: str | None = None
    webhook_headers: dict[str, str] = field(default_factory=dict)
    webhook_timeout_s: float = 5.0
    remote_discovery: bool = False
    orch_addrs: tuple[str, ...] = ()
    discovery_refresh_s: float = 60.0  # go-livepeer: -liveAICapReportInterval (25 min), but never cold
    request_limits: RequestLimits = field(default_factory=RequestLimits)
    chain_max_age_s: float = 0.5  # chain reads (last block, round, sender info) are cached this long
    replay_protection: bool = True  # lpdev extension: reject superseded / in-flight state blobs
    replay_window: int = 100_000  # state ids remembered for replay protection
    profile: Any = "go-livepeer"  # the dialect: a name in sim.signer.profiles.PROFILES, or a Profile
    max_price_usd: Fraction | None = None  # go-livepeer: the configured ceiling in USD per unit
    max_hourly_price_usd: Fraction | None = None  # livepeer-node MaxHourlyPrice (None: the profile's default)
    max_fixed_price_usd: Fraction | None = None  # livepeer-node MaxFixedPrice (None: the profile's default)
    wei_per_usd: Fraction | None = None  # livepeer-node WeiPerUSD: pin the rate instead of reading the feed
    eth_usd_max_age_s: float | None = None  # None: the profile's (node ETHUSDMaxAge 2 h; go: no limit)
    usd_poll_s: float | None = None  # None: the profile's (30 s)

    def capabilities_max_price(self, caps) -> Fraction | None:
        """``BroadcastConfig.GetCapabilitiesMaxPrice``: the sum over the request's (capability, model) pairs of the
        configured per-model (else ``"default"``) maxima; the global maximum when that sum is 0 or absent."""
        if caps is None or not caps.HasField("constraints"):
            return self.max_price
        total = Fraction(0)
        for cap_id, constraints in caps.constraints.PerCapability.items():
            models = self.capability_max_prices.get(int(cap_id))
            if not models:
                continue
            for model_id in constraints.models:
                p = models.get(model_id)
                if p is None:
                    p = models.get("default")
                if p is not None:
                    total += p
        if total == 0:
            return self.max_price
        return total
