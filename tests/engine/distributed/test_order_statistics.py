"""Exact order statistics of a partitioned background (engine.distributed.order_statistics):
one round (top-K) and two rounds (sketch, windows) against the whole sorted background at
every rank, hand-computed payloads with ties and +inf, and the refusals."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from hepfm_core.engine.distributed.order_statistics import (
    RankTable,
    Window,
    merge_top,
    merge_windows,
    plan_windows,
    sketch_scores,
    top_scores,
    window_scores,
)
from hepfm_core.engine.metrics.roc import RankedScore, prepare_background

from .test_partitions import SETTINGS, cut, random_sizes, scores


@SETTINGS
@given(
    bkg=scores(120),
    n_parts=st.integers(1, 7),
    seed=st.integers(0, 2**32 - 1),
    points=st.integers(1, 12),
)
def test_selection_equals_the_sorted_background_at_every_rank(bkg, n_parts, seed, points):
    rng = np.random.default_rng(seed)
    refs = [prepare_background(p) for p in cut(bkg, random_sizes(rng, bkg.size, n_parts))]
    whole = prepare_background(bkg)
    ranks = range(1, bkg.size + 1)
    k = bkg.size
    by_top = merge_top([top_scores(r, k) for r in refs], ranks)
    windows = plan_windows([sketch_scores(r, k, points) for r in refs], ranks)
    by_window = merge_windows([window_scores(r, windows) for r in refs], windows)
    for rank in ranks:
        assert by_top.at_rank(rank) == whole.at_rank(rank)
        assert by_window.at_rank(rank) == whole.at_rank(rank)
    # A smaller top is enough for the ranks up to it, ties at its cut included.
    small = rng.integers(1, bkg.size + 1) if bkg.size else 0
    table = merge_top([top_scores(r, small) for r in refs], range(1, small + 1))
    for rank in range(1, small + 1):
        assert table.at_rank(rank) == whole.at_rank(rank)


def test_selection_refuses_what_it_cannot_answer():
    refs = [prepare_background(np.arange(10.0)), prepare_background(np.arange(5.0))]
    with pytest.raises(ValueError, match="top 3 scores of 10"):
        merge_top([top_scores(r, 3) for r in refs], [4])
    with pytest.raises(ValueError, match="sketched its top 3"):
        plan_windows([sketch_scores(r, 3) for r in refs], [4])
    with pytest.raises(ValueError, match=r"ranks must lie in 1\.\.15"):
        merge_top([top_scores(r, 20) for r in refs], [16])
    table = merge_top([top_scores(r, 4) for r in refs], [4])
    with pytest.raises(KeyError, match="rank 2 of the background was not selected"):
        table.at_rank(2)
    assert RankTable(n=0).n == 0


# -- one round ------------------------------------------------------------------------------
def test_top_scores_ship_the_largest_and_count_the_ties_left_out():
    ref = prepare_background(np.array([1.0, 3.0, 3.0, 3.0, 0.0]))
    top = top_scores(ref, 2)
    assert (top.n, top.values.tolist(), top.extra_at_cut) == (5, [3.0, 3.0], 1)
    assert not top.values.flags.writeable and top.nbytes == 2 * 8 + 16
    assert top_scores(ref, 4).extra_at_cut == 0  # every 3 shipped
    assert top_scores(ref, 9).values.tolist() == [3.0, 3.0, 3.0, 1.0, 0.0]
    empty = top_scores(ref, 0)
    assert empty.values.size == 0 and empty.extra_at_cut == 0
    with pytest.raises(ValueError, match="k must be >= 0, got -1"):
        top_scores(ref, -1)


def test_merge_top_with_infinities_and_an_empty_partition():
    parts = [np.array([np.inf, np.inf, 1.0]), np.array([]), np.array([np.inf, 2.0, 2.0])]
    tops = [top_scores(prepare_background(p), 4) for p in parts]
    table = merge_top(tops, [1, 3, 4])
    assert table.n == 6
    assert table.at_rank(1) == RankedScore(math.inf, 0, 3)
    assert table.at_rank(3) == RankedScore(math.inf, 0, 3)
    assert table.at_rank(4) == RankedScore(2.0, 3, 5)
    assert merge_top(tops, []).ranked == {}
    # the 2nd largest of [inf, 2, 2, 2, 1] is a 2 shipped once: two more travel as a count
    tops = [
        top_scores(prepare_background(p), 2) for p in (np.array([np.inf, 1.0]), np.full(3, 2.0))
    ]
    assert tops[1].extra_at_cut == 1
    assert merge_top(tops, [2]).at_rank(2) == RankedScore(2.0, 1, 4)


# -- two rounds -----------------------------------------------------------------------------
def test_sketch_by_hand():
    ref = prepare_background(np.arange(1.0, 11.0))  # 1 .. 10
    sk = sketch_scores(ref, 10, points=3)  # stride ceil(10 / 3) = 4, and the last rank
    assert sk.ranks.tolist() == [4, 8, 10] and sk.values.tolist() == [7.0, 3.0, 1.0]
    assert sk.nbytes == 16 * 3 + 8
    sk = sketch_scores(ref, 6, points=100)  # stride 1 over the top 6
    assert sk.ranks.tolist() == [1, 2, 3, 4, 5, 6] and sk.values.tolist()[0] == 10.0
    assert sketch_scores(ref, 0).ranks.size == 0
    for k, points in ((-1, 4), (4, 0)):
        with pytest.raises(ValueError, match="need k >= 0 and points >= 1"):
            sketch_scores(ref, k, points)


@SETTINGS
@given(
    bkg=scores(120),
    n_parts=st.integers(1, 7),
    seed=st.integers(0, 2**32 - 1),
    points=st.integers(1, 12),
)
def test_every_window_holds_its_ranks_score(bkg, n_parts, seed, points):
    rng = np.random.default_rng(seed)
    refs = [prepare_background(p) for p in cut(bkg, random_sizes(rng, bkg.size, n_parts))]
    descending = np.sort(bkg)[::-1]
    ranks = range(1, bkg.size + 1)
    for w in plan_windows([sketch_scores(r, bkg.size, points) for r in refs], ranks):
        assert w.lo <= descending[w.rank - 1] <= w.hi, w


def test_window_scores_by_hand():
    ref = prepare_background(np.array([1.0, 2.0, 2.0, 3.0, 5.0, 5.0, 8.0]))
    got = window_scores(ref, [Window(rank=3, lo=2.0, hi=5.0), Window(rank=1, lo=8.0, hi=8.0)])
    assert got.n == 7
    assert got.above.tolist() == [1, 0]  # 8 above 5; nothing above 8
    assert got.at_hi.tolist() == [2, 1]
    assert got.at_lo.tolist() == [2, 0]  # lo == hi: the ties count once, at hi
    assert [v.tolist() for v in got.inside] == [[3.0], []]
    assert got.nbytes == 3 * 2 * 8 + 8 + 8
    # descending 8, 5, 5, 3, ...: rank 3 is the tie at hi, rank 4 the score inside
    assert merge_windows([got], [Window(3, 2.0, 5.0)]).at_rank(3) == RankedScore(5.0, 1, 3)
    assert merge_windows([got], [Window(4, 2.0, 5.0)]).at_rank(4) == RankedScore(3.0, 3, 4)
    assert merge_windows([got], [Window(6, 2.0, 5.0)]).at_rank(6) == RankedScore(2.0, 4, 6)


def test_a_window_not_planned_for_these_partitions_is_refused():
    ref = prepare_background(np.arange(10.0))
    wrong = [Window(rank=2, lo=0.0, hi=3.0)]  # the 2nd largest, 8, lies above it
    with pytest.raises(ValueError, match=r"does not hold rank 2"):
        merge_windows([window_scores(ref, wrong)], wrong)
    low = [Window(rank=2, lo=9.0, hi=9.0)]  # only 9 inside: rank 2 is below the window
    with pytest.raises(ValueError, match=r"does not hold rank 2"):
        merge_windows([window_scores(ref, low)], low)
    assert plan_windows([sketch_scores(ref, 3)], []) == ()
    assert RankTable(n=3).ranked == {}
