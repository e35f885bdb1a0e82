"""``collapsim bench sweep``: throughput of a sweep in chain-generations per second, on one and on all host
devices (and on a GPU when JAX sees one), beside the same grid run as one ``collapsim run`` per grid point.

The work: the categorical family (K = 50, Zipf(1) truth, policy mix) over a grid of alpha values x chains x
generations. Timed after a warm-up run of the same shapes (compilation reported apart):

- sweep: :func:`collapsim.sweeps.run.run_sweep` (grid points stacked and flattened with the chains, run in chunks
  by ``engine.run_grid``, each chunk's summaries written to disk) in a fresh folder;
- per point: the same grid points one after another through :func:`collapsim.runs.execute.simulate`, which is
  what ``collapsim run`` does for one point (its theory and folder writing left out on both sides).

A device count is fixed when JAX starts, so each layout runs in its own subprocess
(``--xla_force_host_platform_device_count``). Ratios from one run only: the machine is noisy.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import click


def grid_sweep(points: int, seeds: int, generations: int, vocab: int = 50, samples: int = 100, seed: int = 0):
    """The benchmark's sweep: ``points`` alpha values in [0, 0.5] for the categorical family under mix."""
    import numpy as np

    from collapsim.runs.spec import RunSpec
    from collapsim.sweeps.spec import Axis, SweepSpec

    base = RunSpec("categorical", {"vocab": vocab}, {}, "mix", None, samples, generations, seeds, seed)
    alphas = tuple(float(a) for a in np.round(np.linspace(0.0, 0.5, points), 6))
    return SweepSpec(base, (Axis("alpha", alphas),), "final:entropy")


def time_sweep(sweep) -> float:
    """Seconds for :func:`collapsim.sweeps.run.run_sweep` of ``sweep`` into a fresh temporary folder."""
    from collapsim.sweeps.run import run_sweep

    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        run_sweep(sweep, Path(tmp) / "s", progress=False)
        return time.perf_counter() - t0


def time_per_point(sweep) -> float:
    """Seconds for the same grid run as one ``collapsim run`` simulation per point."""
    from collapsim.runs.execute import resolve, simulate

    resolved = [resolve(sweep.point_spec(a)) for a in sweep.assignments()]
    t0 = time.perf_counter()
    for spec, _, loop in resolved:
        simulate(spec, loop)
    return time.perf_counter() - t0


def measure(points: int, seeds: int, generations: int, per_point: bool = True) -> dict:
    """In this process: warm-up, then timed sweep (and per-point runs); chain-generations per second."""
    import jax

    sweep = grid_sweep(points, seeds, generations)
    t0 = time.perf_counter()
    time_sweep(sweep)
    warm = time.perf_counter() - t0
    sweep_s = time_sweep(sweep)
    out = {"backend": jax.default_backend(), "devices": len(jax.local_devices()), "points": points, "seeds": seeds,
           "generations": generations, "chain_generations": points * seeds * generations, "sweep_s": sweep_s,
           "warmup_s": warm, "sweep_rate": points * seeds * generations / sweep_s}
    if per_point:
        time_per_point(sweep)  # compile the single-point programs too
        out["per_point_s"] = time_per_point(sweep)
        out["per_point_over_sweep"] = out["per_point_s"] / sweep_s
    return out


def in_subprocess(devices: int | None, args: list, platform: str = "cpu") -> dict:
    """:func:`measure` in a fresh Python with ``devices`` host devices (None: the platform's own)."""
    env = dict(os.environ, JAX_PLATFORMS=platform)
    if devices:
        env["XLA_FLAGS"] = f"--xla_force_host_platform_device_count={devices}"
    code = ("import json, sys; from collapsim.commands.bench.sweep import measure; "
            f"print('RESULT' + json.dumps(measure(*{args!r})))")
    res = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    if res.returncode != 0:
        raise click.ClickException(f"benchmark subprocess failed: {res.stderr.strip().splitlines()[-1:]}")
    line = next(ln for ln in res.stdout.splitlines() if ln.startswith("RESULT"))
    return json.loads(line[len("RESULT"):])


def gpu_present() -> bool:
    """Whether JAX can see a GPU (asked in a subprocess, so this process keeps its CPU layout)."""
    code = "import jax; print(any(d.platform == 'gpu' for d in jax.devices()))"
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=dict(os.environ, JAX_PLATFORMS=""))
    return res.returncode == 0 and res.stdout.strip().endswith("True")


def run_bench(points: int, seeds: int, generations: int, say=lambda s: None) -> dict:
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    args = [points, seeds, generations]
    say(f"1 host device: {points} points x {seeds} chains x {generations} generations")
    report = {"cores": cores, "one_device": in_subprocess(1, args)}
    if cores > 1:
        say(f"{cores} host devices")
        report["all_devices"] = in_subprocess(cores, args + [False])
        report["all_over_one"] = report["one_device"]["sweep_s"] / report["all_devices"]["sweep_s"]
    if gpu_present():
        say("GPU")
        report["gpu"] = in_subprocess(None, args + [False], platform="cuda")
    return report


def format_report(r: dict) -> str:
    one = r["one_device"]
    lines = [f"work: categorical K=50, n=100, mix, {one['points']} alpha values x {one['seeds']} chains x "
             f"{one['generations']} generations = {one['chain_generations']:.3g} chain-generations",
             f"  sweep, 1 host device        {one['sweep_s']:8.3f} s  {one['sweep_rate']:10.4g} chain-generations/s "
             f"(warm-up with compilation {one['warmup_s']:.2f} s)",
             f"  one collapsim run per point {one['per_point_s']:8.3f} s  (per point / sweep = {one['per_point_over_sweep']:.2f}x)"]
    if "all_devices" in r:
        a = r["all_devices"]
        lines.append(f"  sweep, {a['devices']} host devices       {a['sweep_s']:8.3f} s  {a['sweep_rate']:10.4g} "
                     f"chain-generations/s ({r['all_over_one']:.2f}x of 1 device)")
    if "gpu" in r:
        g = r["gpu"]
        lines.append(f"  sweep, GPU                  {g['sweep_s']:8.3f} s  {g['sweep_rate']:10.4g} chain-generations/s")
    else:
        lines.append("  (no GPU visible to JAX: no GPU figure)")
    return "\n".join(lines)


@click.command()
@click.option("--points", type=click.IntRange(1), default=8, show_default=True, help="Grid points (alpha values).")
@click.option("--seeds", type=click.IntRange(2), default=2000, show_default=True, help="Chains per point.")
@click.option("--generations", type=click.IntRange(1), default=100, show_default=True)
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object instead of the table.")
def bench_sweep_cmd(points, seeds, generations, as_json):
    """Sweep throughput on 1 and all host devices (and a GPU), against one collapsim run per grid point."""
    from collapsim.memory import check_fits

    check_fits(float(points) * seeds * (generations + 1) * 16 * 8 * 3, f"--points {points} x --seeds {seeds}")
    report = run_bench(points, seeds, generations, say=lambda s: click.echo(f"... {s}", err=True))
    click.echo(json.dumps(report) if as_json else format_report(report))


if __name__ == "__main__":  # pragma: no cover
    bench_sweep_cmd(sys.argv[1:])
