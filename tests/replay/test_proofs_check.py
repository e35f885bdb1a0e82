"""The machine part of proofs_check/replay_abstraction.py runs in the suite (small sizes) and in full (slow)."""

import pytest

from proofs_check import replay_abstraction as pa


def test_reductions_and_certificates_small():
    assert pa.check_reductions(3, 3) > 0
    assert pa.check_certificates(3, 4) > 0


@pytest.mark.slow
def test_script_main():
    assert pa.main() == 0


@pytest.mark.slow
def test_every_four_language_certificate_up_to_seven_cells():
    assert pa.check_certificates(4, 5) > 9000
