"""Named protocols for GPT-2 collapse loops: every constant of a published setup in one place.

``AINEX`` is the "Ainex" GPT-2 study's protocol: generation 0 is 250 real texts;
each generation continues training the same model for 2 epochs (batch 16, AdamW lr 5e-5, length 128),
then samples 250 texts from 10 fixed prompts (up to 100 new tokens, top-k 50, temperature 0.8, repetition
penalty 1.05); the next generation trains only on those samples. 20 generations. Integrity is measured
with all-MiniLM-L6-v2 embeddings in a 3-D PCA fitted on generation 0.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass


@dataclass(frozen=True)
class CollapsePreset:
    """One GPT-2 collapse-loop protocol. Sizes are per generation; ``prompts`` are used round-robin
    (``n_samples / len(prompts)`` samples each)."""

    name: str
    n_real: int              # real texts at generation 0
    min_chars: int           # real texts are lines longer than this
    prompts: tuple[str, ...]
    epochs: int
    batch_size: int
    lr: float
    max_length: int          # training sequence length (tokens)
    n_samples: int           # texts sampled per generation
    max_new_tokens: int
    top_k: int
    temperature: float
    repetition_penalty: float
    generations: int
    seeds: int               # our default; the study ran one
    pca_dims: int            # the score's hull dimension
    lam: float               # our default lambda (the study never states it; 0 = volume only)

    def replace(self, **changes) -> "CollapsePreset":
        return dataclasses.replace(self, **changes)


AINEX = CollapsePreset(
    name="ainex",
    n_real=250,
    min_chars=100,
    # The study names "10 short fixed prompts" without listing them; these are ours (generic openings).
    prompts=("The history of", "In the beginning", "Scientists have found", "The city of", "During the war",
             "The album was", "In the early years", "The game is", "According to the report", "The river"),
    epochs=2,
    batch_size=16,
    lr=5e-5,
    max_length=128,
    n_samples=250,
    max_new_tokens=100,
    top_k=50,
    temperature=0.8,
    repetition_penalty=1.05,
    generations=20,
    seeds=5,
    pca_dims=3,
    lam=0.0,
)

PRESETS = {AINEX.name: AINEX}
