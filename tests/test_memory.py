"""collapsim.memory: the machine's memory, and refusing estimates that cannot fit (with both numbers)."""

import pytest

from collapsim import memory
from collapsim.errors import ConfigError
from collapsim.gpt2 import sizes


def test_total_ram_matches_proc_meminfo():
    with open("/proc/meminfo") as f:
        kib = next(int(line.split()[1]) for line in f if line.startswith("MemTotal:"))
    assert memory.total_ram_bytes() == pytest.approx(kib * 1024, rel=0.05)
    assert 0 < memory.available_bytes() <= memory.total_ram_bytes()


def test_check_fits_message_and_threshold():
    memory.check_fits(1e9, "x", available=2 * memory.GiB)
    with pytest.raises(ConfigError, match=r"^--batch 7 needs ~3 GiB, this machine has 2 GiB; use a smaller size$"):
        memory.check_fits(3 * memory.GiB, "--batch 7", available=2 * memory.GiB)
    memory.check_fits(1e30, "unknown machine", available=0)  # no number: refuse nothing


class _Small:  # GPT-2 small shapes
    vocab_size, n_positions, n_embd, n_layer, n_head = 50257, 1024, 768, 12, 12


def test_gpt2_small_estimates_are_sane():
    assert sizes.param_count(_Small) == 124_439_808  # Hugging Face's count for gpt2 (head tied)
    # The benchmark's GPU preset (batch 250, 8 + 100 tokens; 16 x 128 training) must not be refused on a
    # 16 GiB machine; a 1e8 batch must be refused anywhere.
    assert sizes.sample_bytes(_Small, 250, 8, 100) < 8 * memory.GiB
    assert sizes.train_bytes(_Small, 16, 128) < 16 * memory.GiB
    assert sizes.sample_bytes(_Small, 10**8, 8, 100) > 1e15
