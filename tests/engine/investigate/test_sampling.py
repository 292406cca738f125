"""Which events a whole-sample view reads: rows drawn in whole blocks, a selection cut to a
bounded number of blocks, the words saying so (the identity columns: test_detail.py)."""

from __future__ import annotations

import numpy as np

from hepfm_core.engine.investigate.sampling import sample_rows, sampling_note


def test_a_small_sample_is_read_whole_and_a_large_one_in_seeded_whole_blocks():
    assert sample_rows(7, max_events=10).tolist() == list(range(7))
    rows = sample_rows(100_003, max_events=2_000, seed=3, block=500)
    blocks = np.unique(rows // 500)
    assert blocks.size == 4 and rows.size == 2_000  # four whole blocks of 500
    for b in blocks:  # each block whole and consecutive
        assert np.array_equal(rows[(rows // 500) == b], np.arange(b * 500, b * 500 + 500))
    assert np.array_equal(rows, sample_rows(100_003, max_events=2_000, seed=3, block=500))
    assert not np.array_equal(rows, sample_rows(100_003, max_events=2_000, seed=4, block=500))
    # the last block is cut at the sample's end; at least one block however small the budget
    tail = sample_rows(1_050, max_events=100, seed=0, block=500)
    assert tail.size in (50, 500) and tail.max() < 1_050


def test_the_note_says_all_or_how_the_blocks_were_drawn():
    assert sampling_note(5, np.arange(5)) == "all 5 events"
    note = sampling_note(10_000, np.arange(1_024), seed=9, block=512)
    assert note.startswith("1024 of 10000 events") and "512 consecutive" in note
    assert "seed 9" in note


def test_a_large_selection_is_subsampled_in_whole_blocks():
    from hepfm_core.engine.investigate.sampling import subsample_in_blocks

    rng = np.random.default_rng(4)
    dense = np.sort(rng.choice(2_000_000, 600_000, replace=False))
    picked = subsample_in_blocks(dense, 20_000, seed=7, block=512)
    assert picked.size == 20_000 and np.all(np.diff(picked) > 0)
    assert np.isin(picked, dense).all()
    # whole blocks: every selected event of each block drawn but the last is taken
    blocks = np.unique(picked // 512)
    full = np.isin(dense // 512, blocks)
    assert full.sum() - picked.size < 512 and blocks.size <= 20_000 // 100 + 1
    # reproducible, and a small selection is left whole
    assert np.array_equal(picked, subsample_in_blocks(dense, 20_000, seed=7, block=512))
    assert np.array_equal(subsample_in_blocks(dense[:500], 20_000), dense[:500])


def test_a_sparse_selection_reads_a_bounded_number_of_blocks():
    from hepfm_core.engine.investigate.sampling import subsample_in_blocks

    rng = np.random.default_rng(5)
    # a narrow score range over 2.7 M events: about one event per block of 512
    sparse = np.sort(rng.choice(2_700_000, 8_000, replace=False))
    picked = subsample_in_blocks(sparse, 20_000, seed=7, block=512, max_blocks=300)
    blocks = np.unique(picked // 512)
    assert blocks.size == 300 and np.all(np.diff(picked) > 0)
    # every selected event of the blocks drawn, nothing else
    assert np.array_equal(picked, sparse[np.isin(sparse // 512, blocks)])
    # under both bounds: whole
    assert np.array_equal(subsample_in_blocks(sparse[:200], 20_000, max_blocks=300), sparse[:200])
