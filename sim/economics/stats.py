"""Confidence intervals for the Monte Carlo's estimates (95 %, z = 1.96). Probabilities, not money: floats."""
from __future__ import annotations

import math

__all__ = ["Z95", "wilson", "mean_ci", "erlang_quantile", "norm_ppf", "norm_sf", "quantile_upper_rank"]

Z95 = 1.959963984540054


def wilson(k: int, n: int, z: float = Z95) -> tuple[float, float, float]:
    """(estimate, low, high) of a proportion k/n: the Wilson score interval (sane at 0 and n)."""
    if n <= 0:
        return (float("nan"), 0.0, 1.0)
    p = k / n
    den = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / den
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / den
    return (p, max(0.0, centre - half), min(1.0, centre + half))


def mean_ci(values, z: float = Z95) -> tuple[float, float, float]:
    """(mean, low, high) of a sample mean (normal approximation); ``values`` may be a list or a numpy array."""
    import numpy as np

    xs = np.asarray(values, dtype=np.float64).ravel()
    n = len(xs)
    if n == 0:
        return (float("nan"), float("nan"), float("nan"))
    m = float(xs.mean())
    if n == 1:
        return (m, m, m)
    half = z * math.sqrt(float(xs.var(ddof=1)) / n)
    return (m, m - half, m + half)


def erlang_quantile(k: int, rate: float, q: float) -> float:
    """The q-quantile of the time to the k-th event of a Poisson process with this rate (Wilson–Hilferty)."""
    if k <= 0:
        return 0.0
    if rate <= 0:
        return math.inf
    zq = norm_ppf(q)
    c = 1 - 1 / (9 * k) + zq * math.sqrt(1 / (9 * k))
    return max(0.0, k * c ** 3 / rate)


def norm_ppf(q: float) -> float:
    """Inverse standard normal CDF (Acklam's rational approximation, |error| < 1.2e-9)."""
    a = (-3.969683028665376e01, 2.209460984245205e02, -2.759285104469687e02, 1.383577518672690e02,
         -3.066479806614716e01, 2.506628277459239e00)
    b = (-5.447609879822406e01, 1.615858368580409e02, -1.556989798598866e02, 6.680131188771972e01,
         -1.328068155288572e01)
    c = (-7.784894002430293e-03, -3.223964580411365e-01, -2.400758277161838e00, -2.549732539343734e00,
         4.374664141464968e00, 2.938163982698783e00)
    d = (7.784695709041462e-03, 3.224671290700398e-01, 2.445134137142996e00, 3.754408661907416e00)
    if q < 0.02425:
        u = math.sqrt(-2 * math.log(q))
        return (((((c[0] * u + c[1]) * u + c[2]) * u + c[3]) * u + c[4]) * u + c[5]) / \
            ((((d[0] * u + d[1]) * u + d[2]) * u + d[3]) * u + 1)
    if q > 1 - 0.02425:
        return -norm_ppf(1 - q)
    u = q - 0.5
    r = u * u
    return (((((a[0] * r + a[1]) * r + a[2]) * r + a[3]) * r + a[4]) * r + a[5]) * u / \
        (((((b[0] * r + b[1]) * r + b[2]) * r + b[3]) * r + b[4]) * r + 1)


def norm_sf(z: float) -> float:
    """P(Z > z) for a standard normal Z."""
    return 0.5 * math.erfc(z / math.sqrt(2))


def quantile_upper_rank(n: int, q: float, conf: float = 0.95) -> int | None:
    """The smallest rank r (1-based, ascending) such that the r-th smallest of n i.i.d. samples is at or above the
    q-quantile with probability >= conf (a distribution-free upper confidence bound); None when n is too small."""
    if n <= 0:
        return None
    # P(X_(r) >= x_q) = P(Binomial(n, q) < r) = sum_{k < r} C(n, k) q^k (1-q)^(n-k), in logs (no underflow)
    if not 0 < q < 1:
        return None
    lq, l1q = math.log(q), math.log1p(-q)
    cdf = 0.0
    for k in range(n):
        cdf += math.exp(math.lgamma(n + 1) - math.lgamma(k + 1) - math.lgamma(n - k + 1) + k * lq + (n - k) * l1q)
        if cdf >= conf:
            return k + 1
    return None
