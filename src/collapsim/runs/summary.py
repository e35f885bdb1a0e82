"""Monte Carlo summaries of per-chain metrics (NumPy only, so the run-folder writer needs no JAX)."""

from __future__ import annotations

import math

import numpy as np


def summarize(values: np.ndarray) -> dict:
    """Summary over chains of an array (chains, T + 1): mean, stderr, 2.5% and 97.5% quantiles, each (T + 1,).

    Each generation is reduced on its own, as one contiguous vector of chains. A reduction over axis 0 of
    the (chains, T + 1) array adds whole rows at once, and how NumPy blocks those rows into SIMD lanes
    depends on the number of columns and the CPU; the last bit of a column's mean then changed with the
    columns beside it (a masked copy ``values[:, mask]`` did not match the full array on some machines).
    Reducing the contiguous rows of the transpose sums each column in the same fixed pairwise order
    whatever else is in the array.
    """
    columns = np.ascontiguousarray(np.asarray(values, np.float64).T)  # (T + 1, chains)
    s = columns.shape[1]
    mean = columns.mean(axis=1)
    if s > 1:
        deviation = columns - mean[:, None]
        stderr = np.sqrt(np.square(deviation).sum(axis=1) / (s - 1)) / math.sqrt(s)
    else:
        stderr = np.full(columns.shape[0], np.nan)
    lo, hi = np.quantile(columns, [0.025, 0.975], axis=1)
    return {"mean": mean, "stderr": stderr, "lo": lo, "hi": hi}
