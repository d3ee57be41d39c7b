"""The percentile of recent prioritization fees, in integers (micro-lamports per CU)."""

import pytest

from kernel.chain.rpc import nearest_rank


def test_it_picks_the_nearest_rank():
    fees = list(range(1, 101))  # 1..100
    assert nearest_rank(fees, 75) == 75
    assert nearest_rank(fees, 95) == 95
    assert nearest_rank(fees, 100) == 100


def test_it_rounds_the_rank_up_so_a_few_slots_still_give_a_high_percentile():
    assert nearest_rank([0, 0, 10, 5_000], 75) == 10
    assert nearest_rank([0, 0, 10, 5_000], 95) == 5_000
    assert nearest_rank([7], 1) == 7


def test_it_answers_zero_for_no_slots_and_refuses_a_percentile_out_of_range():
    assert nearest_rank([], 95) == 0
    with pytest.raises(ValueError):
        nearest_rank([1], 0)
    with pytest.raises(ValueError):
        nearest_rank([1], 101)
