"""``collapsim bench ngram`` compares like with like: its NumPy reference samples the same law, and records
the same metrics, as the family (checked against the family's own functions, not against speed)."""

import json

import jax.numpy as jnp
import numpy as np
import pytest
from click.testing import CliRunner

from collapsim.commands.bench.ngram import numpy_distinct, numpy_fit, numpy_metrics, numpy_texts
from collapsim.commands.cli import main
from collapsim.families import ngram as G


def _sparse_model(V=6, L=5, seed=3):
    """A refit order-2 model with dead transitions and a dead opening (so every branch of the metrics runs),
    and the real-text laws of a random truth."""
    truth = G.random_chain(V, 2, 3, seed)
    params = G.make_params(truth, 2, L)
    x = numpy_texts(truth.opening, truth.table, 4, L, np.random.default_rng(seed))
    opening, table = numpy_fit(truth.table, x)
    return opening, table, params


def test_numpy_metrics_are_the_familys_metrics():
    L = 5
    opening, table, params = _sparse_model(L=L)
    assert (table == 0).any() and (opening == 0).any()
    real = {k: np.asarray(params[k], np.float64) for k in ("unigram", "real_opening", "real_pairs", "real_context")}
    mine = numpy_metrics(opening, table, real, L)
    theirs = G.ngram_metrics(jnp.asarray(opening, jnp.float32), jnp.asarray(table, jnp.float32), params, L, 2)
    assert set(mine) == set(theirs)
    for name, value in mine.items():
        np.testing.assert_allclose(value, float(theirs[name]), rtol=1e-5, atol=1e-6, err_msg=name)


def test_numpy_sampler_draws_the_chain_and_counts_bigrams_as_the_family():
    truth = G.random_chain(5, 2, 3, seed=1)
    L, n = 6, 20000
    x = numpy_texts(truth.opening, truth.table, n, L, np.random.default_rng(0))
    freq = np.stack([(x == i).mean(1) for i in range(5)], 1)  # per-text frequencies (independent texts)
    z = (freq.mean(0) - G.unigram_law(truth, L)) / (freq.std(0) / np.sqrt(n))
    assert np.all(np.abs(z) < 4), z
    # Transitions only where the table allows them (the flat CDF search never leaks into a neighbouring row).
    assert np.all(truth.table[x[:, :-1], x[:, 1:]] > 0)
    few = x[:50]
    np.testing.assert_allclose(numpy_distinct(few, 5), float(G.distinct_bigrams(jnp.asarray(few, jnp.int32), 5)), rtol=1e-6)


def _json(args):
    res = CliRunner().invoke(main, ["bench", "ngram", "--chains", "4", "--vocab", "6", "--samples", "3", "--length",
                                    "4", "--generations", "2", "--loop-chains", "2", "--repeats", "1", "--json", *args])
    assert res.exit_code == 0, res.output
    return json.loads(res.stdout)


def _check_keys(report):
    for key in ("collapsim_s", "cold_s", "numpy_s", "numpy_over_collapsim", "numpy_over_cold", "numpy_cpu_s"):
        assert report[key] > 0, key
    assert report["tokens"] == 4 * 2 * 3 * 4 and report["numpy_chains_timed"] == 2
    assert report["numpy_over_collapsim"] == report["numpy_s"] / report["collapsim_s"]


def test_bench_json_keys_with_the_loop_stubbed(monkeypatch):
    """The JSON report's keys and ratios, cheaply: the compiled loop replaced by a ~10 ms busy stand-in (it
    must use CPU time too; the NumPy reference runs for real)."""
    import time

    import collapsim.engine as engine

    def busy(*args, **kwargs):
        end = time.perf_counter() + 0.01
        while time.perf_counter() < end:
            pass

    monkeypatch.setattr(engine, "run_loop", busy)
    report = _json([])
    _check_keys(report)
    assert 0.01 <= report["collapsim_s"] < 1 and report["collapsim_cpu_s"] > 0


@pytest.mark.slow
def test_bench_json_has_the_tracked_keys():
    _check_keys(_json([]))
