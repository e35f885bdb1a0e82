"""The calibrated forecast with one n_eff against one n_eff per frequency band, offline on saved GPT-2 runs.

For each run folder (written by ``collapsim run gpt2 ... --seeds 8``; its config.json holds the LM's mean
and seed SE per generation under "forecast"), rebuild the run's spec, read the cached calibration (run once
if missing: 16 fine-tunes, ~100-300 s of CPU), and compute the forecast from the calibration alone with
``bands`` = 0 (the scalar n_eff of eq. C2), with per-band n_eff (eq. C4) and (``--relative``) with the
relative noise x_i (1 - x_i) / n_eff + c x_i^2 (eqs. L2m, C5). No loop is re-run: the LM side
is the saved means and SEs. Prints the per-band n_eff with its jackknife SE, and per metric the forecast
error in combined SE (sqrt(seed SE^2 + calibration SE^2)) at a few generations and its largest |value|.

    python experiments/forecast_bands.py /work/runs/gpt2-mix02-8 /work/runs/gpt2-replace-8 [--bands 0 3 5] [--relative]

Ends with a summary table: per run and forecast, the largest |error| in combined SE over generations 1..T for
entropy / Gini-Simpson / support / tail mass.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np


def spec_of(folder: Path):
    """(spec, loop) of a saved gpt2 run, rebuilt the way ``collapsim predict gpt2`` builds its own."""
    from collapsim.runs.execute import resolve
    from collapsim.runs.spec import RunSpec

    c = json.loads((folder / "config.json").read_text())
    spec, _, loop = resolve(RunSpec("gpt2", dict(c["family_options"]), {}, c["policy"], c["alpha"], c["samples"],
                                    c["generations"], 2, 0, driver="host"))
    return spec, loop, c["forecast"]["per_generation"]


def errors(fc: dict, saved: dict) -> dict:
    """metric -> (T + 1,) (LM mean - forecast) / combined SE, the LM side from the saved run."""
    from collapsim.theory import calibration as C

    return {k: C.forecast_error(saved[k]["lm_mean"], saved[k]["seed_se"], fc["forecast"][k], fc["se"][k])
            for k in fc["forecast"]}


def main() -> None:
    from collapsim.families.llm import loop as LP

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("runs", nargs="+", type=Path)
    ap.add_argument("--bands", type=int, nargs="+", default=[0, 3, 5])
    ap.add_argument("--relative", action="store_true", help="add the relative-noise forecast (eq. L2m)")
    args = ap.parse_args()
    models = [(f"bands={b}", {"bands": b}) for b in args.bands]
    if args.relative:
        models.append(("relative", {"noise": "relative"}))
    table = {}
    for folder in args.runs:
        spec, loop, saved = spec_of(folder)
        T = spec.generations
        gens = [1, 3, 5, 10, T]
        print(f"\n== {folder.name}: {spec.policy} alpha={spec.alpha}, {T} generations")
        for name, kw in models:
            fc = LP.forecast(spec, loop, quiet=True, **kw)
            b = kw.get("bands", 0)
            if "relative_noise" in fc["calibration"]:
                j = fc["calibration"]["relative_noise"]
                print(f"relative: rho {j['rho']:.3g} +- {j['rho_se']:.2g} (n_eff {j['n_eff'] or float('inf'):.4g}), "
                      f"c {j['c']:.3g} +- {j['c_se']:.2g}")
            elif b:
                j = fc["calibration"]["bands"]
                print(f"bands={b}: n_eff " + ", ".join(
                    f"{n:.4g} +- {s:.2g}" if n is not None else "inf" for n, s in zip(j["n_eff"], j["n_eff_se"]))
                      + f"  (mass {', '.join(f'{m:.3g}' for m in j['mass'])})")
            else:
                print(f"bands=0: n_eff {fc['calibration']['n_eff']:.4g} +- {fc['calibration']['n_eff_se']:.2g}")
            z = errors(fc, saved)
            for k, v in z.items():
                cells = " ".join(f"g{g}:{saved[k]['lm_mean'][g]:.4g}/{fc['forecast'][k][g]:.4g}[{v[g]:+.1f}]"
                                 for g in gens)
                print(f"  {k:16s} max|z| {np.nanmax(np.abs(v[1:])):5.2f}  {cells}")
            table.setdefault(folder.name, {})[name] = " / ".join(f"{np.nanmax(np.abs(v[1:])):.1f}" for v in z.values())
    names = [n for n, _ in models]
    print("\n| run | " + " | ".join(names) + " |\n|---|" + "---|" * len(names))
    for run, row in table.items():
        print(f"| {run} | " + " | ".join(row[n] for n in names) + " |")


if __name__ == "__main__":
    main()
