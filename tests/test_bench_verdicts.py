"""Benchmark verdicts that must not depend on the machine's mood: `lpdev bench tickets` measures baseline and PM
path in alternating slices (a load burst during one stretch of the run cannot sink the ratio), and
`lpdev bench chain` says ok=False (exit 1) when anvil setup misses its target.

Both run on a virtual clock / stubbed measurements: what is checked is the arithmetic of the verdict, not speed.
"""
from __future__ import annotations

import json
import types
from types import SimpleNamespace

import pytest

import bench.chain as bench_chain
import bench.tickets as bench_tickets
from lpdev.cli import main
from sim.pm import crypto


class VirtualMachine:
    """A clock that only moves when the fake work runs; work costs ``load(now)`` times more inside a burst."""

    def __init__(self, burst: tuple[float, float], factor: float = 3.0) -> None:
        self.now = 0.0
        self.burst, self.factor = burst, factor

    def perf_counter(self) -> float:
        return self.now

    def work(self, seconds: float) -> None:
        lo, hi = self.burst
        self.now += seconds * (self.factor if lo <= self.now < hi else 1.0)


BASE_COST = 1e-4  # virtual seconds per baseline keccak+sign
PM_COST = 1.25e-4  # per PM ticket: the true ratio is 0.8


def _virtual_tickets_bench(monkeypatch, burst: tuple[float, float]) -> dict:
    vm = VirtualMachine(burst)
    monkeypatch.setattr(bench_tickets, "time", SimpleNamespace(perf_counter=vm.perf_counter))
    fake_crypto = types.SimpleNamespace(
        BACKEND="virtual", private_key_to_address=crypto.private_key_to_address, keccak=lambda b: b"",
        sign_hash=lambda key, digest: vm.work(BASE_COST))
    monkeypatch.setattr(bench_tickets, "crypto", fake_crypto)
    monkeypatch.setattr(bench_tickets, "create_ticket_batch",
                        lambda key, sender, params, nonces: vm.work(PM_COST * len(nonces)))
    return bench_tickets.run(SimpleNamespace(seconds=1.4))


@pytest.mark.parametrize("burst", [(1.5, 2.1), (0.0, 0.6), (10.0, 10.6)], ids=["mid-run", "start", "none"])
def test_tickets_ratio_survives_a_load_burst(monkeypatch, burst):
    """A burst 3x slower lasting 0.6 virtual s of a 2.8 s run. Measured one path after the other, the path
    running then takes it whole: mid-run the PM path reads slow and the ratio ~0.6 (below the 0.7 target, the
    flaky verdict seen on shared machines); at the start the baseline does and it reads ~1.1. In alternating
    slices the burst hits a few slices of each path and the medians skip them: 0.8."""
    d = _virtual_tickets_bench(monkeypatch, burst)
    assert d["ratio"] == pytest.approx(BASE_COST / PM_COST, abs=0.02)
    assert d["ok"] is True
    assert d["tickets_per_s"] == pytest.approx(1 / PM_COST, rel=0.02)
    assert d["baseline_per_s"] == pytest.approx(1 / BASE_COST, rel=0.02)
    assert d["rounds"] == bench_tickets.DEFAULT_ROUNDS
    assert len(d["baseline_slices_per_s"]) == len(d["tickets_slices_per_s"]) == d["rounds"]


def test_tickets_slices_alternate_abba():
    calls: list[str] = []
    base, pm = bench_tickets.interleaved_rates(lambda n: calls.append("B"), lambda n: calls.append("P"),
                                               rounds=4, slice_s=0.0, batch=1)
    assert "".join(calls) == "BP" + "BP" + "PB" + "BP" + "PB"  # warm-up, then ABBA...
    assert len(base) == len(pm) == 4


# ---- bench chain: ok follows the anvil setup target ---------------------------------------------------------
class _FakeChain:
    backend = "fake"

    def close(self) -> None:
        pass


def _gas_ok(monkeypatch, factor: float = 1.0):
    """measure_gas as if lpdev's contracts used factor x the reference gas for every operation."""
    table = bench_chain.gas_table({op: int(ref * factor) for op, ref in bench_chain.REFERENCE_GAS.items()})
    monkeypatch.setattr(bench_chain, "measure_gas", lambda: table)


@pytest.mark.parametrize("setup_s,ok", [(2.5, False), (0.9, True)])
def test_chain_ok_follows_anvil_setup_target(monkeypatch, capsys, setup_s, ok):
    _gas_ok(monkeypatch)
    monkeypatch.setattr(bench_chain, "bare_anvil_start_s", lambda: 0.1)
    monkeypatch.setattr(bench_chain, "_cli_setup_s", lambda backend: setup_s)
    monkeypatch.setattr(bench_chain, "_open_s", lambda backend, round_length: (_FakeChain(), 0.01))
    monkeypatch.setattr(bench_chain, "_redemptions_per_s",
                        lambda chain, n: {"n": n, "seconds": 1.0, "per_s": float(n), "gas_per_redeem": 1})
    code = main(["bench", "chain", "--repeat", "1", "--redemptions", "2", "--backends", "anvil", "--json"])
    d = json.loads(capsys.readouterr().out)
    assert d["anvil_setup_meets_target"] is ok
    assert d["ok"] is ok
    assert code == (0 if ok else 1)
    code = main(["bench", "chain", "--repeat", "1", "--redemptions", "2", "--backends", "anvil"])
    out = capsys.readouterr().out
    assert ("NOT met" in out) is (not ok)
    assert code == (0 if ok else 1)


def test_chain_without_anvil_setup_has_no_target_to_miss(monkeypatch, capsys):
    _gas_ok(monkeypatch, 0.5)  # not measured without anvil: no verdict from it
    monkeypatch.setattr(bench_chain, "bare_anvil_start_s", lambda: 0.1)
    monkeypatch.setattr(bench_chain, "_cli_setup_s", lambda backend: 99.0)  # embedded: no target
    monkeypatch.setattr(bench_chain, "_open_s", lambda backend, round_length: (_FakeChain(), 0.01))
    monkeypatch.setattr(bench_chain, "_redemptions_per_s",
                        lambda chain, n: {"n": n, "seconds": 1.0, "per_s": float(n), "gas_per_redeem": 1})
    code = main(["bench", "chain", "--repeat", "1", "--redemptions", "2", "--backends", "embedded", "--json"])
    d = json.loads(capsys.readouterr().out)
    assert "anvil_setup_meets_target" not in d and d["ok"] is True and code == 0


@pytest.mark.parametrize("factor,ok", [(0.95, True), (1.09, True), (0.89, False), (1.11, False), (0.6, False)])
def test_chain_ok_follows_gas_ratios(monkeypatch, capsys, factor, ok):
    """The gas verdict: every operation within 0.9-1.1 of the protocol's gas, else exit 1 and say which."""
    _gas_ok(monkeypatch, factor)
    code = main(["bench", "chain", "--gas-only", "--json"])
    d = json.loads(capsys.readouterr().out)
    assert d["ok"] is ok and d["gas"]["ok"] is ok and code == (0 if ok else 1)
    assert set(d["gas"]["rows"]) == set(bench_chain.REFERENCE_GAS)
    for row in d["gas"]["rows"].values():
        assert row["ratio"] == pytest.approx(row["gas"] / row["reference"], abs=0.001)
    code = main(["bench", "chain", "--gas-only"])
    out = capsys.readouterr().out
    assert ("OUT OF RANGE" in out) is (not ok) and "314,810" in out and code == (0 if ok else 1)


def test_the_economics_charges_the_gas_the_bench_holds_lpdevs_contracts_to():
    """One fact, two users: the redemption gas `lpdev economics` charges an orchestrator is the protocol's, the very
    figures `lpdev bench chain` compares lpdev's contracts with (an ordinary redemption, and the first of a round)."""
    from fractions import Fraction

    from sim.economics.check import exact_summary
    from sim.economics.session import Model
    from sim.economics.settings import Settings

    gas_price = 3 * 10**9
    m = Model.of(Settings(gas_price=gas_price))
    rev = exact_summary(m)["revenue"]
    assert rev["gas_cost"] == bench_chain.REFERENCE_GAS["redeem"] * gas_price
    first = Fraction(bench_chain.REFERENCE_GAS["redeem_first_in_round"] * gas_price, m.terms.face_value)
    assert rev["gas_share_first_in_round"] == pytest.approx(float(first), rel=1e-12)


# ---- bench runner: ok follows the measured numbers against every target -----------------------------------------
def _runner_slices(direct_rps: float, proxied_rps: float, p99_ms: float, status: int = 200) -> dict:
    def one(rps, p99):
        return {"rps": rps, "mb_s": rps * 0.13, "n": int(rps), "p50_ms": p99 / 3, "p99_ms": p99,
                "statuses": {status: int(rps)}}
    return {"direct": [one(direct_rps, 5.0)] * 3, "proxied": [one(proxied_rps, p99_ms)] * 3,
            "bare_proxy": [one(direct_rps * 0.55, 9.0)] * 3}


@pytest.mark.parametrize("proxied_rps, p99_ms, rss_mb, status, ok, missed", [
    (2500.0, 15.0, 120.0, 200, True, ""),
    (1900.0, 15.0, 120.0, 200, False, "ratio_rps"),        # 0.475: README's measured range, below the 0.5 target
    (2500.0, 60.0, 120.0, 200, False, "p99_ms"),
    (2500.0, 15.0, 450.0, 200, False, "peak_rss_mb"),
    (2500.0, 15.0, 120.0, 502, False, ""),                  # every target met but requests failed
])
def test_runner_ok_follows_every_target(monkeypatch, capsys, proxied_rps, p99_ms, rss_mb, status, ok, missed):
    import bench.runner as bench_runner

    stream = {"status": 200, "bytes": 8 << 20, "sent": 8 << 20, "seconds": 0.1, "mb_s": 160.0}
    rss = {"orchestrator": rss_mb / 2, "runner": rss_mb / 2}

    async def fake_run(args):
        return bench_runner.report(args, _runner_slices(4000.0, proxied_rps, p99_ms, status), stream, rss)

    monkeypatch.setattr(bench_runner, "_run", fake_run)
    code = main(["bench", "runner", "--json"])
    d = json.loads(capsys.readouterr().out)
    assert d["ratio_rps"] == pytest.approx(proxied_rps / 4000.0, abs=0.001)
    assert d["ok"] is ok and code == (0 if ok else 1)
    assert d["meets_targets"] is (missed == "")
    assert [k for k, met in d["meets"].items() if not met] == ([missed] if missed else [])
    code = main(["bench", "runner"])
    out = capsys.readouterr().out
    assert code == (0 if ok else 1)
    assert (f"targets: MISSED ({missed})" in out) is bool(missed) and ("FAILED: not every request" in out) is (
        status != 200)


# ---- bench economics: ok is the target and the two agreements -------------------------------------------------
@pytest.mark.parametrize("change, ok", [
    ({}, True),
    ({"batched_payments_per_s_per_core": 900_000}, False),
    ({"fleet": {"same_payments_on_both_paths": False}}, False),
    ({"fleet": {"batched_payments_per_s_per_core": 999_999}}, False),
    ({"sweep": {"identical_tables": False}}, False),
])
def test_economics_ok_needs_the_target_and_both_agreements(change, ok):
    import bench.economics as bench_economics

    out = {"batched_payments_per_s_per_core": 5_000_000,
           "fleet": {"batched_payments_per_s_per_core": 3_000_000, "same_payments_on_both_paths": True},
           "sweep": {"identical_tables": True}}
    for k, v in change.items():
        out[k] = {**out[k], **v} if isinstance(v, dict) else v
    assert bench_economics.verdict(out) is ok
    assert bench_economics.verdict({"batched_payments_per_s_per_core": 5_000_000}) is True  # --no-fleet --no-ray
