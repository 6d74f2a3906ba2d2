"""``GET /discover-orchestrators`` (protocol.md §3.13), answering from the first request.

go-livepeer fills its discovery cache on a 25-minute timer, so a fresh signer answers 503 for up to 25 minutes.
lpdev asks the configured orchestrators (``--orch-addr``) when a request finds the cache empty or older than
``refresh_s`` (empty snapshots are never cached), so the first request already gets the list.

Listing rules (from go-livepeer): an orchestrator capability ``pipeline/model`` (from its
``capabilities.constraints.PerCapability``) is listed only if it has a positive price — the matching
``capabilities_prices`` entry, else the global ``price_info`` (pixelsPerUnit > 0) — not above the signer's
maximum for that capability/model (else the global maximum). Orchestrators with no listed capability are
dropped. ``caps`` query values select entries having any of them (OR), ordered by the caps, then cache order.
Entries are ``{"address", "score": 1, "capabilities": [...]}``; discovery runners are not modelled.

The source of OrchestratorInfos is injectable (:class:`DiscoverySource`); :class:`GrpcDiscoverySource` calls
each orchestrator's ``GetOrchestrator`` over TLS (trust on first use, like the SDK).
"""
from __future__ import annotations

import asyncio
from dataclasses import dataclass
from fractions import Fraction
from typing import Protocol
from urllib.parse import urlsplit

from sim.signer.config import SignerConfig, capability_name
from sim.tofu import channel_options, fetch_cert_pem
from sim.wire import lp_rpc_pb2 as pb

__all__ = ["DiscoverySource", "StaticDiscoverySource", "GrpcDiscoverySource", "Discovery", "discovery_entries",
           "normalize_orch_url", "valid_orch_url", "FetchResult"]


@dataclass
class FetchResult:
    url: str
    info: pb.OrchestratorInfo | None = None
    error: str | None = None


class DiscoverySource(Protocol):
    async def fetch(self) -> list[FetchResult]: ...


class StaticDiscoverySource:
    """Fixed answers (tests, scenarios): ``[(url, OrchestratorInfo | Exception)]``; mutable via ``.items``."""

    def __init__(self, items: list[tuple[str, object]] | None = None) -> None:
        self.items = list(items or [])
        self.calls = 0

    async def fetch(self) -> list[FetchResult]:
        self.calls += 1
        out = []
        for url, v in self.items:
            if isinstance(v, BaseException):
                out.append(FetchResult(url, error=str(v)))
            else:
                out.append(FetchResult(url, info=v))  # type: ignore[arg-type]
        return out


def normalize_orch_url(addr: str) -> str:
    """``host:port`` -> ``https://host:port`` (orchestrators are always TLS); trailing ``/`` dropped."""
    a = addr.strip()
    if "://" not in a:
        a = "https://" + a
    return a.rstrip("/")


class GrpcDiscoverySource:
    """``GetOrchestrator`` on each address, concurrently, each bounded by ``timeout_s``."""

    def __init__(self, addrs: list[str] | tuple[str, ...], key: bytes, *, timeout_s: float = 3.0) -> None:
        self.addrs = [normalize_orch_url(a) for a in addrs if a.strip()]
        self.key = key
        self.timeout_s = timeout_s

    async def fetch(self) -> list[FetchResult]:
        return list(await asyncio.gather(*(self._one(u) for u in self.addrs)))

    async def _one(self, url: str) -> FetchResult:
        try:
            info = await asyncio.wait_for(self._get(url), self.timeout_s)
            return FetchResult(url, info=info)
        except asyncio.TimeoutError:
            return FetchResult(url, error=f"{url}: GetOrchestrator timed out after {self.timeout_s} s")
        except Exception as exc:  # noqa: BLE001 - every failure is reported, none is fatal
            return FetchResult(url, error=f"{url}: {type(exc).__name__}: {exc}")

    async def _get(self, url: str) -> pb.OrchestratorInfo:
        import grpc

        from sim.wire import codec
        from sim.wire import lp_rpc_pb2_grpc as pbg

        parts = urlsplit(url)
        host, port = parts.hostname or "127.0.0.1", parts.port or 8935
        pem = await asyncio.to_thread(fetch_cert_pem, host, port, self.timeout_s)
        creds = grpc.ssl_channel_credentials(root_certificates=pem.encode())
        async with grpc.aio.secure_channel(f"{host}:{port}", creds, options=channel_options(pem, host)) as ch:
            stub = pbg.OrchestratorStub(ch)
            return await stub.GetOrchestrator(codec.build_orch_request(self.key), timeout=self.timeout_s)


def _capability_price(info: pb.OrchestratorInfo, cap: int, model: str) -> Fraction | None:
    for p in info.capabilities_prices:
        if p.capability == cap and p.constraint == model:
            return Fraction(p.pricePerUnit, p.pixelsPerUnit) if p.pixelsPerUnit > 0 else None
    if info.HasField("price_info") and info.price_info.pixelsPerUnit > 0:
        return Fraction(info.price_info.pricePerUnit, info.price_info.pixelsPerUnit)
    return None


def _max_for(config: SignerConfig, cap: int, model: str) -> Fraction | None:
    models = config.capability_max_prices.get(cap) or {}
    p = models.get(model, models.get("default"))
    return p if p is not None else config.max_price


def valid_orch_url(url: str) -> bool:
    """An http(s) URL with a host and a well-formed port: go-livepeer drops pool entries whose URI is empty or
    does not parse (§7 Discovery 3)."""
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError on a malformed port
    except ValueError:
        return False
    return parts.scheme in ("http", "https") and bool(parts.hostname)


def discovery_entries(results: list[FetchResult], config: SignerConfig) -> list[dict]:
    """The cacheable list: one entry per orchestrator with at least one listed capability (merged by URL)."""
    by_url: dict[str, dict] = {}
    for r in results:
        if r.info is None or not r.url.strip():
            continue
        url = normalize_orch_url(r.url)
        if not valid_orch_url(url):
            continue
        caps: set[str] = set()
        per = r.info.capabilities.constraints.PerCapability if r.info.HasField("capabilities") else {}
        for cap, cc in per.items():
            name = capability_name(cap)
            if not name:
                continue
            for model in cc.models:
                price = _capability_price(r.info, cap, model)
                if price is None or price <= 0:
                    continue
                ceiling = _max_for(config, cap, model)
                if ceiling is not None and price > ceiling:
                    continue
                caps.add(f"{name}/{model}")
        if not caps:
            continue
        entry = by_url.setdefault(url, {"address": url, "score": 1, "capabilities": []})
        entry["capabilities"] = sorted(set(entry["capabilities"]) | caps)
    return list(by_url.values())


class Discovery:
    def __init__(self, source: DiscoverySource, config: SignerConfig, clock) -> None:
        self.source = source
        self.config = config
        self.clock = clock
        self._entries: list[dict] = []
        self._fetched_at: float | None = None
        self._errors: list[str] = []
        self._lock = asyncio.Lock()

    async def snapshot(self) -> tuple[list[dict], list[str]]:
        async with self._lock:
            fresh = (self._entries and self._fetched_at is not None
                     and 0 <= self.clock.now() - self._fetched_at <= self.config.discovery_refresh_s)
            if not fresh:
                results = await self.source.fetch()
                entries = discovery_entries(results, self.config)
                self._errors = [r.error for r in results if r.error]
                self._errors += [f"invalid orchestrator URI {r.url!r}" for r in results
                                 if not r.error and not (r.url.strip() and valid_orch_url(normalize_orch_url(r.url)))]
                if not results:
                    self._errors = ["no orchestrators configured (--orch-addr)"]
                elif not entries and not self._errors:
                    self._errors = ["no orchestrator offers a priced capability within the signer's maximum price"]
                self._entries = entries
                self._fetched_at = self.clock.now() if entries else None  # empty snapshots are not cached
            return list(self._entries), list(self._errors)

    async def answer(self, caps: list[str]) -> tuple[int, object]:
        """``(status, body)``: 200 with the list, or 503 with ``{"error": {"message": ...}}``."""
        entries, errors = await self.snapshot()
        if not entries:
            return 503, {"error": {"message": "no orchestrators available: " + "; ".join(errors)}}
        wanted = [c for c in caps if c]
        if not wanted:
            return 200, entries
        out: list[dict] = []
        seen: set[str] = set()
        for c in wanted:
            for e in entries:
                if c in e["capabilities"] and e["address"] not in seen:
                    seen.add(e["address"])
                    out.append(e)
        return 200, out
