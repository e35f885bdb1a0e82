"""Parsing, cells and validation of hypothesis classes."""

import json

import pytest

from collapsim.errors import ConfigError
from collapsim.replay.classes import load_class, loads_class
from collapsim.replay.games import four_language_class


def test_four_language_cells_match_references():
    # REFERENCES section 5: {<=-3}, -2, -1, 0, 1, 2, {>=3}.
    hc = four_language_class()
    assert [str(c) for c in hc.cells] == ["<=-3", "-2", "-1", "0", "1", "2", ">=3"]
    assert [c.infinite for c in hc.cells] == [True] + [False] * 5 + [True]


def test_every_language_is_a_union_of_cells_with_exact_membership():
    hc = four_language_class()
    truth = {
        "h1-": lambda z: z <= 0 or z == 1, "h2-": lambda z: z <= 0 or z == 2,
        "h1+": lambda z: z >= 0 or z == -1, "h2+": lambda z: z >= 0 or z == -2,
    }
    for i, name in enumerate(hc.names):
        for z in range(-30, 31):
            assert hc.contains(i, z) == truth[name](z), (name, z)


def test_json_round_trip():
    hc = four_language_class()
    again = loads_class(json.dumps(hc.to_json()))
    assert again.masks == hc.masks and again.names == hc.names


def test_finite_universe():
    hc = loads_class('{"universe": [1, 2, "a"], "languages": {"A": [1, 2], "B": ["a"]}}')
    # 1 and 2 lie in exactly the same languages (just A): one cell of size 2.
    assert [str(c) for c in hc.cells] == ["1∪2", "a"] and [c.size for c in hc.cells] == [2, 1]
    assert hc.finite_languages() == ["A", "B"]
    with pytest.raises(ConfigError, match="'A' is finite"):
        hc.require_infinite("element-output generation")


@pytest.mark.parametrize("text, message", [
    ('{"languages": {"a": []}}', "'a' is empty"),
    ('{"languages": {"a": [[3, 1]]}}', "'a'.*empty"),
    ('{"languages": {"a": [[0, null]], "a": [[1, null]]}}', "'a' appears twice"),
    ('{"languages": {"a": [[0, "x"]]}}', "'a'"),
    ('{"languages": {}}', "non-empty"),
    ('{"languages": {"a": [[0, null]]}', "not valid JSON"),
    ('{"universe": [1, 2], "languages": {"a": [3]}}', "'a'.*not an element"),
    ('{"universe": "reals", "languages": {"a": [1]}}', "universe"),
    ('[1, 2]', "expected an object"),
])
def test_bad_input_is_a_config_error_naming_the_problem(text, message):
    with pytest.raises(ConfigError, match=message):
        loads_class(text)


def test_missing_file():
    with pytest.raises(ConfigError, match="cannot read"):
        load_class("/nonexistent/class.json")
