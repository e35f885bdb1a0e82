"""Honest labels: exact theory, approximations and curves fitted on the run are kept apart from the
Prediction to the run folder (metrics.csv's theory column holds exact curves only; approximations.csv the
rest, with their kind; config.json's theory_curves says which), the printed table names each row's kind,
and lo/hi from fewer than 8 chains are called a per-seed range."""

import csv
import json

import numpy as np

from collapsim.output.runfolder import finish_summary, summary_table, theory_curves_note, write_run
from collapsim.theory import llm as th

T = 4


def _summary(chains: int):
    rng = np.random.default_rng(0)
    per_chain = {"a": rng.normal(size=(chains, T + 1)), "b": rng.normal(size=(chains, T + 1)),
                 "c": rng.normal(size=(chains, T + 1))}
    exact = {"a": np.zeros(T + 1)}
    approx = {"b": {"small noise": np.full(T + 1, 0.5)}}
    fitted = {"c": {"fitted k": np.linspace(0, 1, T + 1)}}
    return finish_summary(per_chain, exact, approx, fitted=fitted, fit_generations=(1, 2))


def test_each_kind_goes_to_its_own_place(tmp_path):
    s = _summary(chains=20)
    config = {"family": "x"} | theory_curves_note(s)
    out = write_run(tmp_path / "r", config, s, lambda p: p.write_bytes(b"png"))
    with open(out / "metrics.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert {r["metric"] for r in rows if r["theory"] != ""} == {"a"}  # only the exact curve
    with open(out / "approximations.csv", newline="") as f:
        approx = list(csv.DictReader(f))
    kinds = {(r["metric"], r["kind"], r["label"]) for r in approx}
    assert kinds == {("b", "approximate", "small noise"), ("c", "fitted", "fitted k")}
    assert [float(r["value"]) for r in approx if r["metric"] == "c"] == list(np.linspace(0, 1, T + 1))
    note = json.loads((out / "config.json").read_text())
    assert note["theory_curves"]["per_metric"]["a"] == {"exact": True, "approximate": [], "fitted": []}
    assert note["theory_curves"]["per_metric"]["c"]["fitted"] == ["fitted k"]
    assert note["theory_curves"]["fitted_on_generations"] == [1, 2]
    assert note["lo_hi"].startswith("2.5% and 97.5% quantiles")


def test_no_approximation_no_file(tmp_path):
    per_chain = {"a": np.ones((3, T + 1))}
    s = finish_summary(per_chain, {"a": np.ones(T + 1)})
    out = write_run(tmp_path / "r", {"family": "x"}, s, lambda p: p.write_bytes(b"png"))
    assert not (out / "approximations.csv").exists()


def test_few_chains_give_a_per_seed_range():
    assert "per-seed range over 4 chains" in theory_curves_note(_summary(chains=4))["lo_hi"]


def test_the_table_names_each_rows_kind():
    lines = summary_table(_summary(chains=20), max_rows=T + 1).splitlines()
    kind = {(ln.split()[0], int(ln.split()[1])): ln.split()[5] for ln in lines[1:] if ln.split()[0] in "abc"}
    assert kind[("a", 2)] == "exact" and kind[("b", 2)] == "approx"
    assert kind[("c", 1)] == kind[("c", 2)] == "fit-in" and kind[("c", 3)] == "fit-out"
    assert any(ln.startswith("kind:") for ln in lines)


def test_fewer_than_8_seeds_report_the_per_seed_range_not_a_bootstrap():
    """With 3 seeds the n_eff interval is the per-seed fits' range (a bootstrap over 3 seeds would only
    return them again); with 8 a percentile bootstrap."""
    K, M = 30, 300
    q = np.arange(1, K + 1.0) ** -1.0
    q /= q.sum()
    rng = np.random.default_rng(1)
    a = np.zeros(4)

    def chains(n):
        out = {k: np.empty((n, 5)) for k in th.PREDICTED}
        for i in range(n):
            p = q.copy()
            for t in range(5):
                if t:
                    p = rng.multinomial(M, p) / M
                out["unigram_entropy"][i, t] = -np.sum(p[p > 0] * np.log(p[p > 0]))
                out["gini_simpson"][i, t] = 1 - np.sum(p * p)
                out["support"][i, t] = np.sum(1 - (1 - p) ** 1000)
                out["tail_mass"][i, t] = 0.0
        return out

    few = th.fit_and_predict(chains(3), q, q, a, 1000, bootstrap=20)
    assert not few.bootstrapped and few.interval == [min(few.per_seed), max(few.per_seed)]
    assert "n_eff_per_seed_range" in few.to_config() and "not a 95% interval" in few.interval_text()
    many = th.fit_and_predict(chains(8), q, q, a, 1000, bootstrap=20)
    assert many.bootstrapped and "n_eff_interval95" in many.to_config()
