"""GPT-2: collapsim's jitted sampler and train step against Hugging Face generate / PyTorch.

Same model (built with transformers, loaded by collapsim from the saved folder), same batch, same length,
same decoding (top-k 50, temperature 0.8, repetition penalty 1.05), timings interleaved in one run.

    python benchmarks/bench_llm.py                     # tiny model on CPU (the default off-GPU)
    python benchmarks/bench_llm.py --preset gpt2-small --bf16 --no-torch   # on a GPU: batch 250, 100 tokens,
                                                                           # plus one epoch on 250 x 128

Equivalent to ``collapsim bench llm``; ``--json`` prints one JSON object.
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from collapsim.cli import main  # noqa: E402

if __name__ == "__main__":
    main(["bench", "llm", *sys.argv[1:]])
