"""``shouldRefreshSession`` (docs/refreshes.md#480-refresh-the-session) on lpdev's signer, exactly as go-livepeer
computes it: ``time.Now().After(time.Unix(authToken.expiration - 180, 0))`` — a nanosecond comparison (not whole
seconds), with Go's int64 wrap-around at the extremes of ``expiration``."""
from __future__ import annotations

import pytest

from sim.signer.config import SignerConfig
from sim.signer.core import SignerCore
from sim.signer.testkit import MemoryChain, make_orch_info, request_body
from tests.test_signer_harness import KEY

T0 = 1_780_000_000


class _NsClock:
    """Exact integer nanoseconds (a float clock cannot say "1 ns after")."""

    def __init__(self, ns: int) -> None:
        self.ns = ns

    def now(self) -> float:
        return self.ns / 1e9

    def now_ns(self) -> int:
        return self.ns


def _status(now_ns: int, expiration: int) -> int:
    core = SignerCore(key=KEY, chain=MemoryChain(), config=SignerConfig(), clock=_NsClock(now_ns))
    info = make_orch_info(now=T0, auth_expiration=expiration, last_block=100)
    resp = core.begin_payment([], request_body(info, in_pixels=1))
    assert not hasattr(resp, "webhook"), "no webhook configured: the core answers at once"
    if resp.status == 480:
        assert resp.message == "refresh session for remote signer"
    return resp.status


@pytest.mark.parametrize("now_ns, want", [
    ((T0 - 1) * 10**9 + 999_999_999, 200),  # 1 ns before the refresh point
    (T0 * 10**9, 200),  # exactly at it: After() is false
    (T0 * 10**9 + 1, 480),  # 1 ns after: go refreshes (whole seconds would not)
    ((T0 + 1) * 10**9, 480),
])
def test_refresh_point_is_compared_to_the_nanosecond(now_ns, want):
    assert _status(now_ns, expiration=T0 + 180) == want


@pytest.mark.parametrize("expiration", [2**63 - 1, 2**63 - 1 - 62_135_596_800 + 181])
def test_expiration_near_int64_max_wraps_into_the_past_like_go(expiration):
    """``time.Unix(exp - 180, 0)`` overflows Go's internal seconds and lands before year 1: refresh (480)."""
    assert _status(T0 * 10**9, expiration) == 480


def test_expiration_just_below_the_wrap_is_far_future():
    assert _status(T0 * 10**9, 2**63 - 1 - 62_135_596_800 + 180) == 200
    assert _status(T0 * 10**9, -(2**63)) == 480  # wraps the other way: still in the past
