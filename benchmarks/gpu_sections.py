"""The sections of ``benchmarks/gpu.sh``: each runs in its own process under the script's hard timeout and
writes its own JSON file, rewritten after every finished piece of work, so a section killed at its limit
still leaves what it measured; ``merge`` puts the section files into the one results file.

    python benchmarks/gpu_sections.py info     --json F
    python benchmarks/gpu_sections.py sweep    --json F --family gaussian --share 45 [--smoke]
    python benchmarks/gpu_sections.py devices  --json F --host-devices 4 [--smoke]
    python benchmarks/gpu_sections.py gpt2     --json F [--smoke]
    python benchmarks/gpu_sections.py merge    --json RESULTS --work DIR --budget S --mode gpu|smoke

Why sections are processes: a device count is fixed when JAX starts, a GPU is held by one process at a time
(JAX reserves most of its memory), and ``timeout`` can end a process that hangs in compiled code, which no
in-process timer can.
"""

from __future__ import annotations

import argparse
import itertools
import json
import math
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

# ------------------------------------------------------------------------------------------ shared


class Section:
    """A section's results dict, written to ``path`` (through a temporary file and a rename, so a kill
    during the write leaves the previous whole file) every time :meth:`save` is called."""

    def __init__(self, path: str, name: str):
        self.path, self.data, self.t0 = Path(path), {"section": name, "complete": False}, time.perf_counter()

    def save(self, **fields) -> None:
        self.data.update(fields)
        self.data["section_seconds"] = round(time.perf_counter() - self.t0, 3)
        tmp = self.path.with_name(self.path.name + ".tmp")
        tmp.write_text(json.dumps(self.data, indent=1, default=_plain) + "\n")
        os.replace(tmp, self.path)


def _plain(x):
    """JSON for NumPy scalars and arrays."""
    import numpy as np

    if isinstance(x, np.generic):
        return x.item()
    if isinstance(x, np.ndarray):
        return x.tolist()
    return str(x)


def _finite_means(per_chain: dict, recorded: dict) -> dict:
    """metric -> mean over chains of its last recorded generation (a sanity figure; NaN where never recorded).

    per_chain: metric -> (chains, T + 1) or (G, chains, T + 1); recorded: metric -> bool (T + 1,) or absent."""
    import numpy as np

    out = {}
    for name, v in per_chain.items():
        rows = np.asarray(v).reshape(-1, np.shape(v)[-1])
        cols = np.flatnonzero(np.asarray(recorded.get(name, np.ones(rows.shape[1], bool))))
        out[name] = float(rows[:, cols[-1]].mean())
    return out


# ------------------------------------------------------------------------------------------ info


def nvidia_smi() -> list:
    """One dict per GPU from ``nvidia-smi`` (empty when there is none or the tool is missing)."""
    try:
        res = subprocess.run(["nvidia-smi", "--query-gpu=name,memory.total,driver_version", "--format=csv,noheader"],
                             capture_output=True, text=True, check=False, timeout=20)
    except (OSError, subprocess.SubprocessError):
        return []
    if res.returncode != 0:
        return []
    return [dict(zip(("name", "memory", "driver"), (f.strip() for f in line.split(","))))
            for line in res.stdout.splitlines() if line.strip()]


def git_commit() -> str:
    try:
        res = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True, check=False, timeout=10)
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], capture_output=True,
                               text=True, check=False, timeout=10).stdout.strip()
        return res.stdout.strip() + (" (with uncommitted changes)" if dirty else "") if res.returncode == 0 else "unknown"
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def section_info(args) -> None:
    sec = Section(args.json, "info")
    # what is known without JAX first, so a backend that hangs at start still leaves the machine named
    sec.save(nvidia_smi=nvidia_smi(), python=platform.python_version(), machine=platform.platform(),
             cpu_count=os.cpu_count(), load_average=list(os.getloadavg()), git_commit=git_commit(),
             env={k: os.environ[k] for k in ("JAX_PLATFORMS", "XLA_FLAGS", "CUDA_VISIBLE_DEVICES", "COLLAPSIM_CACHE",
                                              "JAX_COMPILATION_CACHE_DIR", "XLA_PYTHON_CLIENT_PREALLOCATE")
                  if k in os.environ})
    import jax

    t0 = time.perf_counter()
    devices = jax.devices()
    sec.save(jax_version=jax.__version__, jaxlib_version=getattr(jax.lib, "__version__", None) or _jaxlib_version(),
             backend=jax.default_backend(), devices=[str(d) for d in devices],
             device_kinds=sorted({d.device_kind for d in devices}), device_count=len(devices),
             backend_start_s=round(time.perf_counter() - t0, 3), complete=True)


def _jaxlib_version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("jaxlib")
    except PackageNotFoundError:
        return "unknown"


# ------------------------------------------------------------------------------------------ sweep throughput

#: Per family: its static options and n for the full (GPU) run and for --smoke. Gaussian: the peers' cell
#: (d = 10, n = 100, full covariance, MLE); categorical: ``collapsim bench sweep``'s (K = 50, n = 100); GMM:
#: the Shumailov setting (2 components, d = 2, n = 1000). Every sweep is 2 values of alpha under ``mix``.
SWEEP_FAMILIES = {
    "gaussian": ({"dim": 10, "covariance": "full", "ddof": 0}, 100, {"dim": 2, "covariance": "full", "ddof": 0}, 10),
    "categorical": ({"vocab": 50}, 100, {"vocab": 10}, 20),
    "gmm": ({}, 1000, {"holdout": 20, "max_iter": 5}, 20),
}
SWEEP_ALPHAS = (0.1, 0.3)
#: Chains in all (both points). 10^4 first: a rate even where 10^5 would not fit a section's share.
FULL_SIZES, FULL_GENERATIONS = (10_000, 100_000, 300_000, 1_000_000), 20
#: Two sizes whose calls have one shape on a CPU (256 chains: the engine's default_chunk), so the second
#: compiles nothing and the smoke run pays one compilation per family.
SMOKE_SIZES, SMOKE_GENERATIONS = (1024, 2048), 3


def sweep_spec(family: str, smoke: bool, chains: int):
    """The family's benchmark sweep: SWEEP_ALPHAS under ``mix``, ``chains // 2`` chains each."""
    from collapsim.runs.spec import RunSpec
    from collapsim.sweeps.run import default_summary
    from collapsim.sweeps.spec import Axis, SweepSpec

    full_opts, full_n, smoke_opts, smoke_n = SWEEP_FAMILIES[family]
    opts, n = (smoke_opts, smoke_n) if smoke else (full_opts, full_n)
    gens = SMOKE_GENERATIONS if smoke else FULL_GENERATIONS
    base = RunSpec(family, opts, {}, "mix", None, n, gens, chains // len(SWEEP_ALPHAS), 0)
    sweep = SweepSpec(base, (Axis("alpha", SWEEP_ALPHAS),))
    return SweepSpec(base, sweep.axes, default_summary(sweep))


def timed_sweep(sweep) -> tuple[float, dict]:
    """(seconds, run_sweep's result) of the whole sweep into a fresh folder (a used one would be resumed)."""
    from collapsim.sweeps.run import run_sweep

    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        res = run_sweep(sweep, Path(tmp) / "s", progress=False)
        return time.perf_counter() - t0, res


def call_shape(sweep) -> tuple[int, int]:
    """(grid points, chains) of each compiled call of ``sweep``, as ``run_sweep`` and ``run_chunk`` will pick
    them (memory-bounded calls on an accelerator, the engine's cache-sized ones on a CPU): a size whose shape
    was run before compiles nothing."""
    import jax

    from collapsim.memory import available_bytes
    from collapsim.sweeps.plan import call_chunk, make_chunks, plan

    groups, available = plan(sweep), available_bytes()
    chunks = make_chunks(groups, sweep.base.seeds, available)
    chains = len(chunks[0].points) * sweep.base.seeds
    call = call_chunk(groups[0], chains, available, jax.default_backend() != "cpu")
    return len(chunks[0].points), min(call or chains, chains)


def _final_means(res: dict) -> dict:
    """metric -> mean over the sweep's points of the chains' mean at the last generation (a sanity figure)."""
    import numpy as np

    sums = {}
    for arrays in res["results"]:
        for k, m in enumerate(arrays["metrics"]):
            sums.setdefault(str(m), []).extend(arrays["mean"][:, k, -1].tolist())
    return {m: float(np.mean(v)) for m, v in sums.items()}


def section_sweep(args) -> None:
    """Chain-generations per second of ``collapsim sweep``'s engine (``sweeps.run.run_sweep``: chunks, calls
    of the size it picks for this backend, summaries, chunk files; not the table and figure) at growing
    chain counts. Each size runs twice in fresh folders: the first run compiles any new call shape (what a
    user waits for), the second is the throughput. A size is tried only if the last one's two runs, scaled by
    the chain ratio (and the first size's compilation if its call shape is new, :func:`call_shape`), fit what
    is left of ``--share`` seconds, counted from the end of the first compiling run."""
    sec = Section(args.json, f"sweep_{args.family}")
    sizes = SMOKE_SIZES if args.smoke else FULL_SIZES
    probe = sweep_spec(args.family, args.smoke, sizes[0])
    sec.save(family=args.family, options=dict(probe.base.family_options), samples=probe.base.samples,
             generations=probe.base.generations, policy="mix", alphas=list(SWEEP_ALPHAS), share_s=args.share, runs=[])
    t_start, runs, shapes, stopped = None, [], set(), "every size ran"
    for chains in sizes:
        sweep = sweep_spec(args.family, args.smoke, chains)
        shape = call_shape(sweep)
        if runs:
            left = args.share - (time.perf_counter() - t_start)
            guess = 2 * runs[-1]["seconds"] * chains / runs[-1]["chains"] + (runs[0]["compile_s"] if shape not in shapes else 0)
            if guess > left:
                stopped = (f"stopped before {chains} chains: about {guess:.1f} s needed, {left:.1f} s of the "
                           f"{args.share:.0f} s share left")
                break
        first, _ = timed_sweep(sweep)
        t_start = t_start or time.perf_counter()
        seconds, res = timed_sweep(sweep)
        shapes.add(shape)
        total = sweep.base.seeds * len(SWEEP_ALPHAS)
        runs.append({"chains": total, "first_s": round(first, 4), "seconds": round(seconds, 4),
                     "compile_s": round(max(first - seconds, 0.0), 4), "call_shape": list(shape),
                     "chunks": len(res["chunks"]), "chain_generations_per_s": total * sweep.base.generations / seconds,
                     "final_means": _final_means(res)})
        sec.save(runs=runs)
    sec.save(stopped=stopped, compile_s=runs[0]["compile_s"],
             best_chain_generations_per_s=max(r["chain_generations_per_s"] for r in runs), complete=True)


# ------------------------------------------------------------------------------------------ 1 == N devices

#: The cases of tests/test_devices.py that run by default and cheaply: the Gaussian explicit path at d = 1
#: (the one that once differed by 1e-5 between 1 and 2 devices) and the categorical family under mix.
DEVICE_CASES = {
    "gaussian-d1-mix-explicit": ("gaussian", {"dim": 1}, 20, "explicit"),
    "categorical-mix": ("categorical", {"vocab": 12}, 20, "auto"),
}


def device_run(out: str, chains: int, generations: int, cases: tuple) -> None:
    """In this process (its device layout set by the caller's environment): the named DEVICE_CASES run
    through ``simulate`` (what ``collapsim run`` does), the per-chain metrics saved to ``out`` (.npz)."""
    import jax
    import numpy as np

    from collapsim.runs.execute import resolve, simulate
    from collapsim.runs.spec import RunSpec

    arrays = {}
    for case in cases:
        family, opts, n, method = DEVICE_CASES[case]
        spec, _, loop = resolve(RunSpec(family, opts, {}, "mix", "0.3", n, generations, chains, 0, method=method))
        for m, v in simulate(spec, loop).items():
            arrays[f"{case}/{m}"] = v
    np.savez(out, devices=len(jax.local_devices()), backend=jax.default_backend(), **arrays)


def _device_child(tmp: Path, label: str, env: dict, chains: int, generations: int, cases: tuple) -> dict:
    out = tmp / f"{label}.npz"
    code = (f"import sys; sys.path.insert(0, {str(Path(__file__).resolve().parent)!r}); from gpu_sections import device_run; "
            f"device_run({str(out)!r}, {chains}, {generations}, {cases!r})")
    t0 = time.perf_counter()
    res = subprocess.run([sys.executable, "-c", code], env=dict(os.environ, **env), capture_output=True, text=True, check=False)
    if res.returncode != 0:
        raise RuntimeError(f"{label}: {res.stderr.strip().splitlines()[-1:]}")
    import numpy as np

    with np.load(out) as z:
        arrays = {k: z[k] for k in z.files}
    return {"seconds": round(time.perf_counter() - t0, 2), "arrays": arrays}


def _compare(a: dict, b: dict) -> dict:
    """Bitwise equality of the metric arrays of two runs and their largest absolute difference."""
    import numpy as np

    keys = sorted(k for k in a if "/" in k)
    same = keys == sorted(k for k in b if "/" in k) and all(np.array_equal(a[k], b[k], equal_nan=True) for k in keys)
    diff = max((float(np.nanmax(np.abs(a[k].astype(np.float64) - b[k].astype(np.float64)))) for k in keys if k in b),
               default=math.inf)
    return {"identical": bool(same), "max_abs_diff": diff, "arrays_compared": len(keys)}


def section_devices(args) -> None:
    """The same runs on 1 and on N devices give the same numbers, bit for bit.

    Host CPU devices split N ways always (``--xla_force_host_platform_device_count``): a one-GPU machine has
    no second device of its own. With several GPUs, also one GPU against all of them; with any GPU, the
    largest difference between its numbers and the CPU's (float rounding, not required to be 0)."""
    sec = Section(args.json, "devices")
    # 601 chains: several calls, the last one padded. --smoke: the Gaussian case alone (each case is a
    # compilation per device, the bulk of this section's time on a CPU)
    chains, gens = (61, 3) if args.smoke else (601, 6)
    cases = tuple(DEVICE_CASES)[:1] if args.smoke else tuple(DEVICE_CASES)
    n = args.host_devices
    sec.save(cases=list(cases), chains=chains, generations=gens, host_devices=n)
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        cpu = {"JAX_PLATFORMS": "cpu"}
        one = _device_child(tmp, "cpu1", dict(cpu, XLA_FLAGS="--xla_force_host_platform_device_count=1"), chains, gens, cases)
        many = _device_child(tmp, f"cpu{n}", dict(cpu, XLA_FLAGS=f"--xla_force_host_platform_device_count={n}"), chains, gens, cases)
        check = {"devices": [int(one["arrays"]["devices"]), int(many["arrays"]["devices"])], **_compare(one["arrays"], many["arrays"]),
                 "seconds": [one["seconds"], many["seconds"]]}
        sec.save(host_cpu=check, passed=check["identical"] and check["devices"][1] > 1)
        gpus = _gpu_count()
        sec.save(gpus=gpus)
        if gpus >= 1:
            gpu_all = _device_child(tmp, "gpu_all", {"JAX_PLATFORMS": "cuda"}, chains, gens, cases)
            sec.save(gpu_vs_cpu=_compare(gpu_all["arrays"], one["arrays"]))
            if gpus > 1:
                gpu1 = _device_child(tmp, "gpu1", {"JAX_PLATFORMS": "cuda", "CUDA_VISIBLE_DEVICES": "0"}, chains, gens, cases)
                g = {"devices": [1, gpus], **_compare(gpu1["arrays"], gpu_all["arrays"])}
                sec.save(gpu=g, passed=sec.data["passed"] and g["identical"])
            else:
                sec.save(gpu={"devices": [1], "note": "one GPU: N = 1, the 1 == N check ran on host CPU devices"})
    sec.save(complete=True)


def _gpu_count() -> int:
    """GPUs JAX sees, asked in a subprocess so no process holds the GPU while the children run."""
    code = "import jax; print(sum(d.platform == 'gpu' for d in jax.devices()))"
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False,
                         env=dict(os.environ, JAX_PLATFORMS=""))
    try:
        return int(res.stdout.strip().splitlines()[-1]) if res.returncode == 0 else 0
    except (ValueError, IndexError):
        return 0


# ------------------------------------------------------------------------------------------ GPT-2 loop


def section_gpt2(args) -> None:
    """``collapsim run gpt2 --preset small --generations 20``'s simulation, timed generation by generation.

    The preset needs a base model of GPT-2 small's shape pretrained on the built-in known source; it is taken
    from the cache ($COLLAPSIM_CACHE or ~/.cache/collapsim) when there, else pretrained here first by the
    preset's own settings (1,500 steps) and cached, which is what ``collapsim run gpt2`` does on first use.
    The loop then runs as the run command runs it (host driver, a checkpoint file after every generation,
    whose writing is timed apart), without its folder, figure and theory fit. Every step reports into the
    section file, so a section ended by its timeout says how far pretraining or the loop got.
    --smoke: the micro preset with 10 pretraining steps, 2 generations of 8 texts.
    """
    from collapsim.families.llm import loop as L
    from collapsim.families.llm import pretrain as P

    sec = Section(args.json, "gpt2")
    name = "micro" if args.smoke else "small"
    if args.smoke:  # this process only: a base model that takes seconds, cached under its own hash
        L.LOOP_PRESETS[name] = L.LOOP_PRESETS[name]._replace(pretrain_steps=10)
    p = L.LOOP_PRESETS[name]
    gens, samples, seeds = (2, 8, 2) if args.smoke else (20, 128, 2)
    opts = {"preset": name, "eval_texts": 8} if args.smoke else {"preset": name}
    src = L._source(p)
    shape, settings = P.ModelShape(p.n_layer, p.n_embd, p.n_head), L.pretrain_settings(p)
    folder = P.cache_root() / "pretrain" / P.content_hash(src, shape, settings)
    cached = (folder / P.INFO_FILE).is_file()
    sec.save(preset=name, shape=shape._asdict(), generations_asked=gens, samples=samples, seeds=seeds,
             base_model={"origin": "cache" if cached else "pretrained here (the preset's own settings, built-in source)",
                         "steps": settings.steps, "batch": settings.batch, "folder": str(folder)})
    t0 = time.perf_counter()
    if not cached:
        def report(i, n, loss):
            sec.data["base_model"].update(steps_done=i, loss=loss, seconds=round(time.perf_counter() - t0, 2))
            sec.save()
        P.pretrain(src, shape, settings, progress=report)
    info = P.read_info(folder)
    sec.data["base_model"].update(seconds=round(time.perf_counter() - t0, 2), train_seconds=info["seconds"],
                                  heldout_cross_entropy=info["heldout_cross_entropy"],
                                  true_entropy_per_word=info["true_entropy_per_word"])
    sec.save()
    _gpt2_loop(sec, opts, gens, samples, seeds)


def _gpt2_loop(sec: Section, opts: dict, gens: int, samples: int, seeds: int) -> None:
    from collapsim.files.checkpoint import NpzCheckpoint
    from collapsim.runs.execute import recorded, resolve, simulate
    from collapsim.runs.spec import RunSpec

    t0 = time.perf_counter()
    spec, _, loop = resolve(RunSpec("gpt2", opts, {}, "replace", None, samples, gens, seeds, 0, driver="host"))
    ticks, saving = [], [0.0]
    write = NpzCheckpoint.save

    def timed_save(self, generation, arrays):
        # simulate() makes its own NpzCheckpoint; its writes (model and AdamW state of every seed, each
        # generation) are timed by wrapping the class's method in this benchmark process only
        s = time.perf_counter()
        write(self, generation, arrays)
        saving[0] += time.perf_counter() - s

    NpzCheckpoint.save = timed_save

    def progress(t):
        ticks.append(round(time.perf_counter() - t0, 2))
        sec.save(generations_done=t, seconds_at_generation=ticks, checkpoint_write_s=round(saving[0], 2))

    with tempfile.TemporaryDirectory() as tmp:
        sec.save(generations_done=0, build_s=round(time.perf_counter() - t0, 2))
        out = simulate(spec, loop, progress, checkpoint=str(Path(tmp) / "run.checkpoint.npz"))
    per_gen = [b - a for a, b in itertools.pairwise(ticks)]
    sec.save(loop_s=round(time.perf_counter() - t0, 2), first_generation_s=ticks[0] if ticks else None,
             later_generation_s=(sum(per_gen) / len(per_gen)) if per_gen else None,
             final_means=_finite_means(out, recorded(spec, loop)),
             metrics_by_generation={m: out[m].mean(axis=0) for m in ("unigram_entropy", "perplexity", "support") if m in out},
             complete=True)


# ------------------------------------------------------------------------------------------ merge


def _nonfinite(x, where="") -> list:
    """Paths of the non-finite numbers in a JSON-like value (bools are not numbers here)."""
    if isinstance(x, bool) or x is None or isinstance(x, str):
        return []
    if isinstance(x, (int, float)):
        return [] if math.isfinite(x) else [where]
    if isinstance(x, dict):
        return [p for k, v in x.items() for p in _nonfinite(v, f"{where}.{k}")]
    if isinstance(x, list):
        return [p for i, v in enumerate(x) for p in _nonfinite(v, f"{where}[{i}]")]
    return []


def section_merge(args) -> None:
    """The one results file: every section's JSON with its status from the script's record of it
    (``NAME.status``: exit code and limit), a section without a file marked as such."""
    work = Path(args.work)
    results = {"mode": args.mode, "budget_s": args.budget, "script_seconds": args.elapsed,
               "written_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "sections": {}}
    for name in args.sections.split(","):
        f, status = work / f"{name}.json", work / f"{name}.status"
        data = json.loads(f.read_text()) if f.is_file() else {"section": name, "complete": False}
        rc, limit = (status.read_text().split() + ["", ""])[:2] if status.is_file() else ("", "")
        if rc == "-":
            data["status"], limit = "not run: not selected (--only)", ""
        elif not rc:
            data["status"] = "not run: no time left in the budget" if limit == "" else "not run"
        elif rc in ("124", "137"):
            data["status"] = f"timed out at its {limit} s limit (results up to then)"
        elif rc != "0":
            log = work / f"{name}.log"
            tail = log.read_text(errors="replace").strip().splitlines()[-3:] if log.is_file() else []
            data["status"] = f"failed (exit {rc})"
            data["error"] = tail
        else:
            data["status"] = "ok" if data.get("complete") else "ended without completing"
        data["limit_s"] = float(limit) if limit else None
        if name == "gpt2" and data.get("preset") and not data.get("complete"):
            data["note"] = _gpt2_note(data)
        data["nonfinite"] = _nonfinite(data)
        results["sections"][name] = data
    out = Path(args.json)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=1) + "\n")
    print(summary(results))
    print(f"results: {out}")


def _gpt2_note(d: dict) -> str:
    """How far an unfinished GPT-2 section got, in words."""
    base = d.get("base_model", {})
    if "heldout_cross_entropy" not in base:
        return (f"the loop did not run: pretraining the base model reached step {base.get('steps_done', 0)} of "
                f"{base.get('steps')} in {base.get('seconds', 0)} s; run again on the same machine (--only gpt2)")
    return (f"only {d.get('generations_done', 0)} of {d.get('generations_asked')} generations fit in the time "
            f"(base model from {base.get('origin')})")


def summary(results: dict) -> str:
    """A few lines for the terminal: each section's status and headline number."""
    lines = []
    for name, d in results["sections"].items():
        head = ""
        if name.startswith("sweep_") and d.get("runs"):
            r = d["runs"][-1]
            head = f"{r['chains']} chains x {d['generations']} gen: {r['chain_generations_per_s']:.3g} chain-gen/s, compile {d.get('compile_s')} s"
        elif name == "devices":
            head = f"1 == N passed: {d.get('passed')}"
        elif name == "gpt2":
            head = f"{d.get('generations_done', 0)}/{d.get('generations_asked')} generations, base model {d.get('base_model', {}).get('origin')}"
        elif name == "info":
            head = f"{d.get('backend')} {d.get('device_kinds')} jax {d.get('jax_version')}"
        lines.append(f"{name:18s} {d['status']:40s} {head}")
    return "\n".join(lines)


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("section", choices=("info", "sweep", "devices", "gpt2", "merge"))
    ap.add_argument("--json", required=True, help="The section's (or, for merge, the results) JSON file.")
    ap.add_argument("--smoke", action="store_true", help="Tiny sizes, for a CPU in seconds.")
    ap.add_argument("--family", choices=tuple(SWEEP_FAMILIES))
    ap.add_argument("--share", type=float, default=45.0, help="Seconds a sweep may spend growing its sizes.")
    ap.add_argument("--host-devices", type=int, default=4)
    ap.add_argument("--work", help="merge: the folder of the section files.")
    ap.add_argument("--sections", default="info,devices,sweep_gaussian,sweep_categorical,sweep_gmm,gpt2")
    ap.add_argument("--budget", type=float, default=0.0)
    ap.add_argument("--elapsed", type=float, default=0.0)
    ap.add_argument("--mode", default="gpu")
    args = ap.parse_args(argv)
    {"info": section_info, "sweep": section_sweep, "devices": section_devices, "gpt2": section_gpt2,
     "merge": section_merge}[args.section](args)


if __name__ == "__main__":
    main()
