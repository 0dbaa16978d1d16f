"""Position keys (doable/positions.py): what an append's random tiebreak digits promise."""

from __future__ import annotations

from collections import Counter

from hypothesis import given
from hypothesis import strategies as st

from doable import positions


def _keys() -> st.SearchStrategy[str]:
    """Keys as the lists make them: steps and midpoints from the first key."""

    def walk(moves: list[int]) -> str:
        key = positions.between(None, None)
        for move in moves:
            if move == 0:
                key = positions.between(key, None)
            elif move == 1:
                key = positions.between(None, key)
            else:
                key = positions.between(key, positions.between(key, None))
        return key

    return st.lists(st.integers(0, 2), max_size=30).map(walk)


@given(_keys())
def test_tiebroken_keys_stay_between_the_neighbours(key: str) -> None:
    after = positions.between(key, None)
    for _ in range(20):
        broken = positions.tiebroken(key)
        assert broken.startswith(key) and len(broken) == len(key) + positions.TIEBREAK
        assert set(broken) <= set(positions.DIGITS) and broken[-1] != "0"
        assert key < broken
        if not after.startswith(key):  # the promise: before what `key` is before, unprefixed
            assert broken < after
        assert positions.between(key, broken) < broken  # a key still fits before it


def test_every_tiebreak_digit_is_drawn_and_the_last_is_never_zero() -> None:
    drawn = [positions.tiebroken("i")[1:] for _ in range(20_000)]
    for place in range(positions.TIEBREAK - 1):
        seen = Counter(d[place] for d in drawn)
        assert set(seen) == set(positions.DIGITS), place
        assert max(seen.values()) < 3 * min(seen.values()), (place, seen)
    last = Counter(d[-1] for d in drawn)
    assert set(last) == set(positions.DIGITS[1:])
    assert len(set(drawn)) > 19_900  # 2.1e9 choices: repeats are rare
