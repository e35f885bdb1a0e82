"""How a sweep's cost grows with grid size, chains and generations (it should be linear), and what it saves
over one ``collapsim run`` per grid point; then ``collapsim bench sweep``'s device comparison.

For each of the three sizes, the work is doubled twice from a base (8 alpha points x 500 chains x 50
generations of the categorical family, K = 50, n = 100, mix) with the other two held; each size is timed
after a warm-up of the same shapes (compilation excluded), and the slope of log(time) against log(size) is
fitted by least squares: 1 means linear. Then the base grid is timed as a sweep and as one run per point,
in this process (simulation only, compiled) and as commands (one ``collapsim sweep`` against one
``collapsim run`` process per point, everything included).

    python benchmarks/bench_sweep.py [--quick] [--json]
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import time

import click
import numpy as np


def cli_comparison(points: int, seeds: int, generations: int) -> dict:
    """Wall time of the grid as one ``collapsim sweep`` command and as one ``collapsim run`` command per point
    (each a fresh process: start-up, compilation, theory and writing included on both sides)."""
    from collapsim.commands.bench.sweep import grid_sweep

    sweep = grid_sweep(points, seeds, generations)
    common = ["--vocab", "50", "--samples", "100", "--seeds", str(seeds), "--generations", str(generations)]
    alphas = [a["alpha"] for a in sweep.assignments()]
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        subprocess.run([sys.executable, "-m", "collapsim", "sweep", "categorical", "--grid",
                        "alpha=" + ",".join(repr(a) for a in alphas), *common, "--out", f"{tmp}/s"],
                       check=True, capture_output=True)
        sweep_s = time.perf_counter() - t0
        t0 = time.perf_counter()
        for i, a in enumerate(alphas):
            subprocess.run([sys.executable, "-m", "collapsim", "run", "categorical", "--policy", "mix", "--alpha", repr(a),
                            *common, "--out", f"{tmp}/r{i}"], check=True, capture_output=True)
        runs_s = time.perf_counter() - t0
    return {"sweep_command_s": sweep_s, "run_commands_s": runs_s, "runs_over_sweep": runs_s / sweep_s}


@click.command()
@click.option("--quick", is_flag=True, help="A smaller base (4 points x 250 chains x 25 generations).")
@click.option("--json", "as_json", is_flag=True)
@click.option("--no-devices", is_flag=True, help="Skip the 1-vs-all-devices comparison (subprocesses).")
def main(quick, as_json, no_devices):
    from collapsim.commands.options import use_all_cores

    use_all_cores()
    from collapsim.commands.bench import sweep as bs

    base = {"points": 4, "seeds": 250, "generations": 25} if quick else {"points": 8, "seeds": 500, "generations": 50}
    report = {"base": base, "scaling": {}}
    for name in base:
        sizes, times = [], []
        for factor in (1, 2, 4):
            work = dict(base, **{name: base[name] * factor})
            sweep = bs.grid_sweep(work["points"], work["seeds"], work["generations"])
            bs.time_sweep(sweep)  # warm-up: compile these shapes
            t = min(bs.time_sweep(sweep) for _ in range(2))
            sizes.append(work[name])
            times.append(t)
            click.echo(f"... {name}={work[name]}: {t:.3f} s", err=True)
        slope = float(np.polyfit(np.log(sizes), np.log(times), 1)[0])
        report["scaling"][name] = {"sizes": sizes, "seconds": times, "slope": slope}
    sweep = bs.grid_sweep(**base)
    bs.time_per_point(sweep)
    report["sweep_s"] = min(bs.time_sweep(sweep) for _ in range(2))
    report["per_point_s"] = min(bs.time_per_point(sweep) for _ in range(2))
    report["cli"] = cli_comparison(base["points"], base["seeds"], base["generations"])
    if not no_devices:
        report["devices"] = bs.run_bench(base["points"], base["seeds"], base["generations"],
                                         say=lambda s: click.echo(f"... {s}", err=True))
    if as_json:
        click.echo(json.dumps(report))
        return
    for name, s in report["scaling"].items():
        pairs = ", ".join(f"{n}: {t:.3f} s" for n, t in zip(s["sizes"], s["seconds"]))
        click.echo(f"{name:<12} {pairs}   fitted slope of log time on log size: {s['slope']:.2f} (1 = linear)")
    click.echo(f"base grid {base}: sweep {report['sweep_s']:.3f} s, one collapsim run per point "
               f"{report['per_point_s']:.3f} s ({report['per_point_s'] / report['sweep_s']:.2f}x)")
    c = report["cli"]
    click.echo(f"as commands: one collapsim sweep {c['sweep_command_s']:.2f} s, one collapsim run per point "
               f"{c['run_commands_s']:.2f} s ({c['runs_over_sweep']:.2f}x)")
    if "devices" in report:
        click.echo(bs.format_report(report["devices"]))


if __name__ == "__main__":
    main(sys.argv[1:])
