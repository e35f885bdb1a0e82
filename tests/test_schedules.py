import numpy as np
import pytest

from collapsim.errors import ConfigError
from collapsim.engine.schedules import Schedule, parse_alpha, parse_schedule

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


def test_values_are_the_formulas_bit_for_bit():
    """The parsed form computes alpha_t in float64 exactly as the formulas read (metrics depend on each bit)."""
    t64 = np.arange(1, 7, dtype=np.float64)
    assert parse_schedule("0.5/t^0.7").values(6).tobytes() == (0.5 / t64**0.7).tobytes()
    assert parse_schedule("geom:0.5:0.9").values(6).tobytes() == (0.5 * 0.9 ** (t64 - 1)).tobytes()
    assert parse_schedule("0.2,0.1").values(4).tobytes() == np.array([0.2, 0.1, 0.1, 0.1]).tobytes()
    assert parse_schedule("0.3").values(3).dtype == np.float64


def test_a_schedule_keeps_its_spelling_and_is_read_once():
    s = parse_schedule(" 0.5/t ")
    assert s == Schedule(" 0.5/t ", "power", (0.5, 1.0)) and str(s) == " 0.5/t "
    assert s.values(2).tolist() == [0.5, 0.25] and s.values(3).tolist() == [0.5, 0.25, 0.5 / 3]


@pytest.mark.parametrize("value", [0, 0.1, 0.3, 1 / 3, 1.0, np.float64(0.25)])
def test_a_constant_is_the_schedule_its_repr_spells(value):
    """A sweep's alpha axis makes its schedules directly; they equal the ones read from the spelling it writes."""
    s = Schedule.constant(value)
    assert s == parse_schedule(repr(float(value))) and s.spelling == repr(float(value))


@pytest.mark.parametrize("spec", ["abc", "geom:0.5", "", "0.1,,0.2", "1/x"])
def test_text_that_is_no_schedule_is_refused_when_read(spec):
    with pytest.raises(ConfigError):
        parse_schedule(spec)


@pytest.mark.parametrize("spec,generations", [("1.5", 1), ("2/t", 1), ("0.1,0.2,0.3", 2), ("0.5/t^-1", 6)])
def test_values_out_of_range_are_refused_for_the_generations_asked(spec, generations):
    """Range and list length depend on T: read fine, refused when evaluated (0.5/t^-1 is 1 at t = 2, 1.5 at 3)."""
    s = parse_schedule(spec)
    with pytest.raises(ConfigError, match="alpha"):
        s.values(generations)
