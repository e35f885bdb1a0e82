"""The n-gram family's theory: what is exact (and what is not) for a count language model of order k refit on n texts of L
tokens drawn from itself (``replace``, no smoothing, no decoding).

k = 1: the texts are n L i.i.d. tokens from the one row, and the refit is their count law: exactly the
categorical family (Wright-Fisher with population M = n L) started from the model's generation-0 law. Every
unigram metric's expectation is then the categorical theory's (eqs. C1-C12 of
:mod:`collapsim.theory.categorical`), for all generations; entropy_rate and row_gini_simpson are the
unigram entropy and Gini-Simpson, live_transitions the support.

k >= 2, exact for every generation: the opening law. The n texts open with n i.i.d. draws of the opening
law g, and its refit is their count law whatever the table does, so g_t is Wright-Fisher with population n:
the categorical theory with M = n gives E[opening_entropy] and E[opening_support] exactly.

k >= 2, the rows: an approximation. Given the model Q (rows Q_c) and the visits N_c of context c in the n
texts (the positions k..L whose previous k - 1 tokens are c), *if* the next tokens after c were N_c i.i.d.
draws from Q_c given N_c, their counts would be Multinomial(N_c, Q_c). They are not exactly: how often a
chain comes back to c depends on where it went from c (a self-loop c -> c adds a visit), so conditioning on
N_c tilts the successor counts (Whittle's formula for Markov transition counts); E C_c,x = Q_c,x E N_c stays
exact. Measured: 4.6 SE at 6,000 chains for V = 5, L = 6, n = 6 (a small bias, but a real one). Under the
multinomial approximation, with the refit Q'_c = (C_c + kappa Q_c) / (N_c + kappa), S_c = sum_x Q_c,x^2 and
E C_x^2 = N_c (N_c - 1) Q_x^2 + N_c Q_x (exact for a multinomial, checked in proofs_check/ngram.py):

    E[sum_x Q'_c,x^2 | N_c] = S_c + N_c (1 - S_c) / (N_c + kappa)^2                              (eq. N1)

(kappa = 0: the multinomial's 1/N_c, and a context with N_c = 0 keeps its row). So for the recorded
``row_gini_simpson`` = sum_c w*_c (1 - S_c) with fixed weights w*:

    E[row_gini_simpson_1] = sum_c w*_c (1 - S_c) (1 - E[N_c / (N_c + kappa)^2])                  (eq. N2)

(under that approximation), where N_c = sum of n i.i.d. per-text visit counts. The per-text law of the visits to c is an exact
forward recursion over (current context, visits so far) along the L - k + 1 predicting positions (eq. N3,
:func:`visit_count_pmf`), and the n-fold sum is its n-th convolution power (by FFT, :func:`total_visit_pmf`).

Later generations: the visit law changes with the model too; the curve drawn (dotted, approximate) applies the
factor of eq. (N2) with generation 1's visit law every generation, row_gini_simpson_t ~ sum_c w*_c (1 - S_c)
(1 - e_c)^t. For k = 1 (N = n L fixed, no visits to condition on) eq. (N1) is exact, every generation.
"""

from __future__ import annotations

import numpy as np

#: The largest forward recursion (R^2 V (L - k + 2) (L - k + 1) multiply-adds) computed before the exact
#: generation-1 value is skipped with a note.
MAX_VISIT_WORK = 3e9

ROW_APPROX_LABEL = "approx: multinomial successors given visits (eq. N2)"


def visit_work(vocab: int, order: int, length: int) -> float:
    """Multiply-adds of :func:`visit_count_pmf` (R^2 V J steps)."""
    R, steps = float(vocab) ** (order - 1), length - order + 1
    return R * R * vocab * (steps + 1) * steps


def visit_count_pmf(opening, table, length: int, order: int) -> np.ndarray:
    """P(a text visits context c exactly j times at its predicting positions), shape (R, L - k + 2): for
    every context c at once, the forward recursion (eq. N3) over A[c, s, j] = P(context at this position is
    s, visits to c before it = j); the context after s and token x is (s's last k - 2 tokens, x)."""
    opening, table = np.asarray(opening, np.float64), np.asarray(table, np.float64)
    R, V = table.shape
    steps = length - order + 1
    A = np.zeros((R, R, steps + 1))
    A[:, :, 0] = opening[None, :]
    diag = np.arange(R)
    for t in range(steps):
        # Count the visit at this position: where the current context s is c itself, j moves up by one.
        hit = A[diag, diag, :].copy()
        A[diag, diag, :] = 0.0
        A[diag, diag, 1:] = hit[:, :-1]
        if t == steps - 1:
            break
        # Next context: s = (first token, rest) -> (rest, x) with probability table[s, x].
        moved = A[:, :, None, :] * table[None, :, :, None]  # (c, s, x, j)
        A = moved.reshape(R, V, R // V, V, steps + 1).sum(axis=1).reshape(R, R, steps + 1)
    return A.sum(axis=1)


def total_visit_pmf(per_text: np.ndarray, texts: int) -> np.ndarray:
    """The law of the sum of ``texts`` i.i.d. per-text visit counts (R, J) -> (R, texts (J - 1) + 1), by FFT
    of the zero-padded pmfs raised to the n-th power (negative rounding residue clipped, rows renormalised)."""
    R, J = per_text.shape
    top = texts * (J - 1) + 1
    size = 1 << int(np.ceil(np.log2(max(top, 2))))
    out = np.fft.irfft(np.fft.rfft(per_text, size, axis=1) ** texts, size, axis=1)[:, :top]
    out = np.clip(out, 0.0, None)
    return out / out.sum(axis=1, keepdims=True)


def shrink_factor(pmf: np.ndarray, prior_weight: float) -> np.ndarray:
    """E[N / (N + kappa)^2] (R,) for N with the given pmf (R, M + 1); kappa = 0 reads 0 at N = 0 (eq. N1)."""
    N = np.arange(pmf.shape[1], dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        h = np.where(N > 0, N / (N + prior_weight) ** 2, 0.0)
    return pmf @ h


def expected_row_gini_one_step(opening, table, weights, texts: int, length: int, order: int,
                               prior_weight: float = 0.0) -> tuple[float, np.ndarray]:
    """(E[row_gini_simpson] after one refit under eq. (N2)'s approximation, the per-context factors e_c (R,))."""
    table = np.asarray(table, np.float64)
    e = shrink_factor(total_visit_pmf(visit_count_pmf(opening, table, length, order), texts), prior_weight)
    gs = 1.0 - np.sum(table * table, axis=1)
    return float(np.asarray(weights, np.float64) @ (gs * (1.0 - e))), e


def row_gini_approx(opening, table, weights, texts: int, length: int, order: int, generations: int,
                    prior_weight: float = 0.0) -> np.ndarray:
    """The approximate row Gini-Simpson curve (T + 1,) of the module docstring."""
    table = np.asarray(table, np.float64)
    gs = 1.0 - np.sum(table * table, axis=1)
    _, e = expected_row_gini_one_step(opening, table, weights, texts, length, order, prior_weight)
    t = np.arange(generations + 1)[:, None]
    return (gs[None] * (1.0 - e[None]) ** t) @ np.asarray(weights, np.float64)


#: The categorical theory's metric names -> the n-gram family's (k = 1).
K1_NAMES = {"entropy": ("unigram_entropy", "entropy_rate"), "gini_simpson": ("gini_simpson", "row_gini_simpson"),
            "support": ("support", "live_transitions"), "tail_mass": ("tail_mass",), "kl": ("kl_unigram",)}


def order_one_curves(categorical_curves: dict) -> dict:
    """The categorical family's exact curves (for truth = the k = 1 model's row, M = n L) under the n-gram
    family's names."""
    out = {}
    for name, targets in K1_NAMES.items():
        if categorical_curves.get(name) is not None:
            for target in targets:
                out[target] = categorical_curves[name]
    return out
