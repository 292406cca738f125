from __future__ import annotations

import gc

from hepfm_core.common.collector import freeze_long_lived


class Node:
    pass


def _nodes_in_generations() -> list[Node]:
    return [o for o in gc.get_objects() if isinstance(o, Node)]


def test_freeze_collects_then_exempts_what_is_alive():
    # a cycle nobody holds: the collection before the freeze frees it
    a, b = Node(), Node()
    a.other, b.other = b, a
    del a, b
    held = [Node() for _ in range(1000)]
    try:
        frozen = freeze_long_lived()
        assert frozen == gc.get_freeze_count() >= len(held)
        # what is alive left the collector's generations (later collections skip it)
        assert _nodes_in_generations() == []
    finally:
        gc.unfreeze()
    assert gc.get_freeze_count() == 0
    # back in the generations once unfrozen: the held nodes, not the collected cycle
    assert len(_nodes_in_generations()) == len(held)
