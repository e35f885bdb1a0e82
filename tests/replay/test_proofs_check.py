"""The machine part of proofs_check/replay_abstraction.py in full (slow); its small sizes are its CHECKS, run by
tests/test_proofs.py."""

import pytest

from proofs_check import replay_abstraction as pa


def test_split_cell_really_splits():
    # The transformation under test must change the partition, or the invariance check proves nothing.
    masks = [0b101, 0b110]
    assert pa.split_cell(masks, 1) == [0b1001, 0b1110]
    assert pa.permute_cells([0b001, 0b110], [2, 1, 0]) == [0b100, 0b011]


@pytest.mark.slow
def test_script_main():
    assert pa.main() == 0


@pytest.mark.slow
def test_every_four_language_certificate():
    assert pa.check_certificates(4, 15) == 1864
