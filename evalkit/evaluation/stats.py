"""Paired significance tests over per-query scores.

The test is the paired randomisation (sign-flip permutation) test that IR evaluation uses
(Smucker, Allan & Carterette, CIKM 2007): under the null hypothesis each query's difference
is as likely to have the other sign, so the p-value is the share of sign assignments whose
mean difference is at least as extreme as the observed one, computed by
``scipy.stats.permutation_test`` (``permutation_type="samples"``).

Several datasets: each gets its own test, and the p-values are adjusted with Holm's step-down
correction over all datasets compared. A suite average gets a stratified test:
signs are flipped within each dataset and the statistic is the mean of the per-dataset mean
differences, the same macro average the suite score is."""

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
    ``scipy.stats.permutation_test`` does the work: exact (all ``2**n`` sign assignments) when
    that is at most ``n_resamples``, otherwise ``n_resamples`` seeded random assignments with
    its ``(k + 1) / (n + 1)`` estimate, so a p-value is never 0. ``weights`` (one per stratum,
    default equal) weigh the strata's means as the average being tested does."""
    from scipy.stats import permutation_test

    groups = _groups(strata)
    sizes = [len(g) for g in groups]
    if sum(sizes) == 0:
        return float("nan")
    ws = list(weights) if weights is not None else [1.0 / len(groups)] * len(groups)
    if len(ws) != len(groups):
        raise ValueError("one weight per non-empty stratum")
    # statistic = sum_i w_i d_i, w_i = stratum weight / its size: flipping the sign of w_i d_i
    # is flipping d_i, so a one-sample sign-flip test of w*d is the stratified test
    w = np.concatenate([np.full(k, wt / k) for k, wt in zip(sizes, ws)])
    res = permutation_test(
        (w * np.concatenate(groups),),
        lambda x, axis: np.sum(x, axis=axis),
        permutation_type="samples",
        vectorized=True,
        n_resamples=n_resamples,
        alternative="two-sided",
        rng=seed,
    )
    return float(res.pvalue)


def _groups(strata: Sequence[Sequence[float]] | Sequence[float]) -> list[np.ndarray]:
    if len(strata) and np.ndim(strata[0]) == 0:
        return [np.asarray(strata, dtype=float)]
    return [np.asarray(g, dtype=float) for g in strata if len(g)]  # type: ignore[arg-type]


def holm(pvalues: Sequence[float]) -> list[float]:
    """Holm's step-down adjustment (family-wise error rate); NaN entries are left out of the
    family and stay NaN. Equal to statsmodels' ``multipletests(method="holm")`` (the tests
    check it), written out because that call runs ``gc.collect()`` each time: 0.4 s with
    torch loaded, for a dozen multiplications."""
    idx = [i for i, p in enumerate(pvalues) if p == p]
    order = sorted(idx, key=lambda i: pvalues[i])
    m = len(order)
    out = [float("nan")] * len(pvalues)
    running = 0.0
    for rank, i in enumerate(order):
        running = max(running, min(1.0, (m - rank) * pvalues[i]))
        out[i] = running
    return out
