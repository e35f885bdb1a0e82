"""GPT-2: collapsim's jitted sampler and fine-tuning against Hugging Face generate / a PyTorch loop.

Same model (built with transformers, loaded by collapsim from the saved folder), same batch, same length,
same decoding (top-k 50, temperature 0.8, repetition penalty 1.05), same AdamW / clipping / linear schedule,
timings interleaved in one run, threads matched (--threads, default 1: torch.set_num_threads and this
process's CPU affinity set before JAX's backend starts; both printed).

    python benchmarks/bench_llm.py                     # 2 x 64 and 4 x 256 random GPT-2s on CPU
    python benchmarks/bench_llm.py --threads 2         # both sides on both cores
    python benchmarks/bench_llm.py --preset gpt2-small --bf16 --no-torch   # on a GPU: batch 250, 100 tokens,
                                                                           # plus one epoch on 250 x 128

Equivalent to ``collapsim bench llm``; ``--json`` prints one JSON object.
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from collapsim.commands.launch import main  # noqa: E402

if __name__ == "__main__":
    sys.argv[1:1] = ["bench", "llm"]
    main()
