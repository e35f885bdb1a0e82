"""Parsing, membership cells and validation of hypothesis classes."""

import json
import random

import pytest

from collapsim.errors import ConfigError
from collapsim.replay.classes import from_masks, load_class, loads_class
from collapsim.replay.games import four_language_class
from collapsim.replay.search import shape_of
from collapsim.replay.solver import solve


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


# ---------------------------------------------------------------------------------------------------------------
# Cells by membership
# ---------------------------------------------------------------------------------------------------------------

def _member(spec, z):
    """Membership straight from the JSON intervals (not through cells)."""
    for iv in spec:
        lo, hi = (iv, iv) if isinstance(iv, int) else iv
        if (lo is None or z >= lo) and (hi is None or z <= hi):
            return True
    return False


def _random_spec(rng, n_langs, span=12):
    langs = {}
    for i in range(n_langs):
        ivs = []
        for _ in range(rng.randint(1, 3)):
            lo = rng.choice([None, rng.randint(-span, span)])
            hi = rng.choice([None, rng.randint(-span, span)])
            if lo is not None and hi is not None and lo > hi:
                lo, hi = hi, lo
            ivs.append([lo, hi])
        langs[f"L{i}"] = ivs
    return langs


def test_cells_are_exactly_the_membership_classes():
    rng = random.Random(5)
    for _ in range(200):
        langs = _random_spec(rng, rng.randint(1, 4))
        hc = loads_class(json.dumps({"languages": langs}))
        window = range(-40, 41)
        for z in window:
            pattern = tuple(_member(langs[n], z) for n in hc.names)
            i = hc.index_of(z)
            assert (i is None) == (not any(pattern)), (langs, z)
            if i is not None:
                assert tuple(bool(m >> i & 1) for m in hc.masks) == pattern
        # Distinct cells have distinct patterns, and every cell is nonempty with a pattern.
        pats = [tuple(m >> c & 1 for m in hc.masks) for c in range(hc.n_cells)]
        assert len(set(pats)) == len(pats) and all(any(p) for p in pats)


def test_cost_does_not_grow_with_the_span():
    small = loads_class('{"languages": {"a": [[0, null]], "b": [[17, null]], "c": [[null, 3], [5, 9]]}}')
    big = 10 ** 15
    huge = loads_class(json.dumps({"languages": {"a": [[0, None]], "b": [[17 * big, None]],
                                                 "c": [[None, 3 * big], [5 * big, 9 * big]]}}))
    assert huge.masks == small.masks and huge.n_cells == small.n_cells
    assert huge.index_of(6 * big) == huge.index_of(5 * big) != huge.index_of(4 * big)
    # The cell of a and c is [0, 3e15] u [5e15, 9e15]: one cell, its size counted without listing it.
    assert [c.size for c in huge.cells if str(c) == f"0..{3 * big}∪{5 * big}..{9 * big}"] == [7 * big + 2]


def _shift(langs, t):
    return {n: [[None if lo is None else lo + t, None if hi is None else hi + t] for lo, hi in ivs]
            for n, ivs in langs.items()}


def _split_intervals(langs, rng):
    """Cut every finite-ended interval somewhere: the same sets written as more pieces."""
    out = {}
    for n, ivs in langs.items():
        pieces = []
        for lo, hi in ivs:
            if lo is not None and hi is not None and hi > lo:
                m = rng.randint(lo, hi - 1)
                pieces += [[lo, m], [m + 1, hi]]
            else:
                pieces.append([lo, hi])
        out[n] = pieces
    return out


def test_relabelling_shifting_and_splitting_never_change_a_verdict():
    rng = random.Random(7)
    checked = 0
    for _ in range(120):
        langs = _random_spec(rng, rng.randint(2, 4), span=6)
        base_hc = loads_class(json.dumps({"languages": langs}))
        base = solve(base_hc).generatable
        names = list(langs)
        rng.shuffle(names)
        relabelled = {f"renamed-{i}": langs[n] for i, n in enumerate(names)}
        variants = [relabelled, _shift(langs, rng.randint(-10 ** 9, 10 ** 9)), _split_intervals(langs, rng)]
        for v in variants:
            hc = loads_class(json.dumps({"languages": v}))
            assert solve(hc).generatable == base, (langs, v)
            if len(hc.masks) <= 5 and len(set(hc.masks)) == len(hc.masks):
                assert shape_of(hc) == shape_of(base_hc)
        # Splitting a cell into equal-membership pieces at the level of the partition (no merging back).
        masks, n = list(base_hc.masks), base_hc.n_cells
        c = rng.randrange(n)
        split = [(m & ((1 << (c + 1)) - 1)) | ((m >> c & 1) << (c + 1)) | (m >> (c + 1)) << (c + 2) for m in masks]
        layout = [True] + [False] * (n - 1) + [True]
        assert solve(from_masks(split, layout)).generatable == base
        checked += 1
    assert checked == 120


# ---------------------------------------------------------------------------------------------------------------
# Malformed files: one ConfigError each
# ---------------------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("data, message", [
    (b'\xff\xfe{"languages": {}}', "not UTF-8"),
    (b'{"languages": {"a": [[0, null]]}, "universe": "integers"' + b'}', None),
    (b"[" * 50_000 + b"]" * 50_000, "nested too deeply"),
    (b'{"languages": {"a": [' + b"9" * 5000 + b']}}', "not a usable JSON"),
    (json.dumps({"languages": {"a": [[i, i] for i in range(0, 300_000, 2)]}}).encode(), "at most"),
    (json.dumps({"languages": {f"l{i}": [[0, None]] for i in range(5000)}}).encode(), "at most"),
    (b'{"languages": {"a": [[0, 1.5]]}}', "not an interval"),
    (b'{"languages": {"a": [[0, NaN]]}}', "not an interval"),
], ids=["latin1", "valid", "nesting", "long-integer", "many-intervals", "many-languages", "float", "nan"])
def test_malformed_files_are_config_errors(tmp_path, data, message):
    p = tmp_path / "c.json"
    p.write_bytes(data)
    if message is None:
        assert load_class(str(p)).n_cells == 1
        return
    with pytest.raises(ConfigError, match=message):
        load_class(str(p))


def test_directory_is_not_a_class(tmp_path):
    with pytest.raises(ConfigError, match="cannot read"):
        load_class(str(tmp_path))
