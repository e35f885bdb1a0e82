"""Model families. Each module exposes a factory returning a :class:`collapsim.engine.Family`.

``REGISTRY`` maps a name to ``(build, default_params)`` with small settings; the contract test
(``tests/test_engine_contract.py``) runs every entry through every policy, method and driver, so a new
family is covered the moment it is registered here. The command-line layer has its own registry of runnable
families with their options and theory (:mod:`collapsim.registry`).
"""

from collapsim.families import categorical as _categorical
from collapsim.families import gaussian as _gaussian
from collapsim.families import gmm as _gmm
from collapsim.families import kde as _kde
from collapsim.families import regression as _regression

REGISTRY = {
    "gaussian": (lambda: _gaussian.gaussian(1, "full", 1), lambda: _gaussian.default_params(1)),
    "gaussian-3d-full": (lambda: _gaussian.gaussian(3, "full", 0), lambda: _gaussian.default_params(3)),
    "gaussian-3d-isotropic": (lambda: _gaussian.gaussian(3, "isotropic", 1), lambda: _gaussian.default_params(3)),
    "categorical": (lambda: _categorical.categorical(12), lambda: _categorical.make_params(_categorical.zipf_truth(12))),
    "categorical-decoded": (
        lambda: _categorical.categorical(12, top_k=6, tempered=True, nucleus=True),
        lambda: _categorical.make_params(_categorical.zipf_truth(12), temperature=0.8, top_p=0.9, smoothing=0.5),
    ),
    # one cheap configuration each (the contract test compiles every policy x driver for every entry);
    # the other settings run 200 generations at their smallest n in the contract test's slow set
    "regression": (lambda: _regression.regression(3, 12), lambda: _regression.default_params(3)),
    "kde": (lambda: _kde.kde(1, 12), lambda: _kde.make_params("gaussian", 1, 0.3)),
    "gmm": (lambda: _gmm.gmm(1, 2, "diag", "warm", 10), lambda: _gmm.make_params(*_gmm.two_component_truth(1), holdout_size=64)),
}
