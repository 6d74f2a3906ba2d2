"""The scripted gateway's LV2V job mode (sim.gateway.job, `lpdev up --lv2v-job`): in the `lpdev up` stack
(the `lpdev up` stack on the embedded chain) the gateway starts a paid ``noop`` live-video-to-video job the way the
livepeer-gateway SDK does, publishes generated MPEG-TS segments over lpdev's own trickle client, gets each one back
byte for byte, pays through lpdev's signer on the SDK's cadence while the orchestrator debits, and stops the job
by closing its input. A job the orchestrator stops is followed by a new one. No SDK involved.

Economics: ticket EV 1e15 wei, price 4e7 wei/pixel => 1 s of 720p30 = 1.1e15 wei > EV, so every payment cycle
(>= 1 s apart) carries at least one ticket (the signer answers 482 only when the credit covers the fee); the
upfront 60 s preload is 67 tickets (< 100 per call).
"""
from __future__ import annotations

import asyncio
from fractions import Fraction

import pytest

from stack.policy import LIVE
from stack.stack import Stack
from tests.stacks import up_spec
from tests.test_up_stack import wait_until
from sim.media import mpegts
from sim.pm.accounting import LV2V_PIXELS_PER_SECOND

TICKET_EV = 10**15
PRICE = 4 * 10**7


def UpStack(spec):  # noqa: N802 - what `lpdev up` runs
    return Stack(spec, LIVE)


def cfg(**kw):
    base = dict(chain="embedded", seed=3, block_time=0, ticket_ev=TICKET_EV,
                price_per_unit=PRICE, interval=1.0)
    base.update(kw)
    return up_spec(**base)


def kinds(stack, kind, **match):
    return [e for e in list(stack.bus.recent) if e.kind == kind and all(e.data.get(k) == v for k, v in match.items())]


def rat(s) -> Fraction:
    return Fraction(str(s))


@pytest.mark.slow
async def test_job_mode_publishes_echoes_pays_debits_and_stops_on_input_closed():
    from sim.gateway.job import JobConfig, JobError, LV2VJob
    from sim.gateway.session import GatewayConfig, GatewaySession

    async with UpStack(cfg(lv2v_job=True, segment_s=0.25)) as up:
        o, s = up.orchestrators["orch"], up.signers["signer"]
        o.server.lv2v.config.payment_interval_s = 1.0  # the orchestrator debits every second (go default 5 s)
        runner = asyncio.create_task(up.run())
        try:
            # a first job, stopped by the orchestrator: the gateway reads why and starts another one
            await wait_until(lambda: up.loops and up.loops["gateway"].job and up.loops["gateway"].job.received)
            first = up.loops["gateway"].job
            assert await o.server.lv2v.stop_job(first.manifest_id, "stopped")
            await wait_until(lambda: up.loops["gateway"].jobs == 2)
            # the second job: the upfront payment + 3 cycles of the gateway's payment sender, and a debit
            await wait_until(lambda: len([p for p in up.loops["gateway"].job.payments if p.status == "paid"]) >= 3
                             and kinds(up, "orch.debit", ok=True, manifest_id=up.loops["gateway"].job.manifest_id))
        finally:
            up.request_stop()
            await runner
        g = up.loops["gateway"]
        job = g.job
        mid = job.manifest_id
        assert first.stop_reason == "stopped" and mid != first.manifest_id
        assert [e.data["reason"] for e in kinds(up, "gateway.job_stopped", manifest_id=first.manifest_id)] == \
            ["stopped"]

        # a model the orchestrator does not serve: refused with go's status and message, named in the event
        bad = GatewaySession(GatewayConfig(name="probe", job_type="lv2v"), signer_urls=[s.http_url],
                             signer_names=[s.name], orchestrator_url=o.url, orchestrator_name=o.name, bus=up.bus,
                             clock=up.clock)
        with pytest.raises(JobError) as err:
            try:
                await LV2VJob(bad, JobConfig(model_id="nope")).start()
            finally:
                await bad.close()
        assert (err.value.stage, err.value.status, err.value.message) == ("orchestrator", 503, "insufficient capacity")
        rej = [e for e in kinds(up, "gateway.job_rejected") if e.actor == "probe"]
        assert [(e.data["status"], e.data["message"]) for e in rej] == [(503, "insufficient capacity")]

    # the job started with the orchestrator's own manifest id
    started = kinds(up, "orch.lv2v_started", manifest_id=mid)
    assert len(started) == 1 and started[0].data["sender"] == s.address.lower() and len(mid) == 8
    assert [e.data["manifest_id"] for e in kinds(up, "gateway.job_started")] == [first.manifest_id, mid]
    # N segments published, the same N echoed back byte for byte (valid MPEG-TS)
    n = len(job.sent)
    assert n >= 4 and job.received == job.sent and job.echoed == n
    assert all(mpegts.parse_packets(b) for b in job.received)
    assert len(kinds(up, "gateway.segment_published", manifest_id=mid)) == n
    assert [e.data["echoed"] for e in kinds(up, "gateway.segment_received", manifest_id=mid)] == [True] * n
    assert len(kinds(up, "trickle.job.segment", manifest_id=mid)) == n
    # payments: the upfront one plus the payment sender's cycles, all through the signer, credited to the job
    payer = bytes.fromhex(s.address[2:])
    cycles = [p for p in job.payments if p.status == "paid"]
    first_paid = 1 + sum(p.status == "paid" for p in first.payments)
    assert len(cycles) >= 3 and g.paid == first_paid + 1 + len(cycles), [p.to_dict() for p in job.payments]
    received = kinds(up, "orch.payment_received", manifest_id=mid)
    assert received[0].data["route"] == "/live-video-to-video" and len(received) == 1 + len(cycles)
    credits = kinds(up, "orch.credit", manifest_id=mid)
    assert len(credits) == 1 + len(cycles)
    assert not kinds(up, "orch.payment_rejected")
    assert {e.data["sender"].lower() for e in received} == {s.address.lower()}
    # debits at 27 648 000 px/s x the session price; the ledger == credits - debits, exactly
    debits = kinds(up, "orch.debit", manifest_id=mid)
    assert debits and all(d.data["ok"] and rat(d.data["fee"]) == d.data["units"] * PRICE for d in debits)
    assert all(d.data["units"] >= LV2V_PIXELS_PER_SECOND for d in debits)
    total = sum(rat(c.data["amount"]) for c in credits) - sum(rat(d.data["fee"]) for d in debits)
    assert o.server.orch.ledger.balance(payer, mid) == total > 0
    # the stop: the gateway closed the input, the orchestrator stopped the job, and the gateway read why
    assert kinds(up, "gateway.input_closed", manifest_id=mid)[0].data["status"] == 200
    assert [e.data["reason"] for e in kinds(up, "orch.lv2v_stopped", manifest_id=mid)] == ["input closed"]
    stopped = kinds(up, "gateway.job_stopped", manifest_id=mid)
    assert len(stopped) == 1 and stopped[0].data["reason"] == "input closed"
    assert stopped[0].data["published"] == stopped[0].data["received"] == stopped[0].data["echoed"] == n
    assert stopped[0].data["payments"] == len(cycles)


def test_lv2v_job_flag_toml_validation_banner_and_log_lines(tmp_path, monkeypatch):
    from lpdev.cli import UsageError, build_parser
    from lpdev.commands.up import banner, build_config, format_event
    from sim.events import Event

    monkeypatch.chdir(tmp_path)  # no ./lpdev.toml
    p = build_parser()

    def gw(argv):
        return build_config(p.parse_args(argv))[0].gateways[0]

    assert gw(["up"]).lv2v_job is False  # opt-in
    assert gw(["up", "--lv2v-job"]).lv2v_job is True
    (tmp_path / "on.toml").write_text("[gateway]\nlv2v_job = true\nsegment_s = 0.5\n")
    c = gw(["up", "--config", "on.toml"])
    assert (c.lv2v_job, c.segment_s) == (True, 0.5)
    assert gw(["up", "--config", "on.toml", "--no-lv2v-job"]).lv2v_job is False
    (tmp_path / "live.toml").write_text("[gateway]\nlv2v_job = true\ntype = \"live\"\n")
    with pytest.raises(UsageError, match="lv2v_job: the job pays with type lv2v"):
        build_config(p.parse_args(["up", "--config", "live.toml"]))
    (tmp_path / "yes.toml").write_text("[gateway]\nlv2v_job = \"yes\"\n")
    with pytest.raises(UsageError, match="yes.toml:2: lpdev.toml.gateway.lv2v_job: expected true or false"):
        build_config(p.parse_args(["up", "--config", "yes.toml"]))
    (tmp_path / "seg.toml").write_text("[gateway]\nsegment_s = 0\n")
    with pytest.raises(UsageError, match="seg.toml:2: lpdev.toml.gateway.segment_s: expected a positive"):
        build_config(p.parse_args(["up", "--config", "seg.toml"]))

    doc = {"backend": "embedded", "chain_id": 1, "eth_url": None, "controller": "0x0", "contracts": {},
           "accounts": [], "signers": [], "orchestrators": [], "senders": [], "signer_url": "",
           "ticket": {"ev": 1, "max_face_value": 2, "win_prob": "1/2", "price_per_unit": 1, "pixels_per_unit": 1},
           "block_time": 0, "round_length": 100, "token": "t", "sdk_commands": [],
           "gateway": {"enabled": True, "interval": 5.0, "type": "lv2v", "lv2v_job": True}}
    assert "job mode (--lv2v-job)" in banner(doc, 1.0, [])
    doc["gateway"]["lv2v_job"] = False
    assert "job mode" not in banner(doc, 1.0, [])

    def line(kind, **d):
        return format_event(Event(1, 0.0, "gateway", kind, d))

    assert "job 0a1b2c3d (noop) started, 17 ticket(s) upfront" in line(
        "gateway.job_started", orchestrator="orch", manifest_id="0a1b2c3d", model_id="noop", tickets=17)
    assert "job 0a1b2c3d stopped (input closed): 9 segment(s) published, 9 echoed, 2 payment(s)" in line(
        "gateway.job_stopped", manifest_id="0a1b2c3d", reason="input closed", published=9, received=9, echoed=9,
        payments=2)
    assert "job refused at the orchestrator: 503 insufficient capacity" in line(
        "gateway.job_rejected", stage="orchestrator", status=503, message="insufficient capacity")
