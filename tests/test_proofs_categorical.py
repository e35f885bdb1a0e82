import pytest

from proofs_check import categorical as proofs


@pytest.mark.parametrize("check", proofs.CHECKS, ids=lambda c: c.__name__)
def test_categorical_exact_statement_is_proved(check):
    check()
