"""Paired significance tests over per-query scores.

The test is the paired randomisation (sign-flip permutation) test that IR evaluation uses
(Smucker, Allan & Carterette, CIKM 2007): under the null hypothesis each query's difference
is as likely to have the other sign, so the p-value is the share of sign assignments whose
mean difference is at least as extreme as the observed one. Its p-values are those of
``scipy.stats.permutation_test((d,), np.mean, permutation_type="samples")`` (tests check it).

Several datasets: each gets its own test, and the p-values are adjusted with Holm's step-down
correction over all datasets compared. A suite average gets a stratified test: signs are
flipped within each dataset and the statistic is the mean of the per-dataset mean differences,
the same macro average the suite score is."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

TEST_NAME = "paired randomisation test (two-sided, sign flips of per-query differences)"


def randomisation_test(
    strata: Sequence[Sequence[float]] | Sequence[float],
    n_resamples: int = 10_000,
    seed: int = 0,
    weights: Sequence[float] | None = None,
) -> float:
    """Two-sided p-value that the mean (over strata) of the mean paired difference is 0.

    ``strata`` is one sequence of per-query differences, or a list of them (one per dataset).
    Exact (all ``2**n`` sign assignments) when that is at most ``n_resamples``; otherwise
    ``n_resamples`` seeded random assignments, with scipy's ``(k + 1) / (n + 1)`` estimate so a
    p-value is never 0. ``weights`` (one per stratum, default equal) weigh the strata's means
    as the average being tested does."""
    groups = _groups(strata)
    sizes = [len(g) for g in groups]
    n = sum(sizes)
    if n == 0:
        return float("nan")
    d = np.concatenate(groups)
    ws = list(weights) if weights is not None else [1.0 / len(groups)] * len(groups)
    if len(ws) != len(groups):
        raise ValueError("one weight per non-empty stratum")
    # statistic = sum_i w_i d_i s_i, with w_i = stratum weight / size of i's stratum
    w = np.concatenate([np.full(k, wt / k) for k, wt in zip(sizes, ws)])
    wd = w * d
    observed = float(wd.sum())
    exact = n < 63 and 2**n <= n_resamples
    if exact:
        bits = (np.arange(2**n)[:, None] >> np.arange(n)[None, :]) & 1
        null = ((1 - 2 * bits) * wd).sum(axis=1)
    else:
        rng = np.random.default_rng(seed)
        parts = []
        for start in range(0, n_resamples, 1000):
            m = min(1000, n_resamples - start)
            signs = rng.integers(0, 2, size=(m, n), dtype=np.int8) * 2 - 1
            parts.append(signs @ wd)
        null = np.concatenate(parts)
    # scipy's tolerance: ties within float rounding count as "at least as extreme"
    gamma = abs(1e-14 * observed)
    greater = int((null >= observed - gamma).sum())
    less = int((null <= observed + gamma).sum())
    if exact:
        p_greater, p_less = greater / len(null), less / len(null)
    else:
        p_greater, p_less = (greater + 1) / (len(null) + 1), (less + 1) / (len(null) + 1)
    return min(1.0, 2 * min(p_greater, p_less))


def _groups(strata: Sequence[Sequence[float]] | Sequence[float]) -> list[np.ndarray]:
    if len(strata) and np.ndim(strata[0]) == 0:
        return [np.asarray(strata, dtype=float)]
    return [np.asarray(g, dtype=float) for g in strata if len(g)]  # type: ignore[arg-type]


def holm(pvalues: Sequence[float]) -> list[float]:
    """Holm's step-down adjustment (family-wise error rate); NaN entries are left out."""
    idx = [i for i, p in enumerate(pvalues) if p == p]
    order = sorted(idx, key=lambda i: pvalues[i])
    m = len(order)
    out = [float("nan")] * len(pvalues)
    running = 0.0
    for rank, i in enumerate(order):
        running = max(running, min(1.0, (m - rank) * pvalues[i]))
        out[i] = running
    return out
