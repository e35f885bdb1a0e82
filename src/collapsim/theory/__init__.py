"""Closed-form predictions, one module per family; each checked under ``proofs_check/``.

Every module offers one entry point for the run pipeline, ``predict(spec) -> Prediction``: the exact
expected curve of each recorded metric it can predict (arrays of shape (T + 1,)), labelled approximations
drawn beside them, and a note saying why a metric has no exact curve.
"""

from __future__ import annotations

from typing import NamedTuple


class Prediction(NamedTuple):
    """curves: metric -> (T + 1,) exact expectation (absent or None: no exact theory); approx: metric ->
    {label: (T + 1,)}; note: why no exact theory is drawn ('' when it is)."""

    curves: dict
    approx: dict
    note: str = ""


def none_for(policy: str) -> Prediction:
    return Prediction({}, {}, f"no exact theory for policy {policy!r}")

