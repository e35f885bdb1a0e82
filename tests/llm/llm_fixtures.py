"""Helpers for the llm tests: a tiny random GPT-2 checkpoint folder and tokenizer, built here (no network).

The tokenizer is a small byte-level BPE trained on a few sentences; the model is a random
``GPT2LMHeadModel`` when transformers is installed, else random collapsim parameters saved in the same
Hugging Face format.
"""

import json
import os

import pytest

SENTENCES = [
    "the quick brown fox jumps over the lazy dog",
    "model collapse happens when models train on their own output",
    "a theory simulator compares curves with closed forms",
    "wikitext lines are longer than one hundred characters",
    "sampling with temperature top k and top p cuts the tails",
] * 4
VOCAB = 300
EOS = "<|endoftext|>"

TINY = dict(vocab_size=VOCAB, n_positions=64, n_embd=32, n_layer=2, n_head=4)


def build_tokenizer(path):
    """Train a byte-level BPE (GPT-2 style pre-tokeniser and decoder) and save it as tokenizer.json."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=VOCAB, special_tokens=[EOS],
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False)
    tok.train_from_iterator(SENTENCES, trainer)
    tok.save(str(path))
    return tok.token_to_id(EOS)


@pytest.fixture(scope="session")
def tiny_ckpt(tmp_path_factory):
    """Folder with config.json, model.safetensors and tokenizer.json of a tiny random GPT-2."""
    folder = tmp_path_factory.mktemp("tiny_gpt2")
    eos = build_tokenizer(folder / "tokenizer.json")
    try:
        import torch
        from transformers import GPT2Config, GPT2LMHeadModel
    except ImportError:
        import jax

        from collapsim.gpt2.checkpoint import save_checkpoint
        from collapsim.gpt2.model import config_from_dict, init_params

        d = dict(TINY, model_type="gpt2", bos_token_id=eos, eos_token_id=eos)
        cfg = config_from_dict(d)
        save_checkpoint(folder, init_params(cfg, jax.random.PRNGKey(0), std=0.2), cfg, d,
                        folder / "tokenizer.json")
        return folder
    torch.manual_seed(0)
    # Larger-than-default init so logits are far from uniform and greedy choices are not near-ties.
    model = GPT2LMHeadModel(GPT2Config(**TINY, bos_token_id=eos, eos_token_id=eos, initializer_range=0.2))
    model.save_pretrained(str(folder), safe_serialization=True)
    return folder


def hf_available():
    try:
        import torch  # noqa: F401
        import transformers  # noqa: F401
    except ImportError:
        return False
    return True


if os.environ.get("CI") and not hf_available():
    # CI installs the test extra, so a missing reference there is a broken install, not a reason to skip.
    raise RuntimeError("CI is set but torch/transformers are missing: the parity tests would silently skip")

requires_hf = pytest.mark.skipif(
    not hf_available(),
    reason="parity tests need torch==2.13.0 and transformers (pip install -e '.[test]'); they are absent here",
)


def read_config(folder):
    return json.loads((folder / "config.json").read_text())
