"""`collapsim reproduce`: every claim's verdict function changes verdict when the published number is
perturbed (times 1.5, or a bound tightened past ours); --list lists every claim; a claim that raises is
reported and the others still run; the report folder follows the out-dir rule and is never half-written."""

import json

import numpy as np
import pytest
from click.testing import CliRunner

from collapsim.claims import ORDER, claims, load, name_of
from collapsim.claims import (ainex, ferbach_curation, gerstgrasser_accumulate, gerstgrasser_replace, kazdan_cells,
                              kazdan_collapse_time, racca_replay,
                              shumailov_gmm, shumailov_variance, shumailov_w2, suresh_gaussian, suresh_survival,
                              zenil_anchoring)
from collapsim.claims.base import NOT_COMPARABLE, REFUTED, REPRODUCED, Claim, Result
from collapsim.commands.cli import main


def test_shumailov_w2_first_order_value_flips_at_1_5x():
    from collapsim.theory.gaussian import expected_w2sq

    exact = float(expected_w2sq(200, 100, 1)[-1])
    assert shumailov_w2.verdict(shumailov_w2.THEIRS, exact, exact + 0.05, 0.05)[0] == REPRODUCED
    assert shumailov_w2.verdict(1.5 * shumailov_w2.THEIRS, exact, exact + 0.05, 0.05)[0] == REFUTED
    # our own exact value is checked too: a Monte Carlo mean 5 SE away refutes it
    assert shumailov_w2.verdict(shumailov_w2.THEIRS, exact, exact + 0.25, 0.05)[0] == REFUTED


def test_shumailov_variance_flips():
    from collapsim.theory.gaussian import expected_log_sigma2_change

    log = float(expected_log_sigma2_change(200, 100, 1)[-1])
    assert shumailov_variance.verdict(1.0, 0.98, 0.03, log, log + 0.01, 0.01)[0] == REPRODUCED
    assert shumailov_variance.verdict(1.5, 0.98, 0.03, log, log + 0.01, 0.01)[0] == REFUTED
    assert shumailov_variance.verdict(1.0, 0.98, 0.03, 0.1, 0.1, 0.01)[0] == REFUTED  # no downward drift


def test_gerstgrasser_replace_flips_at_1_5x():
    from collapsim.theory.regression import replace_test_error

    T = 20
    ours = replace_test_error(T, 10, 100)[1:]
    se = 0.02 * ours
    published = np.array([gerstgrasser_replace.theirs(t) for t in range(1, T + 1)])
    assert gerstgrasser_replace.verdict(published, ours + se, se)[0] == REPRODUCED
    assert gerstgrasser_replace.verdict(1.5 * published, ours + se, se)[0] == REFUTED


def test_gerstgrasser_ceiling_flips_when_tightened():
    from collapsim.theory.regression import accumulate_test_error

    ours = accumulate_test_error(30, 10, 100)[1:]
    se = 0.005 * ours
    assert gerstgrasser_accumulate.verdict(gerstgrasser_accumulate.bound(), ours, se, ours)[0] == REPRODUCED
    # without the pi^2/6 factor the ceiling is the first generation's error, which accumulate exceeds from t = 2
    assert gerstgrasser_accumulate.verdict(gerstgrasser_accumulate.bound(factor=1.0), ours, se, ours)[0] == REFUTED


def test_suresh_survival_flips_when_tightened():
    lams, n, K = (1, 3, 10), 200, 40
    exact = suresh_survival.exact_survival(lams, n, K)[:, 1:]
    k = np.arange(1, K + 1)
    inf = np.full_like(exact, np.inf)
    assert suresh_survival.verdict(exact, suresh_survival.bound(lams, k), exact, inf)[0] == REPRODUCED
    assert suresh_survival.verdict(exact, suresh_survival.bound(lams, k, scale=1.5), exact, inf)[0] == REFUTED


def test_suresh_survival_exact_matches_monte_carlo():
    lams, n, K, chains = (1, 5), 100, 30, 4000
    exact = suresh_survival.exact_survival(lams, n, K)
    mc = suresh_survival.mc_survival(lams, n, K, chains, seed=3)
    se = np.sqrt(np.maximum(exact * (1 - exact), 1e-12) / chains)
    assert np.abs((mc - exact) / se).max() < 4.5
    # a one-generation shift in the exact curve (k vs k + 1) is detected
    assert np.abs((mc[:, 1:] - exact[:, :-1]) / se[:, 1:]).max() > 4.5


def test_suresh_gaussian_flips_when_tightened():
    from collapsim.theory.gaussian import expected_sigma

    n, T, chains = suresh_gaussian.N, 120, 3000
    rng = np.random.default_rng(0)
    sigma = np.sqrt(np.cumprod(rng.chisquare(n - 1, size=(chains, T)) / n, axis=1))  # ML refit, sigma_0 = 1
    k = np.arange(1, T + 1)
    p = (sigma > 0.5).mean(0)[None]
    se = np.sqrt(np.maximum(p * (1 - p), 1 / chains) / chains)
    markov = (expected_sigma(T, n, 0)[1:] / 0.5)[None]
    assert suresh_gaussian.verdict(p, se, markov, suresh_gaussian.bound(k, eps=0.5)[None])[0] == REPRODUCED
    assert suresh_gaussian.verdict(p, se, markov, suresh_gaussian.bound(k, eps=0.5, rate=4.0)[None])[0] == REFUTED


def test_zenil_flips_when_the_decay_rate_is_tightened():
    from collapsim.families.categorical import zipf_truth
    from collapsim.theory.categorical import marginals

    replace = marginals(zipf_truth(10), 40, np.zeros(15)).entropy
    drop = -np.diff(replace).min()
    settled = np.full(16, 2.0)
    vanishing = np.linspace(2.0, 1.5, 16)
    assert zenil_anchoring.verdict(0.0, replace, settled, 2.0, vanishing)[0] == REPRODUCED
    assert zenil_anchoring.verdict(1.5 * drop, replace, settled, 2.0, vanishing)[0] == REFUTED
    assert zenil_anchoring.verdict(0.0, replace, settled, 2.1, vanishing)[0] == REFUTED  # not at its stationary law
    z = {("const 0.1", "entropy"): 1.0, ("1/t", "support"): -2.0}
    assert zenil_anchoring.verdict(0.0, replace, settled, 2.0, vanishing, z=z)[0] == REPRODUCED
    far = {**z, ("1/t", "support"): -4.5}  # one Monte Carlo mean 4.5 SE from its exact expectation
    assert zenil_anchoring.verdict(0.0, replace, settled, 2.0, vanishing, z=far)[0] == REFUTED


def test_racca_replay_flips_and_the_class_fails():
    from collapsim.replay.checker import check
    from collapsim.replay.games import four_language_class
    from collapsim.replay.solver import solve

    hc = four_language_class()
    sol = solve(hc)
    ok = check(hc, sol.player, sol.strategy).ok
    assert racca_replay.verdict(False, sol.generatable, ok)[0] == REPRODUCED
    assert racca_replay.verdict(True, sol.generatable, ok)[0] == REFUTED
    assert racca_replay.verdict(False, sol.generatable, False)[0] == NOT_COMPARABLE


def test_kazdan_order_flips():
    final = {"accumulate": 0.1, "accumulate-subsample": 0.3, "replace": 3.0}
    se = {k: 0.01 for k in final}
    assert kazdan_cells.verdict(kazdan_cells.THEIRS_ORDER, final, se, "x")[0] == REPRODUCED
    assert kazdan_cells.verdict(kazdan_cells.THEIRS_ORDER[::-1], final, se, "x")[0] == REFUTED
    close = {**final, "accumulate-subsample": 0.12}  # within 4 combined SE of accumulate: not separated
    assert kazdan_cells.verdict(kazdan_cells.THEIRS_ORDER, close, se, "x")[0] == REFUTED


def test_kazdan_kde_moment_distance():
    # N(m, v) against N(0, 1 + h^2): m^2 + (sqrt v - sqrt(1 + h^2))^2, by hand for two points
    d = kazdan_cells.moment_w2sq(np.array([0.0, 0.25]), np.array([1.04, 4 * 1.04]), 1.04)
    np.testing.assert_allclose(d, [0.0, 0.25 + 1.04])


def test_kazdan_collapse_time_flips():
    from collapsim.families.categorical import zipf_truth
    from collapsim.theory.collapse_time import mean_collapse_time

    exact = mean_collapse_time(zipf_truth(kazdan_collapse_time.VOCAB), kazdan_collapse_time.N)
    taus = np.random.default_rng(0).geometric(1 / exact, 4000)  # a law with mean `exact`, all collapsed
    assert kazdan_collapse_time.verdict(exact, taus, 3)[0] == REPRODUCED
    assert kazdan_collapse_time.verdict(1.5 * exact, taus, 3)[0] == REFUTED  # the exact mean times 1.5
    assert kazdan_collapse_time.verdict(exact, taus, 1)[0] == REFUTED  # an accumulate chain collapsed
    censored = taus.copy()
    censored[:5] = -1
    assert kazdan_collapse_time.verdict(exact, censored, 3)[0] == REFUTED  # a replace chain never collapsed


def test_ferbach_curation_flips():
    rewards = np.array([0.5, 0.8, 0.95, 1.0 - 1e-9])
    assert ferbach_curation.verdict(rewards, 1.0, 1e-9)[0] == REPRODUCED
    assert ferbach_curation.verdict(rewards, 1.5, 1e-9)[0] == REFUTED  # a maximum 1.5 times ours is not reached
    assert ferbach_curation.verdict(rewards[[0, 2, 1, 3]], 1.0, 1e-9)[0] == REFUTED  # the reward fell once
    assert ferbach_curation.verdict(rewards, 1.0, 1e-3)[0] == REFUTED  # the mixed loop has not settled


def test_ferbach_curation_exact_map_rises_to_the_top_token():
    tr = ferbach_curation.trajectories(60)
    r = tr["reward"]
    assert tr["replace"][-1].argmax() == r.argmax() and tr["replace"][-1].max() > 0.999
    assert np.all(np.diff(tr["replace"] @ r) > -1e-12)
    assert tr["truth"] @ r < tr["fixed"] @ r < r.max()  # real data keep the fixed point below the maximum


def test_shumailov_gmm_flips():
    assert shumailov_gmm.verdict(0.0, 0.2, 0.02, 100)[0] == REPRODUCED
    assert shumailov_gmm.verdict(1.5 * 0.2 + 0.1, 0.2, 0.02, 100)[0] == REFUTED
    assert shumailov_gmm.verdict(0.0, 0.02, 0.01, 100)[0] == REFUTED  # no loss beyond noise


def test_ainex_is_not_comparable_until_nothing_is_missing():
    assert ainex.verdict(ainex.THEIRS, None, None)[0] == NOT_COMPARABLE
    assert ainex.verdict(ainex.THEIRS, 0.66, 0.01, missing=())[0] == REPRODUCED
    assert ainex.verdict(1.5 * ainex.THEIRS, 0.66, 0.01, missing=())[0] == REFUTED
    res = ainex.CLAIM.run(True)
    assert res.verdict == NOT_COMPARABLE and res.details["lambda_for_66.86%"] is None  # their notebook's volumes lose 91%


def test_list_lists_every_claim():
    res = CliRunner().invoke(main, ["reproduce", "--list"])
    assert res.exit_code == 0, res.output
    for module in ORDER:
        c = load(name_of(module)).CLAIM
        assert c.name == name_of(module)
        assert f"{c.name}\n" in res.output and c.citation in res.output and "runtime here" in res.output
        assert c.steps(True) >= 1 and c.steps(False) >= 1


@pytest.mark.parametrize("args", [[], ["--all", "ainex"], ["no-such-claim"], ["--list", "ainex"]])
def test_bad_use_is_one_line(args, tmp_path):
    out = tmp_path / "never"
    res = CliRunner().invoke(main, ["reproduce", *args, "--out", str(out)])
    assert res.exit_code == 2 and "error:" in res.output and len(res.output.strip().splitlines()) == 1, res.output
    assert not out.exists()


def test_a_foreign_out_folder_is_refused_before_any_work(tmp_path):
    (tmp_path / "mine.txt").write_text("notes")
    res = CliRunner().invoke(main, ["reproduce", "ainex", "--out", str(tmp_path)])
    assert res.exit_code == 2 and "did not write" in res.output
    assert sorted(p.name for p in tmp_path.iterdir()) == ["mine.txt"]


def _boom(quick, tick):
    raise RuntimeError("deliberate\nfailure")


def test_a_claim_that_raises_is_reported_and_the_others_run(tmp_path, monkeypatch):
    import collapsim.claims as registry

    bad = Claim("boom", "nobody (2026)", "fails", "x", "full", "quick", "0 s", lambda q: 1, _boom)
    monkeypatch.setattr(registry, "claims", lambda names=None: [bad, ainex.CLAIM, racca_replay.CLAIM])
    monkeypatch.setattr(registry, "ORDER", ("boom", "ainex", "racca_replay"))
    out = tmp_path / "rep"
    res = CliRunner().invoke(main, ["reproduce", "--all", "--quick", "--out", str(out)])
    assert res.exit_code == 1, res.output
    data = json.loads((out / "claims.json").read_text())
    verdicts = {c["name"]: c["verdict"] for c in data["claims"]}
    assert verdicts == {"boom": "failed", "ainex": NOT_COMPARABLE, "racca-replay": REPRODUCED}
    assert "RuntimeError: deliberate failure" in data["claims"][0]["reason"]
    report = (out / "report.md").read_text()
    assert "| boom |" in report and "| failed |" in report and "`collapsim reproduce ainex --quick`" in report
    # running again into the same folder replaces it (it is a reproduce folder collapsim wrote)
    monkeypatch.undo()
    assert CliRunner().invoke(main, ["reproduce", "ainex", "--out", str(out)]).exit_code == 0
    assert [c["name"] for c in json.loads((out / "claims.json").read_text())["claims"]] == ["ainex"]


def test_nothing_half_written_when_writing_fails(tmp_path, monkeypatch):
    from collapsim.claims import report

    def broken(rows, meta):
        raise OSError("disk full")

    monkeypatch.setattr(report, "markdown", broken)
    out = tmp_path / "rep"
    with pytest.raises(OSError):
        report.reproduce([ainex.CLAIM], True, report.check_out(out))
    assert list(tmp_path.iterdir()) == []


def test_a_figure_is_written_per_claim_with_one(tmp_path):
    from collapsim.claims import report

    fig = Claim("drawn", "c", "s", "t", "f", "q", "r", lambda q: 1,
                lambda q, tick: Result(1.0, 0.1, REPRODUCED, "ok", "cmd", lambda p: _draw(p)))
    path, rows = report.reproduce([fig], True, report.check_out(tmp_path / "rep"))
    assert rows[0]["figure"] == "drawn.png" and (path / "drawn.png").stat().st_size > 1000
    assert "![drawn](drawn.png)" in (path / "report.md").read_text()


def _draw(path):
    from collapsim.claims.base import new_figure, save

    fig = new_figure()
    fig.add_subplot().plot([0, 1], [1, 0])
    save(fig, path)


@pytest.mark.slow
def test_all_quick_end_to_end(tmp_path):
    # 347 s in-process on the shared 2-core machine (load average 4-6), 8 December 2026: slow set only.
    out = tmp_path / "rep"
    res = CliRunner().invoke(main, ["reproduce", "--all", "--quick", "--out", str(out)])
    assert res.exit_code == 0, res.output
    data = json.loads((out / "claims.json").read_text())
    assert [c["name"] for c in data["claims"]] == [c.name for c in claims()]
    assert all(c["verdict"] in (REPRODUCED, NOT_COMPARABLE) for c in data["claims"]), data["claims"]
    for c in data["claims"]:
        if c["figure"]:
            assert (out / c["figure"]).stat().st_size > 5000
