"""Closed-form predictions: plain functions of numbers and arrays (a truth, an alpha schedule (T,), n, T),
one module per family, each checked under ``proofs_check/``. Theory imports no family and no spec: each
family's entry carries a small adapter (its ``predict``) that reads a run spec's numbers and calls these
functions, returning a :class:`Prediction`: the exact expected curve of each recorded metric it can predict
(arrays of shape (T + 1,)), labelled approximations drawn beside them, curves with a parameter fitted on the
run's own generations (never called theory), and a note saying why a metric has no exact curve.

The three kinds are kept apart all the way to the run folder: exact curves fill metrics.csv's ``theory``
column; approximations and fitted curves go to ``approximations.csv`` with their kind, and config.json's
``theory_curves`` says per metric which kinds it has and on which generations a fit was made.
"""

from __future__ import annotations

from typing import NamedTuple


class Prediction(NamedTuple):
    """curves: metric -> (T + 1,) exact expectation (absent or None: no exact theory); approx: metric ->
    {label: (T + 1,)}, approximations (drawn dotted); note: why no exact theory is drawn ('' when it is);
    fitted: metric -> {label: (T + 1,)}, curves whose parameter was fitted on this run's generations
    ``fit_generations`` (in-sample there, held out elsewhere; drawn dash-dotted)."""

    curves: dict
    approx: dict
    note: str = ""
    fitted: dict = {}
    fit_generations: tuple = ()


def none_for(policy: str) -> Prediction:
    return Prediction({}, {}, f"no exact theory for policy {policy!r}")

