"""``collapsim sweep FAMILY --grid NAME=VALUES ...`` (one command per registry entry) and ``collapsim sweep
--config SWEEP/config.json``."""

from __future__ import annotations

import os
import socket
import sys
import threading

import click

from collapsim.commands.options import Checked, curation_options, option_type, use_all_cores
from collapsim.errors import ConfigError
from collapsim.engine.policies import POLICIES
from collapsim.runs.registry import ENTRIES, Entry
from collapsim.runs.spec import DEFAULT_ALPHA, ENGINE_RULES, METHODS, SPEC_DEFAULTS, RunSpec


#: Seconds a process waits for the others to join (jax.distributed.initialize's own default).
COORDINATOR_TIMEOUT_S = 300
#: Seconds the coordinator's host name may take to resolve.
RESOLVE_TIMEOUT_S = 10


def parse_coordinator(text: str) -> tuple[str, int]:
    """``HOST:PORT`` (an IPv6 host in brackets, ``[::1]:1234``) -> (host, port), or a one-line refusal."""
    host, sep, port = text.strip().rpartition(":")
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    if not sep or not host or not port.isdigit():
        raise ConfigError(f"--coordinator {text!r}: expected HOST:PORT, e.g. 10.0.0.1:1234")
    if not 1 <= int(port) <= 65535:
        raise ConfigError(f"--coordinator {text!r}: port {port} is outside 1..65535")
    return host, int(port)


def resolve_host(host: str, port: int, text: str) -> None:
    """Refuse a coordinator host name that does not resolve (or takes over RESOLVE_TIMEOUT_S to), instead of
    letting the distributed runtime retry it in silence for minutes."""
    found: dict = {}

    def lookup():
        try:
            found["infos"] = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        except (OSError, UnicodeError) as err:  # socket.gaierror is an OSError
            found["error"] = err

    worker = threading.Thread(target=lookup, daemon=True)  # getaddrinfo has no timeout of its own
    worker.start()
    worker.join(RESOLVE_TIMEOUT_S)
    if "infos" in found:
        return
    why = found["error"].strerror or str(found["error"]) if "error" in found else f"no answer in {RESOLVE_TIMEOUT_S} s"
    raise ConfigError(f"--coordinator {text}: cannot resolve host {host!r} ({why})")


def check_port_free(port: int, text: str) -> None:
    """Process 0 serves the coordinator on every address at PORT: refuse a port already taken (the runtime
    would log a C++ error and fail)."""
    for family, address in ((socket.AF_INET6, "::"), (socket.AF_INET, "")):
        try:
            probe = socket.socket(family, socket.SOCK_STREAM)
        except OSError:  # no IPv6 on this machine: try IPv4
            continue
        with probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # a TIME_WAIT leftover is no obstacle
            try:
                probe.bind((address, port))
            except OSError as err:
                raise ConfigError(f"--coordinator {text}: process 0 cannot serve on port {port} "
                                  f"({err.strerror or err}); choose a free port") from None
        return


def _initialize(coordinator: str, processes: int, process_id: int, timeout: int) -> None:
    """Every process joins through ``jax.distributed.initialize`` (ended by a one-line error after
    ``timeout`` seconds), then leaves the runtime again: it only checks that all processes started.

    Why a watchdog: when the processes do not all join in time, the runtime's C++ client terminates the
    process with a stack trace that Python cannot catch; so a thread gives up first (the runtime is given a
    minute more), writes the one-line error and exits with code 2 (nothing is written before this point).

    Why leave it (``jax.distributed.shutdown``, itself a barrier every process passes at once): the sweep
    computes on each process's own devices and exchanges chunk files through the shared partial folder,
    so it needs nothing more from the runtime, whose health check would end every process with a C++
    stack trace when one dies (at once when process 0 dies, measured). The sweep's own heartbeats
    (:mod:`collapsim.sweeps.exchange`) report a lost process in one line instead.
    """
    import jax

    from collapsim.sweeps.exchange import joined_as

    joined = threading.Event()

    def watchdog():
        if not joined.wait(timeout):
            sys.stderr.write(f"collapsim: error: --coordinator {coordinator}: not all {processes} processes joined "
                             f"within {timeout} s (--coordinator-timeout); start every process with the same "
                             "--coordinator and --num-processes\n")
            sys.stderr.flush()
            os._exit(2)  # the main thread is blocked inside the runtime's C++ connect: no exception reaches it

    threading.Thread(target=watchdog, daemon=True).start()
    try:
        jax.distributed.initialize(coordinator_address=coordinator, num_processes=processes, process_id=process_id,
                                   initialization_timeout=timeout + 60)
        jax.distributed.shutdown()
    except Exception as err:  # the runtime's own errors (JaxRuntimeError...): one line, not a traceback
        raise ConfigError(f"--coordinator {coordinator}: the distributed runtime failed to start "
                          f"({' '.join(str(err).split())})") from None
    finally:
        joined.set()
    joined_as(process_id, processes)


def _distributed(coordinator, processes, process_id, timeout=COORDINATOR_TIMEOUT_S) -> None:
    """Join JAX's multi-process runtime when asked (each process then takes its share of the chunks); the
    address is checked (syntax, port range, the host resolves; process 0: the port is free) before JAX starts."""
    if coordinator is None:
        if processes or process_id is not None:
            raise ConfigError("--num-processes and --process-id go with --coordinator HOST:PORT")
        return
    host, port = parse_coordinator(coordinator)
    if not processes or process_id is None or not 0 <= process_id < processes:
        raise ConfigError("--coordinator needs --num-processes N and --process-id I with 0 <= I < N")
    if not timeout or timeout < 1:
        raise ConfigError(f"--coordinator-timeout must be at least 1 second, got {timeout}")
    resolve_host(host, port, coordinator)
    if process_id == 0:
        check_port_free(port, coordinator)
    _initialize(coordinator, processes, process_id, timeout)


def execute_and_report(sweep, out, distributed=(None, None, None, COORDINATOR_TIMEOUT_S)) -> None:
    use_all_cores()
    _distributed(*distributed)
    from collapsim.output.sweep_folder import execute_sweep

    result = execute_sweep(sweep, out)
    if result.path is None:
        click.echo(f"this process computed {result.computed} chunk(s); process 0 writes the sweep folder")
        return
    click.echo("\n".join(result.lines))
    click.echo(f"wrote {result.path}/ (config.json, metrics.csv, summary.txt, figure.png): {result.computed} chunk(s) "
               f"computed in {result.elapsed:.1f}s" + (f", {result.skipped} already on disk" if result.skipped else ""))
    if result.requested is not None and result.path != result.requested:
        click.echo(f"note: another run wrote {result.requested} meanwhile; this sweep went to {result.path}")


_DIST_OPTIONS = [
    click.option("--coordinator", default=None, help="HOST:PORT of process 0, to run one sweep over several "
                                                     "processes or machines (jax.distributed.initialize); "
                                                     "--out must be on a filesystem they all share."),
    click.option("--num-processes", type=int, default=None, help="Processes in a multi-process sweep."),
    click.option("--process-id", type=int, default=None, help="This process's index, 0 .. N-1."),
    click.option("--coordinator-timeout", type=int, default=COORDINATOR_TIMEOUT_S, show_default=True,
                 help="Seconds to wait for every process to join before giving up."),
]


def sweep_from_options(e: Entry, grid, summary, until_collapse, cap, generations, samples, seeds, policy, alpha, seed,
                       method, curate=SPEC_DEFAULTS["curate"], reward_temperature=SPEC_DEFAULTS["reward_temperature"],
                       **options):
    """The :class:`~collapsim.sweeps.SweepSpec` of ``collapsim sweep FAMILY``'s parsed options (also
    :func:`collapsim.api.sweep`'s)."""
    from collapsim.sweeps.spec import SweepSpec, parse_axis

    axes = tuple(parse_axis(g, e) for g in grid)
    names = [a.name for a in axes]
    if policy is None:  # sweeping alpha means mixing in real data; otherwise the family's replacement loop
        policy = "mix" if "alpha" in names else SPEC_DEFAULTS["policy"]
    fo = {o.name: options[o.name] for o in e.options if o.target == "family_options"}
    pa = {o.name: options[o.name] for o in e.options if o.target == "params"}
    base = RunSpec(e.name, fo, pa, policy, alpha, samples, generations, seeds, seed,
                   method, "scan", curate=curate, reward_temperature=reward_temperature)
    if summary is None and until_collapse:
        summary = "collapse"
    return SweepSpec(base, axes, summary or "", until_collapse, cap)


def family_command(e: Entry) -> click.Command:
    def callback(out, coordinator, num_processes, process_id, coordinator_timeout, **options):
        execute_and_report(sweep_from_options(e, **options), out,
                           (coordinator, num_processes, process_id, coordinator_timeout))

    cmd = click.Command(e.name, callback=callback, help=f"Sweep {e.name}: a grid of settings x seeds in one run.")
    opts = [
        click.option("--grid", multiple=True, required=True,
                     help="NAME=START:STOP:COUNT or NAME=V1,V2,...: alpha, samples, policy, or a family option; repeat for more axes."),
        click.option("--summary", default=None, help="Drawn in the phase diagram: final:METRIC, halving:METRIC, or "
                                                     "collapse (with --until-collapse). Default: final:entropy (categorical), final:sigma2 "
                                                     "(gaussian), else the family's first metric."),
        click.option("--until-collapse", is_flag=True, help="Run each chain until it collapses (or --cap) and record when."),
        click.option("--cap", type=int, default=0, help="Generations after which a chain counts as censored (0: 20 n + 100)."),
        click.option("--generations", type=Checked(ENGINE_RULES["generations"]), default=e.defaults["generations"], show_default=True,
                     help="Generations T."),
        click.option("--samples", type=Checked(ENGINE_RULES["samples"]), default=e.defaults["samples"], show_default=True,
                     help="Samples n per generation."),
        click.option("--seeds", type=Checked(ENGINE_RULES["seeds"]), default=256, show_default=True,
                     help="Chains per grid point."),
        click.option("--policy", type=click.Choice(POLICIES), default=None, help="Data policy (default: mix when alpha is swept, else replace)."),
        click.option("--alpha", type=str, default=None, help=f"alpha_t when not swept (default {DEFAULT_ALPHA} for mix / keep-real)."),
        click.option("--seed", type=Checked(ENGINE_RULES["seed"]), default=SPEC_DEFAULTS["seed"], show_default=True,
                     help="Base random seed."),
        click.option("--out", type=click.Path(), default=None, help="Sweep folder (default runs/sweep-FAMILY-<hash>: the same sweep resumes there)."),
        click.option("--method", type=click.Choice(METHODS), default=SPEC_DEFAULTS["method"], show_default=True, help="explicit, shortcut or auto."),
    ]
    opts += curation_options()
    # Applied to a Command object, each option is appended: this order is the --help order.
    for opt in opts:
        cmd = opt(cmd)
    for o in e.options:
        kind = option_type(o.rule())
        cmd = click.option(f"--{o.name.replace('_', '-')}", o.name, type=kind, default=o.default, show_default=True,
                           help=o.help)(cmd)
    for opt in _DIST_OPTIONS:
        cmd = opt(cmd)
    return cmd


@click.group("sweep", invoke_without_command=True)
@click.option("--config", "config_path", type=click.Path(dir_okay=False), default=None,
              help="Re-run (or resume) the sweep recorded in SWEEP/config.json.")
@click.option("--out", type=click.Path(), default=None, help="Sweep folder for --config.")
@click.pass_context
def sweep(ctx, config_path, out):
    """Sweep a family over a grid of settings x seeds: one table, one phase diagram, resumable."""
    if ctx.invoked_subcommand is not None:
        if config_path or out:
            raise ConfigError("--config and --out before the family name apply only to re-runs: collapsim sweep --config SWEEP/config.json")
        return
    if not config_path:
        click.echo(ctx.get_help())
        return
    from collapsim.commands.run import read_config
    from collapsim.sweeps.spec import SweepSpec

    execute_and_report(SweepSpec.from_config(read_config(config_path)), out)


for _entry in ENTRIES.values():
    sweep.add_command(family_command(_entry), _entry.name)
