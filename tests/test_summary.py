"""The Monte Carlo summary of a generation does not depend on the other generations in the array: a masked
copy (``--metrics-every``) or a single column gives the same bits as the full array, on any CPU."""

import math

import numpy as np
import pytest

from collapsim.runs.summary import summarize


@pytest.mark.parametrize("chains", [2, 7, 33, 257, 2000])
@pytest.mark.parametrize("columns", [1, 5, 12, 101])
def test_a_column_is_summarised_the_same_whatever_columns_surround_it(chains, columns):
    rng = np.random.default_rng(chains * 1000 + columns)
    values = rng.standard_normal((chains, columns)) * rng.gamma(1.0, size=(chains, columns)) + 3.0
    full = summarize(values)
    mask = rng.random(columns) < 0.4
    mask[-1] = True
    masked = summarize(values[:, mask])
    single = summarize(values[:, [columns - 1]])
    for stat in ("mean", "stderr", "lo", "hi"):
        assert np.array_equal(full[stat][mask], masked[stat]), stat
        assert np.array_equal(full[stat][-1:], single[stat]), stat


def test_summary_values_are_the_textbook_ones():
    rng = np.random.default_rng(1)
    values = rng.exponential(size=(500, 4))
    s = summarize(values)
    for j in range(4):
        col = values[:, j].tolist()
        mean = math.fsum(col) / len(col)
        sd = math.sqrt(math.fsum((x - mean) ** 2 for x in col) / (len(col) - 1))
        assert s["mean"][j] == pytest.approx(mean, rel=1e-13)
        assert s["stderr"][j] == pytest.approx(sd / math.sqrt(len(col)), rel=1e-12)
        assert s["lo"][j] == pytest.approx(np.quantile(values[:, j], 0.025), rel=1e-14)
        assert s["hi"][j] == pytest.approx(np.quantile(values[:, j], 0.975), rel=1e-14)
    one = summarize(values[:1])
    assert np.isnan(one["stderr"]).all() and np.array_equal(one["mean"], values[0])
