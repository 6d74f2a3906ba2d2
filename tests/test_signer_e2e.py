"""lpdev's signer with lpdev's orchestrator on the devnet mock chain: discovery over real gRPC/TLS, and payments
the orchestrator accepts (tickets, segCreds, expected price, nonces all checked by the other side)."""
from __future__ import annotations

import asyncio
import time

import aiohttp
import pytest

import devnet
from sim.clock import RealClock, VirtualClock
from sim.orchestrator import OrchestratorServer
from sim.orchestrator.probe import get_orchestrator
from sim.signer.config import SignerConfig
from sim.signer.core import SignerCore
from sim.signer.discovery import Discovery, GrpcDiscoverySource
from sim.signer.http import SignerServer
from sim.wire import codec


@pytest.fixture
def chain():
    c = devnet.open_chain("mock", config=devnet.DevnetConfig(round_length=100))
    yield c
    c.close()


async def test_signer_pays_lpdev_orchestrator_and_discovers_it(chain, tmp_path):
    key = chain.key("sender")
    async with OrchestratorServer(chain, eth_key=chain.key("orchestrator"), data_dir=tmp_path,
                                  block_poll_s=3600, lv2v_models={"noop": 4}, price_per_unit=100,
                                  auto_adjust_price=False) as o:
        cfg = SignerConfig(remote_discovery=True, orch_addrs=(o.url,))
        # the signer's clock moves 10 s between calls: 10 s x 27 648 000 px/s x 100 wei = 3.5 tickets of the
        # default 8e9 EV, so every call pays (a 482 "no tickets" would let the test pass without a payment)
        clock = VirtualClock(time.time())
        core = SignerCore(key=key, chain=chain, config=cfg, clock=clock)
        disc = Discovery(GrpcDiscoverySource(cfg.orch_addrs, key), cfg, RealClock())
        async with SignerServer(core, discovery=disc) as s, aiohttp.ClientSession() as http:
            async with http.get(s.url + "/discover-orchestrators") as r:
                assert r.status == 200, await r.text()
                listed = await r.json()
            assert listed == [{"address": o.url, "score": 1, "capabilities": ["live-video-to-video/noop"]}]

            info = await asyncio.to_thread(get_orchestrator, o.url, codec.build_orch_request(key))
            state, tickets = None, 0
            for i in range(3):
                body = {"orchestrator": codec.to_b64(info), "type": "lv2v", "state": state}
                if state is not None:
                    body["ManifestID"] = "e2e-manifest"
                async with http.post(s.url + "/generate-live-payment", json=body) as r:
                    assert r.status == 200, await r.text()
                    doc = await r.json()
                state = doc["state"]
                sent = codec.decode_payment(doc["payment"])
                assert len(sent.ticket_sender_params) >= 1
                tickets += len(sent.ticket_sender_params)
                async with http.post(o.url + "/payment", ssl=False, headers={
                        "Livepeer-Payment": doc["payment"], "Livepeer-Segment": doc["segCreds"]}) as pr:
                    assert pr.status == 200, await pr.text()
                    result = codec.parse_pb(codec.pb.PaymentResult, await pr.read(), "PaymentResult")
                info = result.info  # the orchestrator rotates ticket params on every payment
                clock.advance(10)
        # the orchestrator checked and credited every one of them: three payments, every ticket accepted
        assert o.orch.stats["payments_ok"] == 3
        verdicts = o.orch.bus.of_kind("orch.ticket")
        assert len(verdicts) == tickets >= 3
        assert all(v.data["credited"] and v.data["error"] is None for v in verdicts), [v.data for v in verdicts]
        assert sum(e.data["tickets"] for e in o.orch.bus.of_kind("orch.credit")) == tickets


async def test_signer_follows_the_chain_unlock_and_cancel(chain):
    """Chain-backed validation on the mock contracts: an unlock makes the signer refuse (400), cancelling it
    makes the signer sign again; params expire against the chain's real block number (480)."""
    from sim.signer.testkit import make_orch_info

    key = chain.key("sender")
    core = SignerCore(key=key, chain=chain, config=SignerConfig(chain_max_age_s=0), clock=RealClock())
    async with SignerServer(core) as s, aiohttp.ClientSession() as http:
        async def pay(**kw):
            blk = chain.last_block()
            rnd = chain.last_initialized_round()
            info = make_orch_info(last_block=blk, creation_round=rnd,
                                  creation_round_block_hash=chain.block_hash_for_round(rnd), **kw)
            async with http.post(s.url + "/generate-live-payment",
                                 json={"orchestrator": codec.to_b64(info), "inPixels": 1}) as r:
                return r.status, (await r.json())

        assert (await pay())[0] == 200
        assert chain.unlock(key).ok  # withdrawRound = round + 2: not yet "soon"
        info = chain.sender_info(core.address)
        assert (await pay())[0] == 200
        chain.mine(100)  # next round: withdrawRound <= lastInitializedRound + 1
        assert chain.initialize_round(chain.key("deployer")).ok
        assert info.withdraw_round <= chain.last_initialized_round() + 1
        status, body = await pay()
        assert status == 400
        assert body["error"]["message"] == ("remote signer could not check whether to refresh session: unable to "
                                            "validate sender: deposit and reserve is set to unlock soon")
        assert chain.cancel_unlock(key).ok
        assert (await pay())[0] == 200
        status, _ = await pay(expiration_block=chain.last_block() + 1)
        assert status == 480
