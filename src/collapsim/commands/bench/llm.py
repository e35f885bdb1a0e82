"""Timings of collapsim's GPT-2 against Hugging Face / PyTorch on the same model and the same work.

One random GPT-2 is built with ``transformers``, saved as a Hugging Face folder and loaded by collapsim,
so both sides run identical weights. For each shape: sampling tokens per second (collapsim's jitted sampler
after compilation vs ``generate``, the same batch, prompt length, number of new tokens and decoding), one
train step, and one fine-tuning epoch (collapsim's ``fit`` vs a PyTorch loop with the same AdamW, clipping
and linear schedule, dropout off on both sides since collapsim has none). Numbers are ratios measured in the
same run, calls interleaved so both sides see the same machine load, not test thresholds.

Threads are matched (:func:`match_threads`): the process is confined to ``threads`` CPUs before JAX's CPU
backend starts, so XLA's thread pool has exactly those cores, and torch runs ``threads`` intra-op threads.

Other rows (for example one whole generation of a collapse-loop protocol) join through :func:`register_row`
and are timed by :func:`time_row` in the same run.
"""

from __future__ import annotations

import os
import tempfile
import time
from types import SimpleNamespace
from typing import Callable, NamedTuple

import numpy as np

from collapsim.errors import ConfigError
from collapsim.gpt2.sizes import check_sampling, check_training

_CPU = dict(vocab_size=2000, n_positions=256, n_head=4, batch=32, prompt_len=8, new_tokens=64,
            train_batch=16, train_len=128, epoch_sequences=250)
PRESETS = {
    # The two CPU shapes of the probe: 2 layers x 64 wide and 4 layers x 256 wide.
    "2x64": dict(_CPU, n_embd=64, n_layer=2),
    "4x256": dict(_CPU, n_embd=256, n_layer=4),
    # The earlier name of the small CPU comparison (vocabulary 1000, batch 8).
    "tiny": dict(_CPU, vocab_size=1000, n_positions=128, n_embd=64, n_layer=2, batch=8, train_batch=8,
                 train_len=64, epoch_sequences=0),
    # GPT-2 small shapes (random weights): for a GPU; batch 250, 100 new tokens, 250 x 128 fine-tuning.
    "gpt2-small": dict(vocab_size=50257, n_positions=1024, n_embd=768, n_layer=12, n_head=12,
                       batch=250, prompt_len=8, new_tokens=100, train_batch=16, train_len=128,
                       epoch_sequences=250),
}
CPU_PRESETS = ("2x64", "4x256")
# The paper's decoding settings (REFERENCES section 6): top-k 50, temperature 0.8, repetition penalty 1.05.
DECODING = dict(temperature=0.8, top_k=50, top_p=1.0, repetition_penalty=1.05)
LR = 5e-5


def _need_reference():
    try:
        import torch
        import transformers
    except ImportError as e:
        raise ConfigError(f"the llm benchmark compares against PyTorch: it needs torch and transformers "
                          f"(pip install torch==2.13.0 transformers), missing: {e.name}") from e
    # Progress bars and config notices from transformers would interleave with --json output.
    transformers.utils.logging.set_verbosity_error()
    transformers.utils.logging.disable_progress_bar()
    return torch, transformers


def _os_threads() -> int | None:
    """How many threads this process has (Linux's /proc/self/task), or None where that cannot be read."""
    try:
        return len(os.listdir("/proc/self/task"))
    except OSError:
        return None


def start_backend_here() -> bool | None:
    """Start JAX's backend now (``jax.devices()``); whether it started in this call.

    JAX has no public way to ask whether its backend runs, but starting it spawns XLA's thread pool: new
    threads in this process (12 with jax 0.10.2 on a CPU) mean it started here, with the calling thread's
    CPU affinity; none mean it ran already. None where threads cannot be counted.
    """
    import jax

    before = _os_threads()
    jax.devices()
    after = _os_threads()
    return None if before is None or after is None else after > before


def match_threads(threads: int, torch=None) -> dict:
    """Give collapsim and PyTorch the same ``threads`` CPUs and say what was done.

    The calling thread is confined to the first ``threads`` CPUs it may use (``os.sched_setaffinity``);
    threads started afterwards inherit that, so when JAX's CPU backend has not started yet its whole XLA
    thread pool runs on those cores: the backend is started right then (:func:`start_backend_here`), which
    also tells whether it had started before. torch gets ``torch.set_num_threads(threads)``. Returns a dict
    with ``cpus``, ``jax`` (how XLA was limited), ``torch_threads`` and ``restore`` (a callable that gives
    the calling thread its previous CPUs back).
    """
    if threads < 1:
        raise ConfigError(f"--threads must be >= 1, got {threads}")
    before = os.sched_getaffinity(0) if hasattr(os, "sched_getaffinity") else None
    info = {"restore": lambda: None}
    if before is not None:
        cpus = sorted(before)[:threads]
        if len(cpus) < threads:
            raise ConfigError(f"--threads {threads}: this process may use only {len(before)} CPUs")
        os.sched_setaffinity(0, cpus)
        info.update(cpus=cpus, restore=lambda: os.sched_setaffinity(0, before))
        started_here = start_backend_here()
        info["jax"] = (f"XLA confined to CPUs {cpus} (affinity set before JAX's backend started)" if started_here
                       else "JAX's backend had already started: XLA's threads may use every CPU" if started_here is False
                       else f"XLA confined to CPUs {cpus} if JAX's backend had not started before (threads cannot be "
                       "counted here)")
    else:
        info.update(cpus=None, jax="no CPU affinity on this platform: XLA uses its default threads")
    if torch is not None:
        torch.set_num_threads(threads)
        info["torch_threads"] = torch.get_num_threads()
    return info


def _timeit(fns, repeats, cpu: list | None = None, back_to_back: bool = False):
    """Median wall time of ``repeats`` calls of each fn (each must block until its result is ready).

    The calls are interleaved (a, b, a, b, ...) so that both sides see the same machine load. When ``cpu``
    is a list, the median process CPU time of each fn's calls is appended to it: both sides run in this
    process on the same matched CPUs, so CPU seconds compare the work each side does even when other
    programs share the cores (wall time then also counts the time the process waited for a core).

    ``back_to_back``: each timed call follows an untimed call of the same fn (a, a*, b, b*, ...), the
    steady state of a training loop, whose steps run one after another. Alternating single calls of the
    two frameworks, which share this process's heap, makes each carve up the memory the other just freed:
    measured on the 4 x 256 step, 12,000-52,000 page faults in some of collapsim's steps, none back to back.
    """
    times, cpus = [[] for _ in fns], [[] for _ in fns]
    for _ in range(repeats):
        for fn, t, c in zip(fns, times, cpus):
            if back_to_back:
                fn()
            t0, c0 = time.perf_counter(), time.process_time()
            fn()
            t.append(time.perf_counter() - t0)
            c.append(time.process_time() - c0)
    if cpu is not None:
        cpu.extend(float(np.median(c)) for c in cpus)
    return [float(np.median(t)) for t in times]


class Row(NamedTuple):
    """One extra benchmark row: ``ours`` and ``reference`` (or None) each do the same ``work`` once and
    block until done; ``unit`` names the work (e.g. "generation")."""

    name: str
    ours: Callable[[], object]
    reference: Callable[[], object] | None
    work: float = 1.0
    unit: str = "call"


# Factories of extra rows: each is called with the benchmark's settings (a dict: preset, threads, repeats,
# with_torch, bf16) and returns a Row, or None to skip itself.
ROWS: list[Callable[[dict], Row | None]] = []


# Modules imported by ``collapsim bench llm`` before it runs the rows, so that their ``@register_row``
# factories exist (e.g. the module that runs one generation of the GPT-2 collapse loop).
ROW_MODULES: tuple[str, ...] = ()


def register_row(factory: Callable[[dict], Row | None]):
    """Add a row to ``collapsim bench llm`` (usable as a decorator); see :class:`Row`. The defining module
    must be listed in :data:`ROW_MODULES` (or imported) for the command to see it."""
    if factory not in ROWS:
        ROWS.append(factory)
    return factory


def extra_rows(settings: dict, repeats: int) -> list[dict]:
    """Import :data:`ROW_MODULES`, build every registered row for ``settings`` and time it."""
    import importlib

    for name in ROW_MODULES:
        importlib.import_module(name)
    return [time_row(row, repeats) for row in (f(settings) for f in ROWS) if row is not None]


def time_row(row: Row, repeats: int) -> dict:
    """Time a :class:`Row`: one untimed call of each side (compilation, allocation), then ``repeats``
    interleaved calls; returns seconds per call of each side and their ratio (reference / ours)."""
    t0 = time.perf_counter()
    row.ours()
    first = time.perf_counter() - t0
    fns = [row.ours] + ([row.reference] if row.reference is not None else [])
    if row.reference is not None:
        row.reference()
    ts = _timeit(fns, repeats)
    out = dict(name=row.name, unit=row.unit, work=row.work, collapsim_s=ts[0], first_call_s=first)
    if row.reference is not None:
        out.update(reference_s=ts[1], speedup=ts[1] / ts[0])
    return out


# ------------------------------------------------------------------ the PyTorch side, reusable by rows


def hf_generate_fn(torch, model, prompts: np.ndarray, new_tokens: int, decoding: dict = DECODING, device="cpu"):
    """A callable running Hugging Face ``generate`` on unpadded prompts [B, T] for exactly ``new_tokens``."""
    tp = torch.tensor(prompts, dtype=torch.long, device=device)
    tm = torch.ones_like(tp)
    sync = torch.cuda.synchronize if device == "cuda" else (lambda: None)

    def run():
        with torch.no_grad():
            model.generate(tp, attention_mask=tm, do_sample=True, max_new_tokens=new_tokens,
                           min_new_tokens=new_tokens, pad_token_id=0, **decoding)
        sync()

    return run


def torch_epoch_fn(torch, transformers, model, ids: np.ndarray, batch_size: int, lr: float = LR, seed: int = 0,
                   device="cpu"):
    """A callable running one epoch of the usual PyTorch fine-tuning loop over ids [N, T] (shuffled batches,
    AdamW with weight decay 0, clipping at norm 1, linear decay over the epoch, as Hugging Face's Trainer)."""
    x_all = torch.tensor(ids, dtype=torch.long, device=device)
    n_steps = -(-len(ids) // batch_size)
    sync = torch.cuda.synchronize if device == "cuda" else (lambda: None)
    gen = torch.Generator().manual_seed(seed)

    def run():
        opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=0.0)
        sched = transformers.get_linear_schedule_with_warmup(opt, 0, n_steps)
        order = torch.randperm(len(ids), generator=gen)
        for b in range(n_steps):
            x = x_all[order[b * batch_size:(b + 1) * batch_size]]
            opt.zero_grad(set_to_none=True)
            model(x, labels=x).loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            opt.step()
            sched.step()
        sync()

    return run


# ------------------------------------------------------------------ one shape


def run_bench(preset: str = "2x64", repeats: int = 3, seed: int = 0, with_torch: bool = True,
              bf16: bool = False, epoch_sequences: int | None = None, **overrides) -> dict:
    """Run the comparison for one preset and return a flat dict of numbers (see module docstring).

    ``overrides`` replace preset entries (e.g. batch=4, new_tokens=16). ``epoch_sequences`` (default: the
    preset's) > 0 also times one fine-tuning epoch over that many random sequences of ``train_len`` tokens.
    Threads are whatever the caller set (see :func:`match_threads`).
    """
    import jax
    import jax.numpy as jnp

    from collapsim.gpt2.checkpoint import load_checkpoint, save_checkpoint
    from collapsim.gpt2.model import config_from_dict, init_params
    from collapsim.gpt2.sampling import sample, sampling_params
    from collapsim.gpt2.train import adamw, fit, make_train_step

    if preset not in PRESETS:
        raise ConfigError(f"unknown preset {preset!r}; choose from {', '.join(PRESETS)}")
    s = dict(PRESETS[preset], **overrides)
    shape = {k: s[k] for k in ("vocab_size", "n_positions", "n_embd", "n_layer", "n_head")}
    B, P, N, TB, TL = s["batch"], s["prompt_len"], s["new_tokens"], s["train_batch"], s["train_len"]
    E = s["epoch_sequences"] if epoch_sequences is None else epoch_sequences
    dtype = jnp.bfloat16 if bf16 else jnp.float32
    # Refuse impossible sizes before building the model or the random prompts (--batch 100000000 used to
    # allocate until the machine ran out of memory).
    if P + N > shape["n_positions"]:
        raise ConfigError(f"prompt length {P} + --new-tokens {N} exceeds the '{preset}' preset's "
                          f"n_positions={shape['n_positions']}")
    check_sampling(SimpleNamespace(**shape), B, P, N, f"--batch {B} with {N} new tokens ({preset})",
                   2 if bf16 else 4)
    check_training(SimpleNamespace(**shape), TB, TL, f"the {TB}x{TL} train step ({preset})")
    rng = np.random.default_rng(seed)
    prompts = rng.integers(0, s["vocab_size"], (B, P)).astype(np.int32)
    train_ids = rng.integers(0, s["vocab_size"], (TB, TL)).astype(np.int32)
    out = dict(preset=preset, backend=jax.default_backend(), batch=B, prompt_len=P, new_tokens=N,
               n_embd=s["n_embd"], n_layer=s["n_layer"], vocab_size=s["vocab_size"],
               dtype="bfloat16" if bf16 else "float32", repeats=repeats, decoding=DECODING)

    if with_torch and preset == "gpt2-small" and jax.default_backend() == "gpu":
        torch, transformers = _need_reference()
        if not torch.cuda.is_available():
            # A CPU-only torch (the pinned local wheel) would spend many minutes on batch-250 GPT-2 small:
            # comparing a GPU with a CPU says nothing, so time collapsim alone and say why.
            with_torch = False
            out["torch_skipped"] = "this torch build has no CUDA; the reference would run on the CPU"

    with tempfile.TemporaryDirectory() as tmp:
        if with_torch:
            torch, transformers = _need_reference()
            torch.manual_seed(seed)
            hf_cfg = transformers.GPT2Config(**shape, resid_pdrop=0.0, embd_pdrop=0.0, attn_pdrop=0.0,
                                             bos_token_id=0, eos_token_id=0)
            model = transformers.GPT2LMHeadModel(hf_cfg)
            model.save_pretrained(tmp, safe_serialization=True)
        else:
            d = dict(shape, model_type="gpt2", bos_token_id=0, eos_token_id=0)
            cfg0 = config_from_dict(d)
            save_checkpoint(tmp, init_params(cfg0, jax.random.PRNGKey(seed)), cfg0, d)
        ck = load_checkpoint(tmp)
    cfg, params = ck.config, ck.params

    # --- collapsim: sampler and train step ----------------------------------------------------------
    sp = sampling_params(**DECODING)
    mask = np.ones_like(prompts, bool)
    key = {"k": jax.random.PRNGKey(seed)}

    def ours():
        key["k"], sub = jax.random.split(key["k"])
        sample(params, cfg, prompts, mask, sub, sp, max_new_tokens=N, dtype=dtype).tokens.block_until_ready()

    opt = adamw(LR)
    step = make_train_step(cfg, opt, dtype)
    state = {"p": jax.tree_util.tree_map(jnp.array, params)}
    state["o"] = opt.init(state["p"])
    tids, tmask = jnp.asarray(train_ids), jnp.ones(train_ids.shape, bool)

    def our_step():
        state["p"], state["o"], loss = step(state["p"], state["o"], tids, tmask)
        loss.block_until_ready()

    t0 = time.perf_counter()
    ours()
    first_sample = time.perf_counter() - t0
    t0 = time.perf_counter()
    our_step()
    first_step = time.perf_counter() - t0

    # --- the PyTorch side ----------------------------------------------------------------------------
    theirs = torch_step = None
    if with_torch:
        # The reference runs where PyTorch can: on the GPU if this torch build has CUDA, else on the CPU.
        dev = "cuda" if torch.cuda.is_available() else "cpu"
        out["torch_device"] = dev
        sync = torch.cuda.synchronize if dev == "cuda" else (lambda: None)
        model.to(dev).eval()
        theirs = hf_generate_fn(torch, model, prompts, N, DECODING, dev)
        train_model = transformers.GPT2LMHeadModel(hf_cfg)  # a copy to train, so `model` stays intact
        train_model.load_state_dict(model.state_dict())
        train_model.to(dev).train()
        topt = torch.optim.AdamW(train_model.parameters(), lr=LR, weight_decay=0.0)
        x = torch.tensor(train_ids, dtype=torch.long, device=dev)

        def torch_step():
            topt.zero_grad(set_to_none=True)
            loss = train_model(x, labels=x).loss
            loss.backward()
            torch.nn.utils.clip_grad_norm_(train_model.parameters(), 1.0)
            topt.step()
            sync()

        theirs()  # warm-up (PyTorch has no compilation, but first calls allocate)
        torch_step()

    if with_torch:
        cpu_sample, cpu_step = [], []
        t_ours, t_hf = _timeit([ours, theirs], repeats, cpu_sample)
        t_step, t_torch = _timeit([our_step, torch_step], repeats, cpu_step, back_to_back=True)
        out.update(hf_sample_s=t_hf, hf_tok_s=B * N / t_hf, torch_train_step_s=t_torch,
                   torch_threads=torch.get_num_threads(),
                   sample_speedup_cpu=cpu_sample[1] / cpu_sample[0], train_step_speedup_cpu=cpu_step[1] / cpu_step[0])
    else:
        (t_ours,), (t_step,) = _timeit([ours], repeats), _timeit([our_step], repeats)
    out.update(collapsim_sample_s=t_ours, collapsim_tok_s=B * N / t_ours,
               compile_s=max(first_sample - t_ours, 0.0), collapsim_train_step_s=t_step,
               train_compile_s=max(first_step - t_step, 0.0), train_batch=TB, train_len=TL)
    if with_torch:
        out["sample_speedup"] = out["collapsim_tok_s"] / out["hf_tok_s"]
        out["train_step_speedup"] = out["torch_train_step_s"] / out["collapsim_train_step_s"]

    if E > 0:
        ep_ids = rng.integers(0, s["vocab_size"], (E, TL)).astype(np.int32)
        ep_mask = np.ones(ep_ids.shape, bool)
        ep_key = {"k": jax.random.PRNGKey(seed + 1)}

        def our_epoch():
            ep_key["k"], sub = jax.random.split(ep_key["k"])
            r = fit(params, cfg, ep_ids, ep_mask, sub, epochs=1, batch_size=TB, optimizer=opt, dtype=dtype)
            jax.block_until_ready(r.params)

        our_epoch()  # compiles (the train step is shared with the timing above only if shapes match)
        fns = [our_epoch]
        if with_torch:
            epoch_model = transformers.GPT2LMHeadModel(hf_cfg)
            epoch_model.load_state_dict(model.state_dict())
            epoch_model.to(dev).train()
            their_epoch = torch_epoch_fn(torch, transformers, epoch_model, ep_ids, TB, LR, seed, dev)
            their_epoch()
            fns.append(their_epoch)
        cpu_epoch = []
        ts = _timeit(fns, max(1, min(repeats, 3)), cpu_epoch)
        out.update(collapsim_epoch_s=ts[0], epoch_sequences=E)
        if with_torch:
            out.update(torch_epoch_s=ts[1], epoch_speedup=ts[1] / ts[0], epoch_speedup_cpu=cpu_epoch[1] / cpu_epoch[0])
    return out


def format_report(r: dict) -> str:
    """A few human-readable lines for a :func:`run_bench` result."""
    lines = [f"GPT-2 '{r['preset']}' (n_embd={r['n_embd']}, n_layer={r['n_layer']}, vocab={r['vocab_size']}) "
             f"on {r['backend']}, {r['dtype']}; batch {r['batch']}, prompt {r['prompt_len']}, "
             f"{r['new_tokens']} new tokens",
             f"  collapsim sampler: {r['collapsim_tok_s']:.0f} tok/s ({r['collapsim_sample_s']:.3f} s), "
             f"compile {r['compile_s']:.2f} s"]
    if "hf_tok_s" in r:
        lines.append(f"  HF generate:       {r['hf_tok_s']:.0f} tok/s ({r['hf_sample_s']:.3f} s)  "
                     f"-> collapsim x{r['sample_speedup']:.2f}")
    lines.append(f"  train step [{r['train_batch']}x{r['train_len']}]: collapsim {r['collapsim_train_step_s'] * 1e3:.1f} ms"
                 + (f", PyTorch {r['torch_train_step_s'] * 1e3:.1f} ms -> x{r['train_step_speedup']:.2f}"
                    if "torch_train_step_s" in r else ""))
    if "collapsim_epoch_s" in r:
        lines.append(f"  one epoch, {r['epoch_sequences']} x {r['train_len']} tokens, batch {r['train_batch']}: "
                     f"collapsim {r['collapsim_epoch_s']:.2f} s"
                     + (f", PyTorch loop {r['torch_epoch_s']:.2f} s -> x{r['epoch_speedup']:.2f}"
                        if "torch_epoch_s" in r else ""))
    if "train_step_speedup_cpu" in r:
        lines.append(f"  by CPU seconds (robust to other programs on the cores): sampler x{r['sample_speedup_cpu']:.2f}, "
                     f"train step x{r['train_step_speedup_cpu']:.2f}"
                     + (f", epoch x{r['epoch_speedup_cpu']:.2f}" if "epoch_speedup_cpu" in r else ""))
    if "torch_skipped" in r:
        lines.append(f"  PyTorch reference skipped: {r['torch_skipped']}")
    return "\n".join(lines)


def format_row(r: dict) -> str:
    """One line for a :func:`time_row` result."""
    ref = (f", reference {r['reference_s']:.2f} s -> x{r['speedup']:.2f}" if "reference_s" in r else "")
    return f"{r['name']}: collapsim {r['collapsim_s']:.2f} s per {r['unit']}{ref}"


def load_summary() -> str:
    """The 1-minute load average and the CPU count, to read timings from a shared machine by."""
    try:
        return f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs"
    except OSError:
        return f"{os.cpu_count()} CPUs"
