import pytest

from proofs_check import gaussian as proofs


@pytest.mark.parametrize("check", proofs.CHECKS, ids=lambda c: c.__name__)
def test_gaussian_closed_form_is_proved(check):
    check()
