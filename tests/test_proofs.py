"""Every module of ``proofs_check/`` runs its checks: the modules are discovered (pkgutil over the package),
so a new one is never silently skipped, and one without a ``CHECKS`` list fails here."""

import importlib
import pkgutil

import pytest

import proofs_check

MODULES = sorted(m.name for m in pkgutil.iter_modules(proofs_check.__path__))


def _checks():
    for name in MODULES:
        checks = getattr(importlib.import_module(f"proofs_check.{name}"), "CHECKS", None)
        if not checks:  # one failing case that names the module
            yield pytest.param(name, checks, id=f"{name}-without-CHECKS")
            continue
        for check in checks:
            yield pytest.param(name, check, id=f"{name}.{getattr(check, '__name__', repr(check))}")


@pytest.mark.parametrize("module,check", list(_checks()))
def test_every_proofs_check(module, check):
    assert check, (f"proofs_check/{module}.py has no CHECKS (a list of its check functions, each raising "
                   f"AssertionError on a failure): the suite would never run it")
    assert callable(check), f"proofs_check/{module}.py: CHECKS holds {check!r}, not a function"
    check()


def test_the_package_was_found():
    """Discovery itself: the modules the proofs are known to live in are among those found."""
    assert {"categorical", "gaussian", "kde", "regression", "collapse_time"} <= set(MODULES), MODULES
