"""Games on concrete elements: the separations of REFERENCES section 5, reproduced by simulation."""

import pytest

from collapsim.errors import ConfigError
from collapsim.replay import games
from collapsim.replay.closure import closure_dimension, uniform_threshold
from collapsim.replay.solver import solve

ROUNDS = 40


def _threshold_round(stream, d):
    return next(t for t in range(1, len(stream) + 1) if len(set(stream[:t])) >= d)


def test_km_fails_infinitely_often_under_replay_on_the_separation_class():
    # Theorem 4.1/5.1: h_inf = positive integers, h_d = {1..d} plus the negative integers.
    hc = games.separation_class(ROUNDS + 1)
    k = hc.names.index("h_inf")
    res = games.play(hc, games.km_generator, games.replay_everything_adversary(k, proper=False), ROUNDS, False)
    assert res.legal[k]
    late = [t for t in res.wrong[k] if t > ROUNDS // 2]
    assert len(late) >= ROUNDS // 4  # keeps failing in the second half: no sign of converging


def test_km_converges_without_replay_on_the_separation_class():
    hc = games.separation_class(ROUNDS + 1)
    k = hc.names.index("h_inf")
    res = games.play(hc, games.km_generator, games.enumeration_adversary(k), ROUNDS, False)
    assert res.replays[k] == [] and res.wrong[k] and max(res.wrong[k]) < ROUNDS // 4


def test_witness_protection_converges_under_replay():
    # Theorem 5.1/6.1: every countable class is generatable in the limit with replay.
    hc = games.separation_class(ROUNDS + 1)
    k = hc.names.index("h_inf")
    res = games.play(hc, games.witness_protection_generator, games.replay_everything_adversary(k, False), ROUNDS, False)
    assert res.legal[k] and max(res.wrong[k], default=0) < ROUNDS // 4


@pytest.mark.parametrize("target", ["h1-", "h2-", "h1+", "h2+"])
def test_burn_in_keeps_the_uniform_generator_right_under_replay(target):
    # Theorem 3.1/4.1: same threshold d = closure dimension + 1 with replay, thanks to burn-in.
    hc = games.four_language_class()
    d = uniform_threshold(hc)
    k = hc.names.index(target)
    res = games.play(hc, games.burn_in(games.closure_generator, d), games.replay_everything_adversary(k, False), 30, False)
    assert res.legal[k]
    assert [t for t in res.wrong[k] if t >= _threshold_round(res.stream, d)] == []


def test_without_burn_in_replay_breaks_the_uniform_generator_somewhere():
    hc = games.four_language_class()
    d = uniform_threshold(hc)
    late_errors = 0
    for k in range(4):
        res = games.play(hc, games.closure_generator, games.replay_everything_adversary(k, False), 30, False)
        late_errors += len([t for t in res.wrong[k] if t >= _threshold_round(res.stream, d)])
    assert late_errors > 0


def test_closure_dimension_of_the_four_language_class_is_three():
    assert closure_dimension(games.four_language_class())[0] == 3


def test_trap_beats_minimal_consistent_hypothesis():
    hc = games.four_language_class()
    res = games.play(hc, games.mch_generator, games.trap_adversary(hc), 30, proper=True)
    assert len(res.targets) == 2 and all(res.legal[k] for k in res.targets)
    # wrong for at least one of the two targets in the second half of the play, every round
    for t in range(16, 31):
        assert any(t in res.wrong[k] for k in res.targets)


def test_certificates_play_out_on_elements():
    fl = games.four_language_class()
    sol = solve(fl)
    res = games.play(fl, games.mch_generator, games.certificate_adversary(sol.strategy), 30, True)
    assert res.targets and all(res.legal[k] for k in res.targets)
    assert any(len([t for t in res.wrong[k] if t > 20]) == 10 for k in res.targets)
    chain = games.parse_class({"languages": {"a": [[5, None]], "b": [[0, None]], "c": [[-9, None]]}})
    gsol = solve(chain)
    for k in range(3):
        res = games.play(chain, games.certificate_generator(gsol.strategy),
                         games.replay_everything_adversary(k, True), 30, True)
        assert res.legal[k] and res.wrong[k] == []


def test_element_games_refuse_finite_languages():
    hc = games.parse_class({"languages": {"fin": [[0, 3]], "inf": [[0, None]]}})
    with pytest.raises(ConfigError, match="'fin' is finite"):
        games.play(hc, games.km_generator, games.enumeration_adversary(1), 5, False)


def test_witness_protection_on_a_class_given_by_membership_only():
    # Theorem 5.1/6.1's generator needs only membership queries; no truncation of the countable class is involved
    # beyond the languages it has looked at.
    hc = games.separation_membership(200)
    k = hc.names.index("h_inf")
    res = games.play(hc, games.witness_protection_generator, games.replay_everything_adversary(k, False), ROUNDS, False)
    assert res.legal[k] and max(res.wrong[k], default=0) < ROUNDS // 4
    # and a finite-target run: h_3 = {1, 2, 3} plus the negatives
    k3 = hc.names.index("h_3")
    res = games.play(hc, games.witness_protection_generator, games.replay_everything_adversary(k3, False), ROUNDS, False)
    assert res.legal[k3] and max(res.wrong[k3], default=0) < ROUNDS // 2


def test_closure_dimension_counts_the_elements_of_merged_cells():
    # a and b share exactly 0..9: one membership cell of ten elements, so the dimension is 10 (not 1).
    hc = games.parse_class({"languages": {"a": [[0, 9], [100, None]], "b": [[0, 9], [None, -100]]}})
    assert hc.n_cells == 3
    assert closure_dimension(hc) == (10, 0b11)


def test_closure_dimension_beyond_twenty_languages():
    # Separation class with 60 languages: h_inf ∩ h_60 = {1..60} is the largest finite intersection.
    hc = games.separation_class(60)
    dim, sub = closure_dimension(hc)
    assert len(hc.names) == 61  # h_1, h_inf, h_2, ..., h_60
    assert dim == 60 and {hc.names[i] for i in range(61) if sub >> i & 1} == {"h_inf", "h_60"}


def test_games_on_classes_far_from_zero_finish_and_converge():
    # Every element lies beyond any bounded search of 0, 1, -1, 2, ...; strategies walk the cells instead.
    big = 10 ** 12
    hc = games.parse_class({"languages": {"far": [[big, None]], "farther": [[2 * big, None], [-5, -5]]}})
    k = hc.names.index("far")
    d = uniform_threshold(hc)
    res = games.play(hc, games.burn_in(games.closure_generator, d), games.replay_everything_adversary(k, False),
                     12, False)
    assert res.legal[k] and all(z >= big for z in res.stream)
    assert [t for t in res.wrong[k] if t >= _threshold_round(res.stream, d)] == []
    fin = games.parse_class({"languages": {"fin": [[3 * big, 3 * big + 2]], "inf": [[big, None]]}})
    res = games.play(fin, games.mch_generator, games.enumeration_adversary(0), 8, True)
    assert res.stream[:3] == [3 * big, 3 * big + 1, 3 * big + 2] and res.stream[3] == 3 * big  # cycles
    assert res.legal[0] and res.wrong[0] == []
