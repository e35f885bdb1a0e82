import numpy as np
import pytest

from collapsim.errors import ConfigError
from collapsim.engine.schedules import parse_alpha

t = np.arange(1, 7)


@pytest.mark.parametrize(
    "spec,expected",
    [
        ("0.3", np.full(6, 0.3)),
        ("0", np.zeros(6)),
        ("1/t", 1 / t),
        ("0.5/t", 0.5 / t),
        ("0.8/t^0.5", 0.8 / t**0.5),
        ("geom:0.5:0.9", 0.5 * 0.9 ** (t - 1)),
        ("0.5,0.3", np.array([0.5, 0.3, 0.3, 0.3, 0.3, 0.3])),
    ],
)
def test_schedules(spec, expected):
    np.testing.assert_allclose(parse_alpha(spec, 6), expected)


@pytest.mark.parametrize("spec", ["1.5", "-0.1", "2/t", "abc", "geom:0.5", "0.1,0.2,0.3,0.4,0.5,0.6,0.7", "",
                                  "0.1,,0.2", "0.1,", ",0.1", " , "])
def test_bad_schedules(spec):
    with pytest.raises(ConfigError):
        parse_alpha(spec, 6)
