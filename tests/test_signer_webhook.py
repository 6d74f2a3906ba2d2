"""TestGenerateLivePayment_WebhookCallback 1–17 (go-livepeer server/remote_signer_test.go;
docs/remote-signer.md#auth-webhook-and-caller-identity) against a real local webhook."""
from __future__ import annotations

import asyncio
import json
from fractions import Fraction

import pytest
from aiohttp import web

from sim.signer.config import SignerConfig

from tests.test_signer_harness import Signer


class Webhook:
    """A scripted auth webhook on loopback: replies from a list (the last one repeats)."""

    def __init__(self, replies: list) -> None:
        self.replies = list(replies)
        self.calls: list[dict] = []
        self.runner: web.AppRunner | None = None
        self.url = ""

    async def handle(self, request: web.Request) -> web.Response:
        body = await request.read()
        self.calls.append({"headers": dict(request.headers), "body": json.loads(body), "raw": body})
        reply = self.replies[min(len(self.calls) - 1, len(self.replies) - 1)]
        if isinstance(reply, tuple):  # (http status, raw body)
            return web.Response(status=reply[0], body=reply[1])
        if reply == "sleep":
            await asyncio.sleep(1.5)
        return web.json_response(reply)

    async def __aenter__(self) -> "Webhook":
        app = web.Application()
        app.router.add_post("/auth", self.handle)
        self.runner = web.AppRunner(app, access_log=None)
        await self.runner.setup()
        site = web.TCPSite(self.runner, "127.0.0.1", 0)
        await site.start()
        self.url = f"http://127.0.0.1:{site._server.sockets[0].getsockname()[1]}/auth"
        return self

    async def __aexit__(self, *exc) -> None:
        await self.runner.cleanup()


def cfg(hook: Webhook | None, **kw) -> SignerConfig:
    return SignerConfig(webhook_url=hook.url if hook else None, **kw)


REQ_ID = {"X-Request-ID": "req-123"}


async def pay(s: Signer, price=(1, 1), ev=1, **kw):
    kw.setdefault("manifest_id", "manifest")
    if "type" not in kw:
        kw.setdefault("in_pixels", 1)
    headers = {**REQ_ID, **kw.pop("headers", {})}
    return await s.pay(s.info(price=price, ev=ev), headers=headers, **kw)


async def test_wh01_no_webhook():
    async with Signer(cfg(None)) as s:
        assert (await pay(s)).status == 200


async def test_wh02_webhook_max_price_481():
    async with Webhook([{"status": 200, "maxPrice": {"price": 0.5, "currency": "wei", "unit": "fixed"}}]) as h:
        async with Signer(cfg(h)) as s:
            r = await pay(s, type="fixed")
            assert r.status == 481 and "auth webhook maxPrice" in r.message
            assert r.message == "orchestrator price 1.000 exceeds auth webhook maxPrice ceiling 0.500"


async def test_wh03_webhook_bad_max_price_502():
    async with Webhook([{"status": 200, "maxPrice": {"price": 1, "currency": "usd", "unit": "fixed"}}]) as h:
        async with Signer(cfg(h)) as s:
            r = await pay(s, type="fixed")
            assert (r.status, r.message) == (502, "signer auth invalid maxPrice: maxPrice.currency must be wei")


async def test_wh04_ceilings_before_webhook():
    mp05 = {"status": 200, "maxPrice": {"price": 0.5, "currency": "wei", "unit": "fixed"}}
    async with Webhook([{"status": 200}, mp05]) as h:
        async with Signer(cfg(h, max_price=Fraction(3))) as s:
            def mp(p):
                return {"price": p, "currency": "wei", "unit": "fixed"}
            # a. equality passes, webhook called once
            r = await pay(s, price=(2, 1), ev=2, type="fixed", max_price=mp(2))
            assert r.status == 200, r.body and len(h.calls) == 1
            assert len(h.calls) == 1
            st = r.state
            # b. with state (initial 2): price 7/4, request max 1.5 -> request maxPrice, no call
            r = await pay(s, price=(7, 4), ev=2, type="fixed", max_price=mp(1.5), state=st)
            assert r.status == 481 and "request maxPrice" in r.message and len(h.calls) == 1
            # c. price 9/4 > initial 2, request max 2.5 -> initial session price
            r = await pay(s, price=(9, 4), ev=2, type="fixed", max_price=mp(2.5), state=st)
            assert r.status == 481 and "initial session price" in r.message and len(h.calls) == 1
            # d. configured max 3/2: price 7/4, request 2.5 -> configured maximum price
            s.core.config.max_price = Fraction(3, 2)
            r = await pay(s, price=(7, 4), ev=2, type="fixed", max_price=mp(2.5))
            assert r.status == 481 and "configured maximum price" in r.message and len(h.calls) == 1
            # e. configured 3, price 1, request 1.5 -> webhook (2nd call) says 0.5
            s.core.config.max_price = Fraction(3)
            r = await pay(s, price=(1, 1), ev=2, type="fixed", max_price=mp(1.5))
            assert r.status == 481 and "auth webhook maxPrice" in r.message and len(h.calls) == 2


async def test_wh05_headers_and_body():
    async with Webhook([{"status": 200}]) as h:
        c = cfg(h, webhook_headers={"Authorization": "Bearer abc", "X-API-Key": "secret"})
        async with Signer(c) as s:
            info = s.info()
            r = await s.pay(info, headers=REQ_ID, in_pixels=1, manifest_id="manifest", app="my-app")
            assert r.status == 200, r.body
            call = h.calls[0]
            assert call["headers"]["Authorization"] == "Bearer abc"
            assert call["headers"]["X-API-Key"] == "secret"
            assert call["headers"]["Content-Type"] == "application/json"
            body = call["body"]
            assert body["headers"]["X-Request-Id"] == ["req-123"]
            assert "Host" not in body["headers"]
            assert body["state"]["PMSessionID"] == "0x" + info.ticket_params.recipient_rand_hash.hex()
            assert body["state"]["App"] == "my-app"
            assert list(body["state"]) == ["StateID", "PMSessionID", "LastUpdate", "OrchestratorAddress", "App",
                                           "AuthExpiry", "SenderNonce", "Balance", "InitialPricePerUnit",
                                           "InitialPixelsPerUnit", "Type", "SequenceNumber", "AuthID"]
            assert body["state"]["SenderNonce"] == 1 and body["state"]["Balance"] == "0"
            assert call["raw"].startswith(b'{"headers":{')


async def test_wh06_07_08_status_expiry_auth_id():
    async with Webhook([{"status": 200}]) as h:
        async with Signer(cfg(h)) as s:
            assert (await pay(s)).status == 200
    async with Webhook([{"status": 200, "expiry": 1_900_000_000}]) as h:
        async with Signer(cfg(h)) as s:
            r = await pay(s)
            assert r.status == 200 and r.decoded_state().auth_expiry == 1_900_000_000
    async with Webhook([{"status": 200, "auth_id": "webhook-auth-id"}]) as h:
        async with Signer(cfg(h)) as s:
            r = await pay(s)
            assert r.decoded_state().auth_id == "webhook-auth-id"


async def test_wh09_10_header_auth_id():
    async with Webhook([{"status": 200}]) as h:
        async with Signer(cfg(h)) as s:
            r = await pay(s, headers={"Signer-Auth-Id": "header-auth-id"})
            assert r.decoded_state().auth_id == "header-auth-id"
    async with Webhook([{"status": 200, "auth_id": "webhook-auth-id"}]) as h:
        async with Signer(cfg(h)) as s:
            r = await pay(s, headers={"Signer-Auth-Id": "header-auth-id"})
            assert r.decoded_state().auth_id == "webhook-auth-id"


async def test_header_auth_id_without_webhook():
    async with Signer(cfg(None)) as s:
        r = await pay(s, headers={"Signer-Auth-Id": "a"})
        assert r.decoded_state().auth_id == "a"
        r2 = await pay(s, headers={"Signer-Auth-Id": "b"}, state=r.state)
        assert r2.status == 500 and r2.message.startswith("remote signer auth ID changed")


async def test_wh11_missing_status_500():
    async with Webhook([{"expiry": 123}]) as h:
        async with Signer(cfg(h)) as s:
            r = await pay(s)
            assert (r.status, r.message) == (500, "signer auth invalid status")


async def test_wh12_13_rejections():
    async with Webhook([{"status": 403, "reason": "denied"}]) as h:
        async with Signer(cfg(h)) as s:
            r = await pay(s)
            assert (r.status, r.message) == (403, "denied")
    async with Webhook([{"status": 429}]) as h:
        async with Signer(cfg(h)) as s:
            r = await pay(s)
            assert (r.status, r.message) == (429, "signer auth rejected request with status 429")


async def test_wh14_webhook_http_error_500():
    async with Webhook([(401, b"denied")]) as h:
        async with Signer(cfg(h)) as s:
            r = await pay(s)
            assert (r.status, r.message) == (500, "signer auth error status 401")


async def test_wh15_cached_auth():
    reply = {"status": 200, "auth_id": "cached-auth-id",
             "maxPrice": {"price": 2, "currency": "wei", "unit": "fixed"}}
    async with Webhook([reply]) as h:
        async with Signer(cfg(h)) as s:
            h.replies[0]["expiry"] = int(s.clock.now()) + 300
            r = await pay(s, type="fixed")
            assert r.status == 200 and r.decoded_state().auth_id == "cached-auth-id"
            r2 = await pay(s, type="fixed", state=r.state)
            assert r2.status == 200 and r2.decoded_state().auth_id == "cached-auth-id" and len(h.calls) == 1
            r3 = await pay(s, type="fixed", state=r2.state, headers={"Signer-Auth-Id": "new-header-auth-id"})
            assert r3.status == 500 and "auth ID changed" in r3.message and len(h.calls) == 1
            ev = s.bus.of_kind("signer.payment")[-1]
            assert ev.get("webhook") == "cached"


async def test_wh16_expired_cache_calls_again():
    async with Webhook([{"status": 200}]) as h:
        async with Signer(cfg(h)) as s:
            h.replies[0]["expiry"] = int(s.clock.now()) - 1
            r = await pay(s, type="fixed")
            r2 = await pay(s, type="fixed", state=r.state)
            assert (r.status, r2.status, len(h.calls)) == (200, 200, 2)


async def test_wh17_auth_id_change_from_webhook_500():
    async with Webhook([{"status": 200, "auth_id": "cached-auth-id"}, {"status": 200, "auth_id": "updated-auth-id"}]) as h:
        async with Signer(cfg(h)) as s:
            r = await pay(s, type="fixed")
            assert r.decoded_state().auth_id == "cached-auth-id"
            r2 = await pay(s, type="fixed", state=r.state)
            assert r2.status == 500
            assert r2.message == "remote signer auth ID changed: state has 'cached-auth-id', request has 'updated-auth-id'"


async def test_webhook_rejection_discards_everything_and_state_stays_usable():
    async with Webhook([{"status": 200}, {"status": 403, "reason": "no"}, {"status": 200}]) as h:
        async with Signer(cfg(h)) as s:
            r = await pay(s, type="fixed")
            assert (await pay(s, type="fixed", state=r.state)).status == 403
            r3 = await pay(s, type="fixed", state=r.state)
            assert r3.status == 200 and r3.decoded_state().sequence_number == 1


@pytest.mark.parametrize("reply,want", [
    ((200, b"{not json"), "signer auth invalid response"),
    ((200, b"[1]"), "signer auth invalid response"),
    ({"status": "200"}, "signer auth invalid response"),
    ({"status": 0}, "signer auth invalid status"),
    ({"status": 1000}, "not a valid HTTP status"),
])
async def test_webhook_bad_replies_500_with_cause(reply, want):
    async with Webhook([reply]) as h:
        async with Signer(cfg(h)) as s:
            r = await pay(s)
            assert r.status == 500 and want in r.message


async def test_webhook_unreachable_and_timeout():
    async with Signer(SignerConfig(webhook_url="http://127.0.0.1:9/auth")) as s:
        r = await pay(s)
        assert r.status == 500 and r.message.startswith("failed to call remote signer webhook")
    async with Webhook(["sleep"]) as h:
        async with Signer(cfg(h, webhook_timeout_s=0.3)) as s:
            r = await pay(s)
            assert r.status == 500 and "timed out" in r.message


async def test_malformed_webhook_url_is_a_500_with_cause():
    async with Signer(SignerConfig(webhook_url="http://[bad")) as s:
        r = await pay(s)
        assert r.status == 500 and r.headers["Content-Type"] == "application/json"
        assert r.message.startswith("failed to call remote signer webhook")
