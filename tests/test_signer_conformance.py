"""`lpdev conformance` passes fully against lpdev's own signer, and catches a broken one."""
from __future__ import annotations

import devnet
from sim.clock import RealClock
from sim.signer.conformance import FAIL, NA, PASS, run_conformance
from sim.signer.config import SignerConfig
from sim.signer.core import SignerCore
from sim.signer.http import SignerServer


async def test_conformance_passes_against_lpdev_signer_on_mock_chain():
    chain = devnet.open_chain("mock")
    core = SignerCore(key=chain.key("sender"), chain=chain, config=SignerConfig(), clock=RealClock())
    async with SignerServer(core, tls=True) as s:
        report = await run_conformance(f"127.0.0.1:{s.port}", chain)  # bare host:port -> https
    bad = [c for c in report.cases if c.status == FAIL]
    assert not bad, report.text()
    assert report.ok
    passed = [c for c in report.cases if c.status == PASS]
    assert len(passed) >= 25, report.text()
    # optional lpdev extensions pass too; n/a only where the suite cannot know the signer's config/key
    assert all(c.status == PASS for c in report.cases if not c.required)
    assert {c.name for c in report.cases if c.status == NA} <= {
        "StateValidation 3: correctly signed non-JSON state",
        "configured price ceilings (global, per capability)", "auth webhook behaviours",
        "discover-orchestrators answers a JSON list (or 503 JSON) when enabled"}
    d = report.to_dict()
    assert d["ok"] and d["counts"]["fail"] == 0 and all(c["seen"] for c in d["cases"] if c["status"] == PASS
                                                         and c["name"].startswith("RequestValidation"))


async def test_conformance_catches_a_misbehaving_signer():
    chain = devnet.open_chain("mock")
    core = SignerCore(key=chain.key("sender"), chain=chain, config=SignerConfig(replay_protection=False),
                      clock=RealClock())
    orig = core.begin_payment

    def broken(headers, body):  # a signer that forgets the 100-ticket cap and says 200 to everything odd
        resp = orig(headers, body)
        if getattr(resp, "status", 0) == 400 and "numTickets" in resp.message:
            resp.status = 200
        return resp

    core.begin_payment = broken
    async with SignerServer(core) as s:
        report = await run_conformance(s.url, chain)
    by = {c.name: c for c in report.cases}
    assert by["RequestValidation 13: more than 100 tickets -> 400"].status == FAIL
    assert "200" in by["RequestValidation 13: more than 100 tickets -> 400"].seen
    assert by["replayed (superseded) state is refused"].status == FAIL
    assert not report.ok
