"""Timings of collapsim's GPT-2 against Hugging Face / PyTorch on the same model and the same work.

One random GPT-2 is built with ``transformers``, saved as a Hugging Face folder and loaded by collapsim,
so both sides run identical weights. Reported: sampling tokens per second (collapsim's jitted sampler
after compilation vs ``generate``), the sampler's compile time, and one train-step time each (AdamW with
gradient clipping, dropout off on both sides since collapsim has none). Numbers are ratios measured in the
same run, not test thresholds.
"""

from __future__ import annotations

import tempfile
import time
from types import SimpleNamespace

import numpy as np

from collapsim.errors import ConfigError
from collapsim.llm.sizes import check_sampling, check_training

PRESETS = {
    # A tiny model: the CPU comparison the issue asks for.
    "tiny": dict(vocab_size=1000, n_positions=128, n_embd=64, n_layer=2, n_head=4,
                 batch=8, prompt_len=8, new_tokens=64, train_batch=8, train_len=64),
    # GPT-2 small shapes (random weights): for a GPU; batch 250, 100 new tokens, 250 x 128 fine-tuning.
    "gpt2-small": dict(vocab_size=50257, n_positions=1024, n_embd=768, n_layer=12, n_head=12,
                       batch=250, prompt_len=8, new_tokens=100, train_batch=16, train_len=128),
}
# The paper's decoding settings (REFERENCES section 6): top-k 50, temperature 0.8, repetition penalty 1.05.
DECODING = dict(temperature=0.8, top_k=50, top_p=1.0, repetition_penalty=1.05)


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


def _timeit(fns, repeats):
    """Median wall time of ``repeats`` calls of each fn (each must block until its result is ready).

    The calls are interleaved (a, b, a, b, ...) so that both sides see the same machine load.
    """
    times = [[] for _ in fns]
    for _ in range(repeats):
        for fn, t in zip(fns, times):
            t0 = time.perf_counter()
            fn()
            t.append(time.perf_counter() - t0)
    return [float(np.median(t)) for t in times]


def run_bench(preset: str = "tiny", repeats: int = 3, seed: int = 0, with_torch: bool = True,
              bf16: bool = False, epoch_sequences: int = 0, **overrides) -> dict:
    """Run the comparison and return a flat dict of numbers (see module docstring).

    ``overrides`` replace preset entries (e.g. batch=4, new_tokens=16). ``epoch_sequences`` > 0 also
    times one fine-tuning epoch over that many sequences of ``train_len`` tokens (collapsim only).
    """
    import jax
    import jax.numpy as jnp

    from collapsim.llm.checkpoint import load_checkpoint, save_checkpoint
    from collapsim.llm.gpt2 import config_from_dict, init_params
    from collapsim.llm.sampling import sample, sampling_params
    from collapsim.llm.train import adamw, fit, make_train_step

    if preset not in PRESETS:
        raise ConfigError(f"unknown preset {preset!r}; choose from {', '.join(PRESETS)}")
    s = dict(PRESETS[preset], **overrides)
    shape = {k: s[k] for k in ("vocab_size", "n_positions", "n_embd", "n_layer", "n_head")}
    B, P, N, TB, TL = s["batch"], s["prompt_len"], s["new_tokens"], s["train_batch"], s["train_len"]
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

    step = make_train_step(cfg, adamw(5e-5), dtype)
    state = {"p": jax.tree_util.tree_map(jnp.array, params)}
    state["o"] = adamw(5e-5).init(state["p"])
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
        tp = torch.tensor(prompts, dtype=torch.long, device=dev)
        tm = torch.ones_like(tp)

        def theirs():
            with torch.no_grad():
                model.generate(tp, attention_mask=tm, do_sample=True, max_new_tokens=N, min_new_tokens=N,
                               pad_token_id=0, **DECODING)
            sync()

        train_model = transformers.GPT2LMHeadModel(hf_cfg)  # a copy to train, so `model` stays intact
        train_model.load_state_dict(model.state_dict())
        train_model.to(dev).train()
        opt = torch.optim.AdamW(train_model.parameters(), lr=5e-5, weight_decay=0.0)
        x = torch.tensor(train_ids, dtype=torch.long, device=dev)

        def torch_step():
            opt.zero_grad(set_to_none=True)
            loss = train_model(x, labels=x).loss
            loss.backward()
            torch.nn.utils.clip_grad_norm_(train_model.parameters(), 1.0)
            opt.step()
            sync()

        theirs()  # warm-up (PyTorch has no compilation, but first calls allocate)
        torch_step()

    if with_torch:
        t_ours, t_hf = _timeit([ours, theirs], repeats)
        t_step, t_torch = _timeit([our_step, torch_step], repeats)
        out.update(hf_sample_s=t_hf, hf_tok_s=B * N / t_hf, torch_train_step_s=t_torch,
                   torch_threads=torch.get_num_threads())
    else:
        (t_ours,), (t_step,) = _timeit([ours], repeats), _timeit([our_step], repeats)
    out.update(collapsim_sample_s=t_ours, collapsim_tok_s=B * N / t_ours,
               compile_s=max(first_sample - t_ours, 0.0), collapsim_train_step_s=t_step,
               train_compile_s=max(first_step - t_step, 0.0), train_batch=TB, train_len=TL)
    if with_torch:
        out["sample_speedup"] = out["collapsim_tok_s"] / out["hf_tok_s"]
        out["train_step_speedup"] = out["torch_train_step_s"] / out["collapsim_train_step_s"]

    if epoch_sequences > 0:
        ep_ids = rng.integers(0, s["vocab_size"], (epoch_sequences, TL)).astype(np.int32)
        ep_mask = np.ones(ep_ids.shape, bool)
        # fit builds its own jitted step, so the first epoch includes compilation; time the second.
        fit(params, cfg, ep_ids, ep_mask, jax.random.PRNGKey(seed), epochs=1, batch_size=TB, dtype=dtype)
        t0 = time.perf_counter()
        fit(params, cfg, ep_ids, ep_mask, jax.random.PRNGKey(seed + 1), epochs=1, batch_size=TB, dtype=dtype)
        out.update(collapsim_epoch_s=time.perf_counter() - t0, epoch_sequences=epoch_sequences)
    return out


def format_report(r: dict) -> str:
    """A few human-readable lines for a :func:`run_bench` result."""
    lines = [f"GPT-2 '{r['preset']}' (n_embd={r['n_embd']}, n_layer={r['n_layer']}, vocab={r['vocab_size']}) "
             f"on {r['backend']}, {r['dtype']}; batch {r['batch']}, {r['new_tokens']} new tokens",
             f"  collapsim sampler: {r['collapsim_tok_s']:.0f} tok/s ({r['collapsim_sample_s']:.3f} s), "
             f"compile {r['compile_s']:.2f} s"]
    if "hf_tok_s" in r:
        lines.append(f"  HF generate:       {r['hf_tok_s']:.0f} tok/s ({r['hf_sample_s']:.3f} s)  "
                     f"-> collapsim x{r['sample_speedup']:.2f}")
    lines.append(f"  train step [{r['train_batch']}x{r['train_len']}]: collapsim {r['collapsim_train_step_s'] * 1e3:.1f} ms"
                 + (f", PyTorch {r['torch_train_step_s'] * 1e3:.1f} ms -> x{r['train_step_speedup']:.2f}"
                    if "torch_train_step_s" in r else ""))
    if "torch_skipped" in r:
        lines.append(f"  PyTorch reference skipped: {r['torch_skipped']}")
    if "collapsim_epoch_s" in r:
        lines.append(f"  one epoch, {r['epoch_sequences']} sequences: {r['collapsim_epoch_s']:.2f} s")
    return "\n".join(lines)
