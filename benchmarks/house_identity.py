"""Byte identity of metrics.csv across a restructuring: record the tables of a fixed list of runs and sweeps
at one commit, compare them at another, on the same machine.

The list covers every family, every data policy, both drivers, a decoded categorical chain, a sparse
``--metrics-every`` run, a ``run --config`` re-run, sweeps (a grid and a time to collapse) and a GPT-2
``--preset micro`` loop, each small enough that the whole list runs in minutes on a CPU.

    git checkout OLD && python benchmarks/house_identity.py record /tmp/before.json
    git checkout NEW && python benchmarks/house_identity.py compare /tmp/before.json

``compare`` prints one line per case and exits 1 if any metrics.csv differs by a byte (or a case fails).
Each command runs as ``python -m collapsim`` in a fresh temporary folder, so the code under test is the
checkout's (installed editable) and no earlier run folder is reused.
"""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

SMALL = ["--generations", "6", "--seeds", "64", "--seed", "3"]

#: (name, arguments after ``collapsim``); ``{out}`` is the case's run folder. A case whose arguments start
#: with "@NAME" re-runs case NAME's config.json.
CASES = [
    ("gaussian-replace", ["run", "gaussian", "--samples", "20", *SMALL]),
    ("gaussian-mix-schedule", ["run", "gaussian", "--policy", "mix", "--alpha", "0.5/t^0.7", *SMALL]),
    ("gaussian-keep-real", ["run", "gaussian", "--policy", "keep-real", "--alpha", "0.2", "--samples", "20", *SMALL]),
    ("gaussian-accumulate", ["run", "gaussian", "--policy", "accumulate", "--samples", "10", *SMALL]),
    ("gaussian-accumulate-subsample", ["run", "gaussian", "--policy", "accumulate-subsample", "--samples", "10", *SMALL]),
    ("gaussian-d3-full-mle", ["run", "gaussian", "--dim", "3", "--ddof", "0", "--samples", "10", *SMALL]),
    ("gaussian-d3-explicit", ["run", "gaussian", "--dim", "3", "--samples", "10", "--method", "explicit", *SMALL]),
    ("gaussian-isotropic-mix", ["run", "gaussian", "--dim", "4", "--covariance", "isotropic", "--policy", "mix", *SMALL]),
    ("gaussian-host", ["run", "gaussian", "--driver", "host", "--samples", "20", *SMALL]),
    ("gaussian-metrics-every", ["run", "gaussian", "--dim", "4", "--samples", "12", "--metrics-every", "4", *SMALL]),
    ("gaussian-float64", ["run", "gaussian", "--dim", "3", "--samples", "10", "--precision", "float64", *SMALL]),
    ("gaussian-rerun", ["@gaussian-metrics-every"]),
    ("categorical-replace", ["run", "categorical", "--vocab", "30", "--samples", "50", *SMALL]),
    ("categorical-decoded-mix", ["run", "categorical", "--vocab", "30", "--samples", "50", "--policy", "mix",
                                 "--temperature", "0.7", "--top-k", "10", "--top-p", "0.9", *SMALL]),
    ("categorical-accumulate", ["run", "categorical", "--vocab", "20", "--samples", "20", "--policy", "accumulate",
                                *SMALL]),
    ("categorical-host", ["run", "categorical", "--vocab", "20", "--samples", "20", "--driver", "host", *SMALL]),
    ("regression-replace", ["run", "regression", *SMALL]),
    ("regression-mix", ["run", "regression", "--policy", "mix", *SMALL]),
    ("kde-replace", ["run", "kde", *SMALL]),
    ("kde-keep-real", ["run", "kde", "--policy", "keep-real", *SMALL]),
    ("gmm-replace", ["run", "gmm", "--generations", "3", "--seeds", "8"]),
    ("sweep-categorical-alpha", ["sweep", "categorical", "--vocab", "20", "--samples", "30", "--grid",
                                 "alpha=0,0.1,0.3", *SMALL]),
    ("sweep-gaussian-samples", ["sweep", "gaussian", "--grid", "samples=5,10", *SMALL]),
    ("sweep-until-collapse", ["sweep", "categorical", "--vocab", "5", "--samples", "10", "--until-collapse",
                              "--seeds", "32", "--grid", "alpha=0"]),
    ("gpt2-micro", ["run", "gpt2", "--preset", "micro", "--generations", "2"]),
]


def _run_case(args: list, folder: Path, done: dict) -> tuple[str, float]:
    """sha256 of the case's metrics.csv and the seconds it took; raises RuntimeError if the command fails."""
    out = folder / "out"
    if args[0].startswith("@"):
        args = ["run", "--config", str(done[args[0][1:]] / "config.json")]
    cmd = [sys.executable, "-m", "collapsim", *args, "--out", str(out)]
    t0 = time.perf_counter()
    res = subprocess.run(cmd, cwd=folder, capture_output=True, text=True)
    seconds = time.perf_counter() - t0
    if res.returncode != 0:
        raise RuntimeError((res.stderr or res.stdout).strip().splitlines()[-1] if (res.stderr or res.stdout) else
                           f"exit {res.returncode}")
    return hashlib.sha256((out / "metrics.csv").read_bytes()).hexdigest(), seconds


def run_all(names=None) -> dict:
    """name -> {"sha256": ..., "seconds": ...} or {"error": ...}, for every case (or those in ``names``)."""
    results, done = {}, {}
    wanted = set(names or ())
    wanted |= {args[0][1:] for name, args in CASES if name in wanted and args[0].startswith("@")}  # re-runs' sources
    with tempfile.TemporaryDirectory(prefix="house-identity-") as tmp:
        for name, args in CASES:
            if wanted and name not in wanted:
                continue
            folder = Path(tmp) / name
            folder.mkdir()
            try:
                digest, seconds = _run_case(args, folder, done)
                results[name] = {"sha256": digest, "seconds": round(seconds, 1)}
                done[name] = folder / "out"
            except RuntimeError as err:
                results[name] = {"error": str(err)}
            print(f"{name:<32} {results[name].get('sha256', results[name].get('error'))[:64]}", file=sys.stderr)
    return results


def main(argv: list) -> int:
    if len(argv) < 2 or argv[0] not in ("record", "compare"):
        print(__doc__.strip().splitlines()[0] + "\nusage: house_identity.py record|compare FILE.json [CASE ...]",
              file=sys.stderr)
        return 2
    mode, path, names = argv[0], Path(argv[1]), set(argv[2:])
    if mode == "record":
        results = run_all(names)
        path.write_text(json.dumps(results, indent=2) + "\n")
        return 1 if any("error" in r for r in results.values()) else 0
    before = json.loads(path.read_text())
    after = run_all(names or None)
    bad = 0
    for name, new in after.items():
        old = before.get(name)
        same = old is not None and "sha256" in new and old.get("sha256") == new["sha256"]
        bad += not same
        print(f"{'same ' if same else 'DIFF '} {name}" + ("" if same else f": before {old}, after {new}"))
    print(f"{len(after) - bad} of {len(after)} metrics.csv byte-identical")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
