"""Monte Carlo summaries of per-chain metrics (NumPy only, so the run-folder writer needs no JAX)."""

from __future__ import annotations

import math

import numpy as np


def summarize(values: np.ndarray) -> dict:
    """Summary over chains of an array (chains, T + 1): mean, stderr, 2.5% and 97.5% quantiles, each (T + 1,)."""
    values = np.asarray(values, np.float64)
    s = values.shape[0]
    stderr = values.std(axis=0, ddof=1) / math.sqrt(s) if s > 1 else np.full(values.shape[1], np.nan)
    lo, hi = np.quantile(values, [0.025, 0.975], axis=0)
    return {"mean": values.mean(axis=0), "stderr": stderr, "lo": lo, "hi": hi}
