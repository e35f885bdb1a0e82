"""The Python API: the ``run`` and ``sweep`` commands as calls, and any folder they wrote as a result object.

    import collapsim

    r = collapsim.run("gaussian", dim=3, policy="mix", alpha=0.1, generations=50, seeds=500, seed=0)
    r.metrics   # metrics.csv as a pandas DataFrame (generation, metric, mean, stderr, lo, hi, theory)
    r.plot()    # the run's figure, a matplotlib Figure
    s = collapsim.sweep("categorical", grid={"alpha": "0:0.5:3"}, generations=20, seeds=64)
    old = collapsim.load("runs/gaussian-20250101-120000")

One path with the command line. Keyword arguments are the command's options, dashes written as underscores
(``metrics_every=5`` is ``--metrics-every 5``); they are handed, as text, to the same click command that parses
``collapsim run FAMILY`` (or ``collapsim sweep FAMILY``), so they have its defaults, types and choices, and the
spec they make goes to :func:`collapsim.output.run.execute` (or :func:`collapsim.output.sweep_folder.execute_sweep`) as the
command's does: a call writes the folder the command would write, with the same numbers. Bad input raises
:class:`~collapsim.errors.ConfigError` (a ``ValueError``) whose message is the line the command prints after
``collapsim: error:``, before any work.

Where the folder goes: ``out=None`` means the command's default, under the working directory:
``runs/FAMILY-TIME`` for a run, ``runs/sweep-FAMILY-<hash>`` for a sweep (the same sweep resumes there). A
result is a folder first, so it can be loaded again, shared, or re-run with ``collapsim run --config``; a
temporary folder would be gone with the notebook's kernel.

Process settings the command makes and a call does not: the command gives XLA one CPU device per core
(:func:`collapsim.commands.options.use_all_cores`), which must happen before JAX is imported, and changes what the
caller's own JAX code sees; a call leaves the process as it finds it. Numbers do not depend on the device
count, only the speed on a CPU with several cores: call ``use_all_cores()`` first thing to get it. Nor does a
call set the training loop's allocator (:mod:`collapsim.commands.heap`), a process-wide setting that slows the
simulators run later in the same process.
"""

from __future__ import annotations

import csv
import json
import os
from functools import cached_property
from pathlib import Path
from types import SimpleNamespace

from collapsim.errors import ConfigError

#: Options of ``collapsim sweep`` that a call does not take: they make this process one of several.
_MULTI_PROCESS = ("coordinator", "num_processes", "process_id", "coordinator_timeout")
#: Columns of metrics.csv that hold text whatever their cells look like.
_TEXT_COLUMNS = ("metric",)


def run(family: str, *, out=None, **options) -> "Result":
    """Run ``collapsim run FAMILY`` with ``options`` and return its run folder as a :class:`Result`.

    Args:
      family: a registered family: gaussian, categorical, regression, kde, gmm, gpt2.
      out: the run folder (str or path); None: ``runs/FAMILY-TIME`` under the working directory.
      **options: the command's options (``collapsim run FAMILY --help``), dashes as underscores: generations,
        samples, seeds, policy, alpha (a number or a schedule's spelling such as "1/t" or "geom:0.5:0.9"),
        seed, method, driver, metrics_every, and the family's own (gaussian: dim, covariance, ddof, variance;
        categorical: vocab, init, temperature, top_k, top_p, smoothing, ...). A switch (gpt2's
        continue_training) takes True or False; None means the option's default.

    Raises:
      ConfigError: a bad family, option or value, with the command's message.
    """
    from collapsim.commands.run import run as command
    from collapsim.commands.run import spec_from_options
    from collapsim.output.run import execute

    e = _entry(family)
    params = _parse(command.commands[e.name], {**options, "out": out})
    out = params.pop("out")
    return load(execute(spec_from_options(e, **params), out).path)


def sweep(family: str, grid, *, out=None, **options) -> "Result | None":
    """Run ``collapsim sweep FAMILY --grid ...`` with ``options`` and return its sweep folder as a
    :class:`Result`.

    Args:
      family: a family the grid driver runs: gaussian, categorical, regression, kde, gmm.
      grid: the axes, as ``--grid`` takes them: a dict {name: values}, where values is a range
        "START:STOP:COUNT", a list of values or a "V1,V2" string (``{"alpha": "0:1:5", "samples": [50, 200]}``),
        or one "NAME=VALUES" string, or a list of them.
      out: the sweep folder; None: ``runs/sweep-FAMILY-<hash>`` under the working directory.
      **options: the command's options (``collapsim sweep FAMILY --help``), dashes as underscores: summary,
        until_collapse, cap, generations, samples, seeds, policy, alpha, seed, method and the family's own.
        Not the multi-process options (coordinator, num_processes, process_id): use the command for those.

    Returns:
      The sweep folder; None in a process other than 0 when the caller runs JAX over several processes
      (``jax.distributed``): process 0 writes the folder.

    Raises:
      ConfigError: a bad family, axis, option or value, with the command's message.
    """
    from collapsim.commands.sweep import sweep as command
    from collapsim.commands.sweep import sweep_from_options
    from collapsim.output.sweep_folder import execute_sweep

    e = _entry(family)
    given = [name for name in _MULTI_PROCESS if options.get(name) is not None]
    if given:
        raise ConfigError(f"{given[0]}: a call runs its sweep in this process; for a sweep over several processes "
                          "use the command, collapsim sweep FAMILY --coordinator HOST:PORT ...")
    options = {k: v for k, v in options.items() if k not in _MULTI_PROCESS}
    params = _parse(command.commands[e.name], {**options, "out": out}, [a for g in _grid_args(grid) for a in ("--grid", g)])
    out = params.pop("out")
    for name in _MULTI_PROCESS:
        params.pop(name)
    result = execute_sweep(sweep_from_options(e, **params), out)
    if result.path is None:  # a process other than 0 of a jax.distributed run the caller started
        return None
    return load(result.path)


def load(path) -> "Result":
    """The run or sweep folder at ``path`` (one that ``collapsim run`` / ``sweep`` or this API wrote)."""
    if not isinstance(path, (str, os.PathLike)):
        raise ConfigError(f"load: a folder's path is a str or a path, got {path!r}")
    folder = Path(path)
    missing = [name for name in ("config.json", "metrics.csv") if not (folder / name).is_file()]
    if missing:
        raise ConfigError(f"{folder}: not a collapsim run or sweep folder (no {' and no '.join(missing)})")
    try:
        config = json.loads((folder / "config.json").read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as err:
        raise ConfigError(f"{folder / 'config.json'}: not valid JSON ({err.__class__.__name__})") from None
    if not isinstance(config, dict) or "family" not in config:
        raise ConfigError(f"{folder / 'config.json'}: not a collapsim run or sweep config")
    return Result(folder, config)


class Result:
    """A run or sweep folder.

    Attributes:
      path: the folder (``Path``).
      config: its config.json as a dict (the spec, what was derived from it, versions, timing).
      kind: "run" or "sweep".
      metrics: its metrics.csv table (see :attr:`metrics`).
    """

    def __init__(self, path: Path, config: dict):
        self.path = Path(path)
        self.config = config
        self.kind = "sweep" if "sweep" in config else "run"

    def __repr__(self) -> str:
        return f"<collapsim {self.kind} of {self.config.get('family')!r} at {str(self.path)!r}>"

    @cached_property
    def metrics(self):
        """metrics.csv as a pandas DataFrame, read by ``pandas.read_csv`` (an empty theory cell is NaN).

        pandas is optional (``pip install "collapsim[notebook]"``): without it, the same table as plain tidy
        rows, a list of dicts {column: value}, one per line of metrics.csv, each value an int, a float or a
        str, and None for an empty cell (no theory).
        """
        try:
            import pandas as pd
        except ImportError:
            return self._rows
        return pd.read_csv(self.path / "metrics.csv")

    @cached_property
    def _rows(self) -> list[dict]:
        with open(self.path / "metrics.csv", newline="") as f:
            reader = csv.reader(f)
            header = next(reader)
            return [{h: _cell(text, h) for h, text in zip(header, line)} for line in reader]

    def plot(self):
        """The folder's figure (the figure.png the command wrote, drawn again from metrics.csv and config.json)
        as a ``matplotlib.figure.Figure``: no pyplot state, so it works headless, and a notebook shows it as
        a cell's value."""
        if self.kind == "run":
            return _run_figure(self.config, self._rows, _approximations(self.path))
        return _sweep_figure(self.path, self.config, self._rows)


# ------------------------------------------------------------------------------------------ options


def _entry(family):
    from collapsim.runs.registry import ENTRIES, entry

    if not isinstance(family, str):
        raise ConfigError(f"family must be a name, one of {', '.join(ENTRIES)}; got {family!r}")
    return entry(family)


def _parse(command, options: dict, extra=()) -> dict:
    """The command's parsed options (name -> value, defaults filled in) for keyword arguments ``options``,
    parsed by click from the command line they spell (``extra``: arguments put first)."""
    import click

    params = {p.name: p for p in command.params if isinstance(p, click.Option)}
    argv = list(extra)
    for name, value in options.items():
        p = params.get(name)
        if value is None:
            continue
        if p is None:  # refused by click as on the command line: "No such option: --NAME"
            argv.append("--" + name.replace("_", "-"))
        elif p.is_flag:
            if not isinstance(value, bool):
                raise ConfigError(f"{p.opts[0]} is a switch: give True or False, got {value!r}")
            argv += [p.opts[0]] if value else p.secondary_opts[:1]
        else:
            argv += [p.opts[0], _text(value)]
    try:
        return command.make_context(command.name, argv).params
    except click.ClickException as err:  # the CLI's one line (collapsim.commands.cli)
        raise ConfigError(" ".join(err.format_message().split())) from None


def _text(value) -> str:
    """An option's value as the command line spells it: a list as a comma list (alpha's list of values)."""
    if hasattr(value, "tolist"):  # a NumPy array or number
        value = value.tolist()
    if isinstance(value, (list, tuple)):
        return ",".join(_text(v) for v in value)
    if isinstance(value, os.PathLike):
        return os.fspath(value)
    return str(value)  # a float's str is its shortest round-trip spelling


def _grid_args(grid) -> list[str]:
    """``--grid`` values NAME=VALUES from a dict {name: values}, a "NAME=VALUES" string or a list of them."""
    if isinstance(grid, dict):
        return [f"{name}={_text(values)}" for name, values in grid.items()]
    if isinstance(grid, str):
        return [grid]
    if isinstance(grid, (list, tuple)) and all(isinstance(g, str) for g in grid):
        return list(grid)
    raise ConfigError(f"grid: give a dict {{name: values}} or NAME=VALUES strings, got {grid!r}")


# ------------------------------------------------------------------------------------------ reading back


def _cell(text: str, column: str):
    """A metrics.csv cell as a value: None for an empty cell, else an int, a float (nan and inf spelled out) or
    text."""
    if text == "":
        return None
    if column in _TEXT_COLUMNS:
        return text
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return text


def _approximations(folder: Path) -> dict:
    """approximations.csv as {(metric, kind): {label: (T + 1,) array}} ({} when the folder has none)."""
    import numpy as np

    path = folder / "approximations.csv"
    if not path.is_file():
        return {}
    curves: dict = {}
    with open(path, newline="") as f:
        for row in csv.DictReader(f):
            curves.setdefault((row["metric"], row["kind"]), {}).setdefault(row["label"], []).append(float(row["value"]))
    return {key: {label: np.asarray(v) for label, v in by.items()} for key, by in curves.items()}


def _run_figure(config: dict, rows: list[dict], approximations: dict | None = None):
    """A run folder's figure from its tidy rows: the summary that :func:`collapsim.output.plots.summary_figure` draws,
    with config.json's heavy-tailed generations. Approximate and fitted curves come from approximations.csv
    (``approximations``, :func:`_approximations`) when the folder has it; what neither file holds comes from
    the run's theory computed again from its spec: the exact curve of a metric recorded every k-th generation
    at the generations it has no row (the figure draws the curve at every generation)."""
    import numpy as np

    from collapsim.output.run import EXACT_THEORY
    from collapsim.output.plots import summary_figure
    from collapsim.runs.registry import entry
    from collapsim.runs.spec import RunSpec

    spec = RunSpec.from_config(config)
    e = entry(spec.family)
    T1 = spec.generations + 1
    summary: dict = {}
    for row in rows:  # metrics in first-appearance order: every metric has a row at generation 0
        s = summary.setdefault(row["metric"], {k: np.full(T1, np.nan) for k in ("mean", "stderr", "lo", "hi", "theory")})
        for k in ("mean", "stderr", "lo", "hi"):
            s[k][row["generation"]] = row[k]
        if row["theory"] is not None:
            s["theory"][row["generation"]] = row["theory"]
            s["has_theory"] = True
    approximations = approximations or {}
    fit = (config.get("theory_curves") or {}).get("fitted_on_generations", ())
    prediction = None
    if e.predict_runs is None:  # a theory fitted on the chains (gpt2) cannot be computed again from the spec
        # The loop's settings only (the spec is as run: defaults filled in, method resolved); not
        # execute.resolve, whose memory check would refuse to draw a large run on a smaller machine.
        prediction = e.predict(spec, e.build(spec))
    sparse = config.get("sparse_metrics") or {}
    heavy = (config.get("heavy_tails") or {}).get("metrics", {})
    for name, s in summary.items():
        if name in heavy:  # shaded: generations whose mean cannot estimate its expectation
            s["unestimable"] = np.isin(np.arange(T1), heavy[name]["generations"])
        if not s.pop("has_theory", False):
            s["theory"] = None
        if name in sparse.get("metrics", ()):
            s["recorded"] = np.isin(np.arange(T1), sparse["generations"])
            s["every"] = sparse["every"]
            if s["theory"] is not None and prediction is not None:
                s["theory"] = np.asarray(prediction.curves[name], np.float64)
        if (name, "approximate") in approximations:
            s["approx"] = approximations[name, "approximate"]
        elif prediction is not None and name in prediction.approx:  # a folder written before approximations.csv
            s["approx"] = prediction.approx[name]
        if (name, "fitted") in approximations:
            s["fitted"], s["fit_generations"] = approximations[name, "fitted"], tuple(fit)
        s["chains"] = spec.seeds
    note = config.get("theory", "")
    return summary_figure(summary, e.title(spec), "" if note == EXACT_THEORY else note)


def _sweep_figure(folder: Path, config: dict, rows: list[dict]):
    """A sweep folder's figure from its tidy rows (and, until collapse, its collapse_generations.npz)."""
    import numpy as np

    from collapsim.sweeps.spec import SweepSpec
    from collapsim.sweeps.run import sweep_title
    from collapsim.output.sweep_plots import collapse_figure, sweep_figure

    spec = SweepSpec.from_config(config)
    points = {tuple(a[n] for n in spec.names): {"point": SimpleNamespace(index=i, assignment=a)}
              for i, a in enumerate(spec.assignments())}

    def point(row):
        return points[tuple(row[n] for n in spec.names)]

    if spec.until_collapse:
        with np.load(folder / "collapse_generations.npz") as chains:
            for row in rows:
                p = point(row)
                tau = chains[f"point{p['point'].index}"].astype(np.float64)
                p.update(tau=np.where(tau < 0, row["cap"], tau), censored=row["censored"], exact=row["theory"],
                         approx=row["diffusion_approx"])
        return collapse_figure(spec, list(points.values()), sweep_title(spec))
    T1 = spec.base.generations + 1
    for row in rows:
        p = point(row)
        metrics = p.setdefault("metrics", [])
        if row["metric"] not in metrics:
            metrics.append(row["metric"])
            for k in ("mean", "stderr"):
                p.setdefault(k, []).append(np.full(T1, np.nan))
        k = metrics.index(row["metric"])
        p["mean"][k][row["generation"]], p["stderr"][k][row["generation"]] = row["mean"], row["stderr"]
        if row["theory"] is not None:
            p.setdefault("theory", {}).setdefault(row["metric"], np.full(T1, np.nan))[row["generation"]] = row["theory"]
    for p in points.values():
        p["mean"], p["stderr"] = np.asarray(p["mean"]), np.asarray(p["stderr"])
        p.setdefault("theory", {})
    return sweep_figure(spec, list(points.values()), sweep_title(spec))
