"""Tickets hashed and signed per second through the PM core, vs raw libsecp256k1 sign + keccak.

Baseline (same run): keccak of a 32-byte input then a recoverable sign of that digest with a prebuilt
coincurve key — the floor any ticket path pays. The PM path builds each ticket (fields, auxData), flattens
and hashes it, applies the EIP-191 prefix and signs. Target: ratio >= 0.7.

The two are measured in alternating short slices (baseline, PM, then PM, baseline, ...) and each rate is the
median of its slices, so load from other processes on a shared machine hits both alike instead of skewing the
ratio towards whichever ran during a busy second.
"""
from __future__ import annotations

import statistics
import time
from fractions import Fraction

from sim.pm import crypto
from sim.pm.params import TicketParams
from sim.pm.sender import create_ticket_batch

TARGET_RATIO = 0.7
KEY = bytes.fromhex("ac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80")  # anvil dev key #0 (public)


DEFAULT_ROUNDS = 7
BATCH = 50  # tickets per call: small, so a slice of a few tens of ms still holds several calls


def add_arguments(parser) -> None:
    parser.add_argument("--seconds", type=float, default=1.5,
                        help="total time per path, split into --rounds slices (default 1.5)")
    parser.add_argument("--rounds", type=int, default=DEFAULT_ROUNDS,
                        help=f"alternating baseline/PM slices per path; rates are their medians "
                             f"(default {DEFAULT_ROUNDS})")


def _rate(fn, seconds: float, batch: int) -> float:
    """One slice: calls of ``batch`` for at least ``seconds`` (and at least one call); items per second."""
    n, start = 0, time.perf_counter()
    while True:
        fn(batch)
        n += batch
        elapsed = time.perf_counter() - start
        if elapsed >= seconds:
            return n / elapsed


def interleaved_rates(baseline, pm, rounds: int, slice_s: float, batch: int = BATCH
                      ) -> tuple[list[float], list[float]]:
    """Per-slice rates of ``baseline`` and ``pm``, alternating which goes first each round (ABBA...), so a
    load spike or a drift in machine speed lands on both paths."""
    baseline(batch)  # warm up both
    pm(batch)
    base_rates: list[float] = []
    pm_rates: list[float] = []
    for r in range(rounds):
        order = ((baseline, base_rates), (pm, pm_rates))
        for fn, out in (order if r % 2 == 0 else order[::-1]):
            out.append(_rate(fn, slice_s, batch))
    return base_rates, pm_rates


def run(args) -> dict:
    seconds = float(getattr(args, "seconds", 1.5))
    rounds = max(1, int(getattr(args, "rounds", DEFAULT_ROUNDS)))
    sender = crypto.private_key_to_address(KEY)
    params = TicketParams(recipient=b"\x11" * 20, face_value=10**15, win_prob=2**200, recipient_rand_hash=b"\x22" * 32,
                          seed=7, expiration_block=1000, creation_round=10, creation_round_block_hash=b"\x33" * 32,
                          price_per_pixel=Fraction(1))
    nonce = [0]

    def pm_path(batch: int) -> None:
        start = nonce[0]
        create_ticket_batch(KEY, sender, params, range(start + 1, start + batch + 1))
        nonce[0] += batch

    if crypto.BACKEND == "coincurve":
        import coincurve

        pk = coincurve.PrivateKey(KEY)
        inputs = [i.to_bytes(32, "big") for i in range(256)]

        def baseline(batch: int) -> None:
            for i in range(batch):
                pk.sign_recoverable(crypto.keccak(inputs[i & 255]), hasher=None)
    else:  # pragma: no cover - fallback machines
        def baseline(batch: int) -> None:
            for i in range(batch):
                crypto.sign_hash(KEY, crypto.keccak(i.to_bytes(32, "big")))

    base_rates, pm_rates = interleaved_rates(baseline, pm_path, rounds, seconds / rounds)
    base, pm = statistics.median(base_rates), statistics.median(pm_rates)
    ratio = pm / base
    return {"bench": "tickets", "backend": crypto.BACKEND, "tickets_per_s": round(pm, 1),
            "baseline_per_s": round(base, 1), "ratio": round(ratio, 3), "target_ratio": TARGET_RATIO,
            "ok": ratio >= TARGET_RATIO, "rounds": rounds, "slice_s": round(seconds / rounds, 4),
            "baseline_slices_per_s": [round(x, 1) for x in base_rates],
            "tickets_slices_per_s": [round(x, 1) for x in pm_rates]}


def format_text(r: dict) -> str:
    return (f"tickets hashed+signed: {r['tickets_per_s']:,.0f}/s  (PM core, backend {r['backend']})\n"
            f"baseline keccak+sign:  {r['baseline_per_s']:,.0f}/s  (raw libsecp256k1, same run)\n"
            f"medians of {r['rounds']} alternating slices of {r['slice_s']:.3f} s each\n"
            f"ratio: {r['ratio']:.3f}  (target >= {r['target_ratio']}) {'OK' if r['ok'] else 'BELOW TARGET'}")
