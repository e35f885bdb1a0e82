"""collapsim bench sweep: the measurement runs the sweep and the per-point runs on the same work and reports
chain-generations per second (no timing is asserted: the machine is shared)."""

from collapsim.commands.bench import sweep as bs


def test_measure_times_the_same_work_both_ways():
    r = bs.measure(points=2, seeds=20, generations=3)
    assert r["chain_generations"] == 2 * 20 * 3
    assert r["sweep_s"] > 0 and r["per_point_s"] > 0
    assert abs(r["sweep_rate"] - 120 / r["sweep_s"]) < 1e-6 * r["sweep_rate"]
    text = bs.format_report({"cores": 1, "one_device": r})
    assert "chain-generations/s" in text and "one collapsim run per point" in text


def test_grid_sweep_spans_alpha_from_zero_to_a_half():
    sweep = bs.grid_sweep(5, 10, 4)
    assert [a["alpha"] for a in sweep.assignments()] == [0.0, 0.125, 0.25, 0.375, 0.5]
