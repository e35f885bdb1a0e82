import pytest

from proofs_check import collapse_time as proofs


@pytest.mark.parametrize("check", proofs.CHECKS, ids=lambda c: c.__name__)
def test_collapse_time_statement_is_proved(check):
    check()
