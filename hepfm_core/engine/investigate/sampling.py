"""Which events a whole-sample view reads, and who they are: a sample's rows drawn in whole
blocks of consecutive events (neighbours share a compressed chunk), a large selection cut
to a bounded number of blocks, the words saying so, and the events' identity columns."""

from __future__ import annotations

import numpy as np

from ...data.hepfm_format import read_identity
from ...data.rows import spans
from ...data.samples import Sample

__all__ = [
    "BLOCK_EVENTS",
    "ID_COLUMNS",
    "MAX_EVENTS",
    "SEED",
    "identities_of",
    "identity_columns",
    "sample_rows",
    "sampling_note",
    "subsample_in_blocks",
]


MAX_EVENTS = 20_000
"""Events per sample the whole-sample views read at most."""


BLOCK_EVENTS = 512
"""Consecutive events per randomly drawn block of a sampled sample."""


SEED = 20_240_614
"""The seed of the drawn blocks (fixed: the same events every time)."""


ID_COLUMNS = ("run_number", "event_number", "mc_channel_number")
"""The identity columns an exported id list holds, where the data have them."""


def identity_columns(sample: Sample, rows: np.ndarray) -> dict[str, np.ndarray] | None:
    """The identity columns (run and event number, ...) of ``rows`` of ``sample``, row for
    row, or None when the data store none (upstream data, older files, an array).

    The one place event identity comes in (``data.hepfm_format.read_identity``, read per
    range of nearby rows): the event details, the JSON of ``hepfm events`` and the exported
    id list follow it. Columns in the order of :data:`ID_COLUMNS`, then the others.
    """
    r = np.asarray(rows, dtype=np.int64).reshape(-1)
    wanted, back = np.unique(r, return_inverse=True)
    ranges = spans(wanted)
    # the file opened once for every range of nearby rows (scattered events: one each)
    got = read_identity(sample, [slice(start, stop) for start, stop in ranges])
    if got is None:
        return None
    # the wanted rows' places in the concatenated ranges
    lengths = np.array([stop - start for start, stop in ranges], dtype=np.int64)
    firsts = np.array([start for start, _ in ranges], dtype=np.int64)
    offsets = np.r_[0, np.cumsum(lengths)[:-1]] if ranges else lengths
    which = np.searchsorted(firsts, wanted, side="right") - 1
    at = offsets[which] + (wanted - firsts[which]) if ranges else wanted
    order = sorted(got, key=lambda c: (ID_COLUMNS.index(c) if c in ID_COLUMNS else 9, c))
    return {name: np.asarray(got[name])[at][back.reshape(-1)] for name in order}


def identities_of(sample: Sample, rows: np.ndarray) -> list[dict[str, int]] | None:
    """:func:`identity_columns` as one dict per row (None when the data store none)."""
    columns = identity_columns(sample, rows)
    if columns is None:
        return None
    n = int(np.asarray(rows).size)
    return [{name: int(col[i]) for name, col in columns.items()} for i in range(n)]


def sample_rows(
    n_events: int, max_events: int = MAX_EVENTS, seed: int = SEED, block: int = BLOCK_EVENTS
) -> np.ndarray:
    """Sorted rows to read of a sample of ``n_events``: all of them up to ``max_events``,
    else ``floor(max_events / block)`` (at least one) whole blocks of ``block`` consecutive
    events drawn without replacement with ``seed``.

    >>> from hepfm_core.engine.investigate.sampling import sample_rows
    >>> sample_rows(5, 10).tolist()
    [0, 1, 2, 3, 4]
    >>> rows = sample_rows(100_000, 2_000, block=500)
    >>> rows.size, bool((rows[1:] > rows[:-1]).all())
    (2000, True)
    """
    if n_events <= max_events:
        return np.arange(n_events, dtype=np.int64)
    n_blocks = -(-n_events // block)
    k = min(max(max_events // block, 1), n_blocks)
    chosen = np.sort(np.random.default_rng(seed).choice(n_blocks, size=k, replace=False))
    rows = (chosen[:, None] * block + np.arange(block)[None, :]).reshape(-1)
    return rows[rows < n_events].astype(np.int64)


def subsample_in_blocks(
    events: np.ndarray,
    max_events: int,
    seed: int = SEED,
    block: int = BLOCK_EVENTS,
    max_blocks: int | None = None,
) -> np.ndarray:
    """At most ``max_events`` of the sorted ``events``, in at most ``max_blocks`` blocks:
    every selected event of whole blocks of ``block`` consecutive event indices, the blocks
    drawn at random with ``seed`` (the last one cut to fit). Why blocks: a large selection's
    events are read from the file for their track statistics, and neighbours share a
    compressed block; drawn one by one, 20,000 events of a dense selection touch every block
    of a 2.7 M-event sample. Why ``max_blocks``: a sparse selection (a narrow score range
    over millions of events) has about one event per block, so the blocks read, not the
    events, set the time.

    >>> import numpy as np
    >>> from hepfm_core.engine.investigate.sampling import subsample_in_blocks
    >>> picked = subsample_in_blocks(np.arange(0, 100_000, 2), 1_000, block=512)
    >>> picked.size, bool(np.all(np.diff(picked) > 0)), bool(np.all(picked % 2 == 0))
    (1000, True, True)
    >>> np.unique(picked // 512).size  # 256 selected events per block: 4 blocks
    4
    >>> sparse = np.arange(0, 1_000_000, 1_000)  # one event per block of 512
    >>> subsample_in_blocks(sparse, 20_000, block=512, max_blocks=100).size
    100
    """
    events = np.asarray(events)
    groups = events // block
    starts = np.flatnonzero(np.r_[True, groups[1:] != groups[:-1]]) if events.size else events
    if events.size <= max_events and (max_blocks is None or starts.size <= max_blocks):
        return events
    stops = np.r_[starts[1:], events.size]
    order = np.random.default_rng(seed).permutation(starts.size)
    taken = np.cumsum((stops - starts)[order])
    n_groups = int(np.searchsorted(taken, max_events)) + 1
    if max_blocks is not None:
        n_groups = min(n_groups, max_blocks)
    chosen = np.sort(order[:n_groups])
    picked = np.concatenate([events[starts[g] : stops[g]] for g in chosen])
    if picked.size > max_events:  # the last block drawn, cut at random to fit
        last = order[n_groups - 1]
        keep_last = (stops[last] - starts[last]) - (picked.size - max_events)
        cut = np.sort(
            np.random.default_rng(seed + 1).choice(
                np.arange(starts[last], stops[last]), keep_last, replace=False
            )
        )
        rest = np.concatenate(
            [events[starts[g] : stops[g]] for g in chosen if g != last] or [events[:0]]
        )
        picked = np.sort(np.concatenate([rest, events[cut]]))
    return picked


def sampling_note(
    n_events: int, rows: np.ndarray, seed: int = SEED, block: int = BLOCK_EVENTS
) -> str:
    """Which events a whole-sample view read, in words."""
    if rows.size == n_events:
        return f"all {n_events} events"
    return (
        f"{rows.size} of {n_events} events: whole blocks of {block} consecutive events drawn"
        f" at random (seed {seed})"
    )
