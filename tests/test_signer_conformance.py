"""`lpdev conformance`: lpdev's own signer run with each profile is judged to be that profile, no case passes
under a profile whose expectation differs, and a misbehaving signer is caught."""
from __future__ import annotations

import dataclasses
import json
import time
from fractions import Fraction

import pytest

from sim.clock import RealClock
from sim.signer.config import SignerConfig
from sim.signer.conformance import CASES, DIFFERS, NA, PASS, Env, run_matrix
from sim.signer.core import SignerCore
from sim.signer.http import SignerServer
from sim.signer.profiles import PROFILE_NAMES, PROFILES
from sim.signer.testkit import MemoryChain

from tests.test_signer_harness import KEY

ENV_FRESH = Env(usd="fresh", metrics_url="http://metrics.invalid")


async def _matrix(profile: str, chain: MemoryChain, **cfg):
    core = SignerCore(key=KEY, chain=chain, config=SignerConfig(profile=profile, **cfg), clock=RealClock())
    async with SignerServer(core) as s:
        return await run_matrix(s.url, chain, metrics_url=s.metrics_url), s.metrics_url


def _wants(profile: str, env: Env) -> dict[str, object]:
    return {c.name: c.want(PROFILES[profile], env) for c in CASES}


@pytest.mark.parametrize("profile", PROFILE_NAMES)
async def test_lpdev_signer_with_each_profile_matches_that_profile_only(profile):
    chain = MemoryChain(usd_per_eth=Fraction(3000))
    report, metrics_url = await _matrix(profile, chain)
    env = Env(usd="fresh", metrics_url=metrics_url)
    by = {c.name: c for c in report.cases}
    assert report.verdict()["match"] == profile, report.text()
    # every case passes under its own profile; n/a only where the suite cannot know
    for c in report.cases:
        st, detail, _ext = c.results[profile]
        assert st in (PASS, NA), f"{c.name}: {detail}"
        if st == NA:
            assert c.name.startswith(("health endpoints", "discover-orchestrators")), (c.name, detail)
    mine = _wants(profile, env)
    for other in PROFILE_NAMES:
        if other == profile:
            continue
        theirs = _wants(other, env)
        differing = [n for n in mine if mine[n] != theirs[n] and not isinstance(theirs[n], str)]
        assert differing, f"no case tells {profile} from {other}"
        for name in differing:  # no case passes under a profile whose expectation differs
            assert by[name].results[other][0] in (DIFFERS, NA), (profile, other, name, by[name].results[other])
            assert by[name].results[other][0] == DIFFERS or "discover" in name, (profile, other, name)
        for name in mine:  # and where the expectations agree, so do the results
            if mine[name] == theirs[name]:
                assert by[name].results[other][0] == by[name].results[profile][0], (other, name)
        assert report.departures(other), (profile, other)


async def test_go_profiles_differ_exactly_on_the_nonce_500_refresh():
    chain = MemoryChain(usd_per_eth=Fraction(3000))
    report, _ = await _matrix("go-livepeer", chain)
    assert report.departures("go-livepeer@0.9.1") == [
        "one set of params reused, 100 tickets a call: refresh at nonce 500"]
    nonce = next(c for c in report.cases if "nonce 500" in c.name)
    assert len(nonce.seen) == 6 and nonce.seen[-1].startswith("480 ")


async def test_node_profile_with_a_stale_feed_answers_503_and_is_still_livepeer_node():
    chain = MemoryChain(usd_per_eth=Fraction(3000), usd_updated_at=int(time.time()) - 3 * 3600)
    report, _ = await _matrix("livepeer-node", chain)
    assert report.env.usd == "stale"
    assert report.verdict()["match"] == "livepeer-node", report.text()
    usd = next(c for c in report.cases if c.name.startswith("USD ceiling"))
    assert usd.seen == ['503 {"error":"signer USD conversion rate unavailable"}']
    health = next(c for c in report.cases if c.name.startswith("health endpoints"))
    assert health.seen[2].startswith("503 ") and "stale" in health.seen[2]  # /readyz, probed last


async def test_readyz_is_na_when_the_eth_usd_rate_is_unknown_and_healthz_is_checked():
    chain = MemoryChain(usd_per_eth=Fraction(3000))
    core = SignerCore(key=KEY, chain=chain, config=SignerConfig(profile="livepeer-node"), clock=RealClock())
    async with SignerServer(core) as s:
        unknown = await run_matrix(s.url, chain, metrics_url=s.metrics_url, usd="unknown", only=["health endpoints"])
        fresh = await run_matrix(s.url, chain, metrics_url=s.metrics_url, usd="fresh", only=["health endpoints"])
    other = dataclasses.replace(PROFILES["livepeer-node"], health_bodies={"healthz": {"status": "alive"},
                                                                          "readyz": {"status": "ready"}})
    core = SignerCore(key=KEY, chain=chain, config=SignerConfig(profile=other), clock=RealClock())
    async with SignerServer(core) as s:  # a signer whose /healthz says something else
        wrong = await run_matrix(s.url, chain, metrics_url=s.metrics_url, usd="fresh", only=["health endpoints"],
                                 profiles=["livepeer-node"])
    st, detail, _ = unknown.cases[0].results["livepeer-node"]
    assert st == NA and "/readyz depends on the signer's ETH/USD rate" in detail  # not a pass: nothing checked
    assert fresh.cases[0].results["livepeer-node"][0] == PASS
    assert wrong.cases[0].results["livepeer-node"][:2] == (
        DIFFERS, 'reply 1: want the JSON body {"status":"ok"}; seen 200 {"status":"alive"}')


async def test_usd_ceiling_is_na_when_the_feed_cannot_be_read_and_fresh_when_pinned():
    chain = MemoryChain()  # no feed: the suite cannot tell; the signer pins its rate
    core = SignerCore(key=KEY, chain=chain, config=SignerConfig(profile="livepeer-node",
                                                                wei_per_usd=Fraction(10**18, 3000)),
                      clock=RealClock())
    async with SignerServer(core) as s:
        unknown = await run_matrix(s.url, chain, only=["USD ceiling"])
        told = await run_matrix(s.url, chain, only=["USD ceiling"], usd="fresh")
    assert unknown.env.usd == "stale"  # a chain whose feed raises: no rate for the suite either
    assert told.cases[0].results["livepeer-node"][0] == PASS
    assert told.cases[0].seen == ['481 {"error":"orchestrator price exceeds signer USD maximum"}']


async def test_a_misbehaving_signer_is_caught():
    chain = MemoryChain(usd_per_eth=Fraction(3000))
    core = SignerCore(key=KEY, chain=chain, config=SignerConfig(profile="go-livepeer@0.9.1",
                                                                replay_protection=False), clock=RealClock())
    orig = core.begin_payment

    def broken(headers, body):  # a signer that forgets the 100-ticket cap and says 200 to it
        resp = orig(headers, body)
        if getattr(resp, "status", 0) == 400 and "numTickets" in resp.message:
            resp.status = 200
        return resp

    core.begin_payment = broken
    async with SignerServer(core) as s:
        report = await run_matrix(s.url, chain, profiles=["go-livepeer@0.9.1"])
    by = {c.name: c for c in report.cases}
    too_many = by["more than 100 tickets -> 400"]
    assert too_many.results["go-livepeer@0.9.1"][0] == DIFFERS and "want status 400" in too_many.results[
        "go-livepeer@0.9.1"][1]
    assert by["replayed (superseded) state is refused"].results["go-livepeer@0.9.1"][2]  # an extension only
    assert report.verdict()["match"] is None and not report.ok
    assert "more than 100 tickets -> 400" in report.departures("go-livepeer@0.9.1")
    assert "replayed (superseded) state is refused" not in report.departures("go-livepeer@0.9.1")
    text = report.text()
    assert "matches no profile; closest is go-livepeer@0.9.1" in text and "want status 400" in text


def test_cli_local_profile_json_and_exit_codes(capsys):
    from lpdev.cli import main

    assert main(["conformance", "--local", "livepeer-node", "--json", "--only", "error envelope",
                 "--only", "type lv2v"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["verdict"]["match"] == "livepeer-node" and len(doc["cases"]) == 2
    assert doc["cases"][0]["results"]["go-livepeer"]["status"] == "differs"
    # checked against one profile it does not match: exit 1 with the departure and what was seen
    assert main(["conformance", "--local", "go-livepeer", "--profile", "go-livepeer@0.9.1", "--only",
                 "nonce 500"]) == 1
    out = capsys.readouterr().out
    assert "matches no profile" in out and "[go-livepeer@0.9.1] one set of params reused" in out
    assert "reply 6: want status 200; seen 480" in out
    assert main(["conformance", "--signer", "127.0.0.1:1"]) == 2  # needs the chain
    assert main(["conformance"]) == 2
    assert main(["conformance", "--local", "livepeer-node", "--config", "x.json"]) == 2


def test_readme_matrix_is_what_the_command_prints(capsys):
    """README's matrix is `lpdev conformance --local go-livepeer`'s output, pasted: it must stay current."""
    from pathlib import Path

    from lpdev.cli import main

    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    after = readme.split("`lpdev conformance --local go-livepeer` prints:", 1)[1]
    pasted = [line for line in after.split("\n\n", 2)[1].splitlines() if line.startswith("|")]
    assert main(["conformance", "--local", "go-livepeer"]) == 0
    printed = [line for line in capsys.readouterr().out.splitlines() if line.startswith("|")]
    assert pasted == printed
