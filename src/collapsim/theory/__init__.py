"""Closed-form predictions: plain functions of numbers and arrays (a truth, an alpha schedule (T,), n, T),
one module per family, each checked under ``proofs_check/``. Theory imports no family and no spec: each
family's entry carries a small adapter (its ``predict``) that reads a run spec's numbers and calls these
functions, returning a :class:`Prediction`: the exact expected curve of each recorded metric it can predict
(arrays of shape (T + 1,)), labelled approximations drawn beside them, and a note saying why a metric has no
exact curve.
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

