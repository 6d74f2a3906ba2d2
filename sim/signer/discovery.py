"""``GET /discover-orchestrators`` (docs/remote-signer.md#discovery), answering from the first request.

go-livepeer fills its discovery cache on a 25-minute timer, so a fresh signer answers 503 for up to 25 minutes.
lpdev asks the configured orchestrators (``--orch-addr``) when a request finds the cache empty or older than
``refresh_s`` (empty snapshots are never cached), so the first request already gets the list.

Listing rules (from go-livepeer): an orchestrator capability ``pipeline/model`` (from its
``capabilities.constraints.PerCapability``) is listed only if it has a positive price — the matching
``capabilities_prices`` entry, else the global ``price_info`` (pixelsPerUnit > 0) — not above the signer's
maximum for that capability/model (else the global maximum). ``caps`` query values select entries having any of
them (OR), ordered by the caps, then cache order. Entries are ``{"address", "score": 1, "capabilities": [...],
"runners": [...]}`` (``runners`` omitted when empty).

Live Runner records (go-livepeer ``server/remote_discovery.go``): each orchestrator's ``GET /discovery`` is read too
(2 s timeout, 1 MiB cap; a failure does not drop the orchestrator). Its entries are merged by normalized address;
runners by their public ``url`` (first wins). A runner is kept only with a URL, a non-blank ``app``, valid
metadata and a positive **wei** ``price_info`` in ``seconds`` / ``720p-pixel-seconds`` / ``fixed`` not above the
signer's global maximum — so free runners are not listed by a signer — and each kept runner's ``app`` joins its
address's capabilities (an address with only runners is listed). go-livepeer #4089 (v0.9.3, the ``go-livepeer``
profile; not ``go-livepeer@0.9.1``): when an orchestrator answers GetOrchestrator but its ``/discovery`` fails, the
runners it listed last time are kept.

The ``livepeer-node`` profile answers in livepeer/node's shape instead (its ``discovery`` fact; docs/remote-signer.md
#discovery): every request asks each configured orchestrator's ``GET /discovery`` (5 s, 1 MiB, the ``app`` / ``gpu``
query values passed on; no cache, no GetOrchestrator, no price filter, no merging), keeps runners with a ``url``
and an ``app`` matching the filters (exact; OR within a filter, AND across; ``gpu`` is the GPU's name; ``caps`` is
ignored) and lists ``{"address", "score": 1, "runners": [...], "last_seen": <UTC time>}`` per entry that kept one.
No orchestrator configured: 503 ``no orchestrator discovery source configured``; none answered a decodable list:
503 ``orchestrator discovery unavailable`` (lpdev adds why); otherwise 200, ``[]`` included.

The source of OrchestratorInfos is injectable (:class:`DiscoverySource`); :class:`GrpcDiscoverySource` calls
each orchestrator's ``GetOrchestrator`` over TLS (trust on first use, like the SDK).
"""
from __future__ import annotations

import asyncio
from dataclasses import dataclass
from decimal import Decimal
from fractions import Fraction
from typing import Protocol
from urllib.parse import urlsplit

from sim.pm.money import RatParseError
from sim.signer.config import SignerConfig, capability_name, parse_number
from sim.signer.profiles import get_profile
from sim.tofu import channel_options, fetch_cert_pem
from sim.wire import bounded, gojson
from sim.wire import lp_rpc_pb2 as pb

__all__ = ["DiscoverySource", "StaticDiscoverySource", "GrpcDiscoverySource", "Discovery", "discovery_entries",
           "normalize_orch_url", "valid_orch_url", "FetchResult"]


@dataclass
class FetchResult:
    url: str
    info: pb.OrchestratorInfo | None = None
    error: str | None = None
    discovery: list | None = None  # the orchestrator's GET /discovery entries (None: not read / failed)
    discovery_error: str | None = None


DISCOVERY_TIMEOUT_S = 2.0  # go: endpoint discovery timeout
NODE_DISCOVERY_TIMEOUT_S = 5.0  # livepeer/node: the discovery client's timeout
DISCOVERY_MAX_BYTES = 1 << 20  # go: 1 MiB response limit (node: the same)
RUNNER_UNITS = ("seconds", "720p-pixel-seconds", "fixed")


class DiscoverySource(Protocol):
    async def fetch(self) -> list[FetchResult]:
        """GetOrchestrator and ``/discovery`` of every configured orchestrator (go-livepeer)."""

    async def fetch_discovery(self, query: dict[str, list[str]], timeout_s: float) -> list[FetchResult]:
        """``/discovery`` (with ``query``) of every configured orchestrator, nothing else (livepeer/node);
        ``[]`` when none is configured."""


class StaticDiscoverySource:
    """Fixed answers (tests, scenarios): ``[(url, OrchestratorInfo | Exception)]``; mutable via ``.items``.
    ``discovery`` maps a URL to its ``/discovery`` entries (a list) or an Exception (that endpoint fails)."""

    def __init__(self, items: list[tuple[str, object]] | None = None, discovery: dict | None = None) -> None:
        self.items = list(items or [])
        self.discovery = dict(discovery or {})
        self.calls = 0

    async def fetch_discovery(self, query: dict[str, list[str]], timeout_s: float) -> list[FetchResult]:
        self.calls += 1
        out = []
        for url, _info in self.items:
            d = self.discovery.get(url)
            if isinstance(d, BaseException) or d is None:
                out.append(FetchResult(url, discovery_error=f"{url}/discovery: {d or 'no answer'}"))
            else:
                out.append(FetchResult(url, discovery=d))
        return out

    async def fetch(self) -> list[FetchResult]:
        self.calls += 1
        out = []
        for url, v in self.items:
            if isinstance(v, BaseException):
                r = FetchResult(url, error=str(v))
            else:
                r = FetchResult(url, info=v)  # type: ignore[arg-type]
            d = self.discovery.get(url)
            if isinstance(d, BaseException):
                r.discovery_error = str(d)
            elif d is not None:
                r.discovery = d
            out.append(r)
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

    async def fetch_discovery(self, query: dict[str, list[str]], timeout_s: float) -> list[FetchResult]:
        async def one(url: str) -> FetchResult:
            doc, error = await fetch_runner_discovery(url, query=query, timeout_s=timeout_s, first_value=True)
            return FetchResult(url, discovery=doc, discovery_error=error)
        return list(await asyncio.gather(*(one(u) for u in self.addrs)))

    async def _one(self, url: str) -> FetchResult:
        info_task = asyncio.ensure_future(self._info(url))
        disc = await fetch_runner_discovery(url)
        r = await info_task
        r.discovery, r.discovery_error = disc
        return r

    async def _info(self, url: str) -> FetchResult:
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


async def fetch_runner_discovery(url: str, *, query: dict[str, list[str]] | None = None,
                                 timeout_s: float = DISCOVERY_TIMEOUT_S, first_value: bool = False
                                 ) -> tuple[list | None, str | None]:
    """``GET {url}/discovery`` (``timeout_s``, 1 MiB, the orchestrator's self-signed TLS not verified): (entries,
    error). The answer is another service's: read whole within the limit and parsed with :mod:`sim.wire.bounded`.
    ``first_value``: livepeer/node's ``json.NewDecoder(io.LimitReader(body, 1 MiB)).Decode`` — the first value of
    the first MiB, parsed the Go way (:func:`sim.wire.gojson.loads`), ``null`` is an empty list; else the whole
    body must be one JSON array (go-livepeer)."""
    import aiohttp

    what = f"{url}/discovery"
    params = [(k, v) for k, vs in (query or {}).items() for v in vs]
    try:
        timeout = aiohttp.ClientTimeout(total=timeout_s)
        async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(ssl=False), timeout=timeout) as http:
            async with http.get(url.rstrip("/") + "/discovery", params=params) as r:
                if r.status != 200:
                    return None, f"{what}: HTTP {r.status}"
                body = await bounded.read_reply(r, DISCOVERY_MAX_BYTES)
        if first_value:
            text = bounded.check_json(body[:DISCOVERY_MAX_BYTES], what=what, replace_invalid=True, first_value=True)
            try:
                doc = gojson.loads(text, first_value=True)
            except gojson.GoJSONError as exc:
                return None, f"{what}: {exc}"
            doc = [] if doc is None else doc
        else:
            if len(body) > DISCOVERY_MAX_BYTES:
                return None, f"{what}: response larger than {DISCOVERY_MAX_BYTES} bytes"
            doc = bounded.loads_json(body, what=what, max_bytes=DISCOVERY_MAX_BYTES, exact=True)
        if not isinstance(doc, list):
            return None, f"{what}: not a JSON array"
        return doc, None
    except asyncio.TimeoutError:
        return None, f"{what}: timed out after {timeout_s} s"
    except bounded.BoundedInputError as exc:
        return None, str(exc)
    except Exception as exc:  # noqa: BLE001 - a failed endpoint never drops the orchestrator (go)
        return None, f"{url}/discovery: {type(exc).__name__}: {exc}"


def _runner_price(p) -> Fraction | None:
    """go ``validateRunnerPrice``: a positive price (``big.Rat.SetString`` of the json.Number, within lpdev's number
    bounds: ``1e999999999`` is refused, not expanded) in wei per seconds / 720p-pixel-seconds / fixed."""
    if not isinstance(p, dict):
        return None
    raw = p.get("price")
    if isinstance(raw, bool) or not isinstance(raw, (int, float, str, Decimal)):
        return None
    try:
        price = parse_number(raw, what="runner price")
    except (RatParseError, bounded.BoundedInputError):
        return None
    if price <= 0:
        return None
    if str(p.get("currency", "")).strip().lower() != "wei":
        return None
    if str(p.get("unit", "")).strip().lower() not in RUNNER_UNITS:
        return None
    return price


def valid_runner(r, config: SignerConfig) -> str | None:
    """go ``validateRunner``: None when the record may be listed, else why it is filtered."""
    if not isinstance(r, dict) or not isinstance(r.get("url"), str) or not r["url"]:
        return "missing URL"
    if not isinstance(r.get("app"), str) or not r["app"].strip():
        return "missing app"
    meta = r.get("metadata", "")
    if not isinstance(meta, str) or len(meta.encode("utf-8", "surrogatepass")) > 1024 or "\ufffd" in meta:
        return "invalid metadata"
    price = _runner_price(r.get("price_info"))
    if price is None:
        return "invalid price"
    if config.max_price is not None and price > config.max_price:
        return "above global max price"
    return None


def _merge_runners(entry: dict, runners, config: SignerConfig) -> None:
    """go ``mergeDiscoveryRunners``: valid runners by URL (first wins); each runner's app joins the capabilities."""
    if not isinstance(runners, list):
        return
    have = {r["url"] for r in entry.setdefault("runners", [])}
    for r in runners:
        if valid_runner(r, config) is not None:
            continue
        if r["app"] not in entry["capabilities"]:
            entry["capabilities"].append(r["app"])
        if r["url"] in have:
            continue
        have.add(r["url"])
        entry["runners"].append(dict(r))


# ------------------------------------------------------------------------------------------------ livepeer/node
_NODE_RUNNER = "signer.discoveredRunner"


def _go_str(obj, key: str, where: str) -> str:
    v = gojson.go_string(gojson.get_ci(obj, key), f"{where}.{key}")
    return v or ""


def _go_int(obj, key: str, where: str) -> int:
    v = gojson.go_int(gojson.get_ci(obj, key), "int", f"{where}.{key}")
    return v or 0


def _go_number(obj, key: str, where: str):
    """A ``json.Number`` field: a number, or a string holding a number literal (``""`` when absent)."""
    v = gojson.get_ci(obj, key)
    if v is None:
        return ""
    if isinstance(v, bool) or not isinstance(v, (int, Decimal, str)):
        raise gojson.unmarshal_error(v, f"{where}.{key}", "json.Number")
    if isinstance(v, str) and v and not gojson.is_number_literal(v):
        raise gojson.invalid_number_literal(v)
    return v


def _node_number(v):
    """A ``json.Number`` as Go encodes it: its literal (``""`` encodes as ``0``)."""
    if v == "":
        return 0
    if isinstance(v, str):
        return int(v) if v.lstrip("-").isdigit() else Decimal(v)
    return v


def _node_runner(r) -> dict | None:
    """One runner decoded into livepeer/node's ``discoveredRunner`` and encoded back (its field order, omitempty);
    ``None`` for a JSON null. A value of the wrong kind raises :class:`sim.wire.gojson.GoJSONError`."""
    if r is None:
        return None
    if not isinstance(r, dict):
        raise gojson.unmarshal_error(r, "", _NODE_RUNNER)
    w = _NODE_RUNNER
    out: dict = {"url": _go_str(r, "url", w), "app": _go_str(r, "app", w)}
    for key in ("version", "metadata"):
        if v := _go_str(r, key, w):
            out[key] = v
    gpu = gojson.get_ci(r, "gpu")
    if gpu is not None:
        if not isinstance(gpu, dict):
            raise gojson.unmarshal_error(gpu, f"{w}.gpu", "signer.discoveredGPU")
        g = {}
        for key in ("id", "name"):
            if v := _go_str(gpu, key, f"{w}.gpu"):
                g[key] = v
        if v := _go_int(gpu, "vram_mb", f"{w}.gpu"):
            g["vram_mb"] = v
        out["gpu"] = g
    out["mode"] = _go_str(r, "mode", w)
    for key in ("capacity", "capacity_used", "capacity_available"):
        out[key] = _go_int(r, key, w)
    pi = gojson.get_ci(r, "price_info")
    if pi is not None and not isinstance(pi, dict):
        raise gojson.unmarshal_error(pi, f"{w}.price_info", "struct")
    pi = pi or {}
    price = {"price": _node_number(_go_number(pi, "price", f"{w}.price_info"))}
    if usd := _go_number(pi, "price_usd", f"{w}.price_info"):
        price["price_usd"] = _node_number(usd)
    price["currency"] = _go_str(pi, "currency", f"{w}.price_info")
    price["unit"] = _go_str(pi, "unit", f"{w}.price_info")
    out["price_info"] = price
    return out


def node_discovery_entries(doc: list) -> list[tuple[str, list[dict]]]:
    """livepeer/node's decode of one orchestrator's ``/discovery`` answer into ``[]struct{Address; Runners}``:
    ``(address, runners)`` pairs; the first value of the wrong kind raises :class:`sim.wire.gojson.GoJSONError`
    (node then skips that orchestrator)."""
    out = []
    for e in doc:
        if e is None:
            out.append(("", []))
            continue
        if not isinstance(e, dict):
            raise gojson.unmarshal_error(e, "", "struct")
        address = _go_str(e, "address", "address")
        runners = gojson.get_ci(e, "runners")
        if runners is not None and not isinstance(runners, list):
            raise gojson.unmarshal_error(runners, "runners", f"[]{_NODE_RUNNER}")
        out.append((address, [x for x in map(_node_runner, runners or []) if x is not None]))
    return out


def _node_keeps(r: dict, apps: list[str], gpus: list[str]) -> bool:
    if not r["url"] or not r["app"]:
        return False
    if apps and r["app"] not in apps:
        return False
    return not gpus or (r.get("gpu") or {}).get("name", "").strip() in gpus


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
    does not parse (go-livepeer's remote discovery tests)."""
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError on a malformed port
    except ValueError:
        return False
    return parts.scheme in ("http", "https") and bool(parts.hostname)


def discovery_entries(results: list[FetchResult], config: SignerConfig) -> list[dict]:
    """The cacheable list: one entry per address with at least one listed capability (merged by URL), then the
    orchestrators' Live Runner records merged in (go ``remoteDiscoveryPool.refresh``)."""
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
    for r in results:
        for d in r.discovery or ():
            if not isinstance(d, dict) or not isinstance(d.get("address"), str) or not d["address"]:
                continue
            key = d["address"].rstrip("/")
            if key not in by_url:
                if not valid_orch_url(key):
                    continue
                by_url[key] = {"address": d["address"], "score": 1, "capabilities": []}
            _merge_runners(by_url[key], d.get("runners"), config)
    out = []
    for entry in by_url.values():
        if not entry["capabilities"]:
            continue
        entry["capabilities"] = sorted(entry["capabilities"])
        if not entry.get("runners"):
            entry.pop("runners", None)
        out.append(entry)
    return out


class Discovery:
    def __init__(self, source: DiscoverySource, config: SignerConfig, clock) -> None:
        self.source = source
        self.config = config
        self.clock = clock
        self._entries: list[dict] = []
        self._fetched_at: float | None = None
        self._errors: list[str] = []
        self._lock = asyncio.Lock()
        self._last_runners: dict[str, list] = {}  # #4089: each orchestrator's last good /discovery
        rules = get_profile(config.profile).discovery
        self.keep_last_runners = "runners_on_failure" in rules  # #4089: go-livepeer v0.9.3, not v0.9.1
        self.node_shape = bool(rules.get("last_seen"))  # livepeer/node: live, runner records only
        self.rules = rules

    async def snapshot(self) -> tuple[list[dict], list[str]]:
        async with self._lock:
            fresh = (self._entries and self._fetched_at is not None
                     and 0 <= self.clock.now() - self._fetched_at <= self.config.discovery_refresh_s)
            if not fresh:
                results = await self.source.fetch()
                for r in results:  # #4089: it answered GetOrchestrator but not /discovery: keep its last runners
                    if r.discovery is not None:
                        self._last_runners[r.url] = r.discovery
                    elif self.keep_last_runners and r.info is not None and r.url in self._last_runners:
                        r.discovery = self._last_runners[r.url]
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

    async def answer(self, caps: list[str], *, apps: list[str] = (), gpus: list[str] = ()) -> tuple[int, object]:
        """``(status, body)``: 200 with the list, or 503 with ``{"error": {"message": ...}}``. ``caps`` filters
        go-livepeer's list; ``apps`` / ``gpus`` livepeer/node's."""
        if self.node_shape:
            return await self._answer_node(list(apps), list(gpus))
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

    async def _answer_node(self, apps: list[str], gpus: list[str]) -> tuple[int, object]:
        """livepeer/node's ``discover``: ask every configured orchestrator now; see the module docstring."""
        results = await self.source.fetch_discovery({"app": apps, "gpu": gpus}, NODE_DISCOVERY_TIMEOUT_S)
        if not results:
            return 503, {"error": {"message": self.rules["no_source"][1]}}
        last_seen = gojson.format_rfc3339nano(self.clock.now_ns())
        out: list[dict] = []
        errors: list[str] = []
        for r in results:
            if r.discovery is None:
                errors.append(r.discovery_error or f"{r.url}/discovery: no answer")
                continue
            try:
                entries = node_discovery_entries(r.discovery)
            except gojson.GoJSONError as exc:
                errors.append(f"{r.url}/discovery: {exc}")
                continue
            for address, runners in entries:
                kept = [x for x in runners if _node_keeps(x, apps, gpus)]
                if kept and valid_orch_url(address):
                    out.append({"address": address, "score": 1, "runners": kept, "last_seen": last_seen})
        if len(errors) == len(results):  # not one orchestrator answered a list
            return 503, {"error": {"message": f"{self.rules['all_failed'][1]}: " + "; ".join(errors)}}
        return 200, out
