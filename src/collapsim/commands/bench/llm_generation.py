"""``collapsim bench llm --generation``: one whole generation of the tiny collapse protocol, against PyTorch.

One generation of one chain, as ``collapsim run gpt2 --preset tiny`` runs it: sample n = 128 texts of 32
words from the model (temperature 1, no truncation), fine-tune 2 epochs on them (batch 16, AdamW lr 1e-3,
gradient clipping 1), then the metrics (256 more texts, the next-token distributions along them, held-out
perplexity on 256 real texts). collapsim: the GPT-2 family's own sample, fit and metrics functions
(:mod:`collapsim.families.llm.family`), after one warm-up generation (compilation excluded and reported apart).
Reference: the same work in PyTorch with Hugging Face ``GPT2LMHeadModel`` from the same weights
(``generate`` with sampling, a plain training loop with ``torch.optim.AdamW``, a forward pass for the
distributions and the perplexity), torch's thread count pinned and printed. Median of ``repeats``.
"""

from __future__ import annotations

import statistics
import time

import numpy as np

from collapsim.commands.bench.timing import median_time
from collapsim.errors import ConfigError


def run_generation_bench(repeats: int = 3, with_torch: bool = True, threads: int = 0, preset: str = "tiny",
                         n: int = 128) -> dict:
    """Seconds per generation for collapsim and (optionally) PyTorch; a flat dict of numbers.

    ``preset`` "micro" (and a small ``n``) makes a seconds-long smoke run for tests."""
    import jax

    from collapsim.families.llm import family as fam
    from collapsim.families.llm import pretrain as P
    from collapsim.gpt2.checkpoint import load_checkpoint
    from collapsim.families.llm.loop import LOOP_PRESETS, _source, pretrain_settings
    from collapsim.engine.policies import get

    p = LOOP_PRESETS[preset]
    src = _source(p)
    folder = P.pretrain(src, P.ModelShape(p.n_layer, p.n_embd, p.n_head), pretrain_settings(p))
    ck = load_checkpoint(folder)
    lm = fam.LMSettings(ck.config, src.vocab, src.eot, p.length, p.epochs, p.batch_size, p.lr, True,
                        eval_texts=p.eval_texts)
    family = fam.gpt2_family(lm)
    params = fam.make_params(src, ck.params)
    policy = get("replace")
    state = {"model": family.init(jax.random.key(0), params), "i": 0}

    parts = {"sample": [], "fit": [], "metrics": []}

    def generation():
        state["i"] += 1
        key = jax.random.key(state["i"])
        t0 = time.perf_counter()
        synthetic = jax.block_until_ready(family.sample(key, state["model"], n, params))
        t1 = time.perf_counter()
        data, _, _ = policy.assemble(None, synthetic, None, None, None, 0.0, 1)
        state["model"] = jax.block_until_ready(family.fit(jax.random.fold_in(key, 1), state["model"], data, None, params))
        t2 = time.perf_counter()
        family.metrics(jax.random.fold_in(key, 2), state["model"], params)  # returns host floats
        t3 = time.perf_counter()
        for name, dt in zip(parts, (t1 - t0, t2 - t1, t3 - t2)):
            parts[name].append(dt)

    t0 = time.perf_counter()
    generation()
    first = time.perf_counter() - t0
    for v in parts.values():
        v.clear()
    ours = median_time(generation, repeats)
    out = {"protocol": f"{preset}: {n} texts x {p.length} words, {p.epochs} epochs batch {p.batch_size}, metrics on "
                       f"{p.eval_texts} texts", "collapsim_s": ours, "collapsim_first_s": first, "repeats": repeats,
           **{f"collapsim_{k}_s": statistics.median(v) for k, v in parts.items()}}
    if with_torch:
        out.update(_torch_generation(folder, src, lm, params, n, repeats, threads))
        out["speedup"] = out["torch_s"] / ours
    return out


def _torch_generation(folder, src, lm, params, n: int, repeats: int, threads: int) -> dict:
    try:
        import torch
        import transformers
    except ImportError:
        raise ConfigError("the PyTorch reference needs torch and transformers (pip install 'collapsim[bench]'); "
                          "or pass --no-torch") from None
    import os

    if not threads:  # the cores this process may use, as XLA's CPU client does
        threads = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    torch.set_num_threads(threads)
    torch.manual_seed(0)
    model = transformers.GPT2LMHeadModel.from_pretrained(str(folder))
    model.config.pad_token_id = src.eot
    opt = torch.optim.AdamW(model.parameters(), lr=lm.lr, weight_decay=0.0)
    held = torch.tensor(np.array(params["heldout"]), dtype=torch.long)
    gen_cfg = dict(do_sample=True, top_k=0, top_p=1.0, temperature=1.0, max_new_tokens=lm.length,
                   min_new_tokens=lm.length, pad_token_id=src.eot)

    def draw(count):
        prompt = torch.full((count, 1), src.eot, dtype=torch.long)
        with torch.no_grad():
            return model.generate(prompt, attention_mask=torch.ones_like(prompt), **gen_cfg)

    def generation():
        model.eval()
        rows = draw(n)
        model.train()
        for _ in range(lm.epochs):
            order = torch.randperm(n)
            for b in range(0, n, lm.batch_size):
                batch = rows[order[b:b + lm.batch_size]]
                loss = model(batch, labels=batch).loss
                opt.zero_grad()
                loss.backward()
                torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
                opt.step()
        model.eval()
        texts = draw(lm.eval_texts)
        with torch.no_grad():
            probs = torch.softmax(model(texts[:, :-1]).logits, -1)[..., :lm.vocab].mean((0, 1))
            ppl = torch.exp(model(held, labels=held).loss)
        return probs, ppl

    generation()  # warm-up, as for collapsim
    return {"torch_s": median_time(generation, repeats), "torch_threads": threads,
            "torch": torch.__version__, "transformers": transformers.__version__}


def format_generation_report(r: dict) -> str:
    lines = [f"one generation of the tiny protocol ({r['protocol']}), median of {r['repeats']}:",
             f"  collapsim   {r['collapsim_s']:.2f} s   (sample {r['collapsim_sample_s']:.2f}, fine-tune "
             f"{r['collapsim_fit_s']:.2f}, metrics {r['collapsim_metrics_s']:.2f}; first call, with compilation: "
             f"{r['collapsim_first_s']:.1f} s)"]
    if "torch_s" in r:
        lines.append(f"  PyTorch     {r['torch_s']:.2f} s   (torch {r['torch']}, {r['torch_threads']} threads, "
                     f"transformers {r['transformers']})")
        lines.append(f"  collapsim / PyTorch speed: {r['speedup']:.2f}x")
    return "\n".join(lines)
