"""The investigation view's sentences: one event's caption, what a selection holds, which
page is shown, what the latent view finds."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from ...engine.investigate.detail import EventDetail
from ...engine.investigate.diagnostics import LatentDiagnostics
from ...engine.investigate.events import Selection, TrackLayout
from ...engine.investigate.explain import SelectionSummary
from ...vocabulary import Cause
from .tables import _largest

__all__ = [
    "empty_selection_sentence",
    "event_caption",
    "filled_names",
    "latent_sentence",
    "page_sentence",
    "selection_sentence",
]


def filled_names(detail: EventDetail, layout: TrackLayout | None) -> list[str]:
    """The inputs whose raw value the reader filled: ``track 3 pt`` (or ``input 17``).

    >>> import numpy as np
    >>> from hepfm_core.engine.investigate.detail import event_details
    >>> from hepfm_core.engine.investigate.events import TrackLayout
    >>> layout = TrackLayout(2, ("d0", "pt"), ("mm", "GeV"))
    >>> x = np.array([[1.0, 2.0, np.nan, 3.0]])
    >>> (d,) = event_details(sample="s", events=np.array([0]), values=x, values_kind="raw",
    ...     inputs=x, x_hat=x, z_mean=np.zeros((1, 1)), z_log_var=np.zeros((1, 1)),
    ...     scores=np.array([1.0]), causes=np.array([0]), recon=np.array([1.0]),
    ...     layout=layout, clip=None, filled=~np.isfinite(x))
    >>> filled_names(d, layout), filled_names(d, None)
    (['track 1 d0'], ['input 2'])
    """
    names = []
    for i in detail.filled_inputs:
        if layout is None:
            names.append(f"input {i}")
        else:
            t, b = divmod(int(i), layout.n_branches)
            names.append(f"track {t} {layout.branches[b]}")
    return names


def event_caption(detail: EventDetail, layout: TrackLayout | None) -> str:
    """One line: which event, its cause and score, and which input drives its residuals."""
    score = "no finite score" if detail.score is None else f"score {detail.score:.4g}"
    ident = ""
    if detail.identity:
        ident = " (" + ", ".join(f"{k} {v}" for k, v in detail.identity.items()) + ")"
    n_tracks = "" if detail.tracks is None else f", {len(detail.tracks)} tracks"
    head = f"{detail.sample} event {detail.event}{ident}: {detail.cause}, {score}{n_tracks}"
    filled = filled_names(detail, layout)
    if filled:
        more = f" and {len(filled) - 3} more" if len(filled) > 3 else ""
        head += f"; filled by the reader (not data): {', '.join(filled[:3])}{more}"
    largest = _largest(detail, layout)
    if largest is None:
        return head + "; its reconstruction is not finite"
    name, share = largest
    return f"{head}; largest residual: {name} ({share:.0%} of the sum)"


def selection_sentence(selection: Selection, summary: SelectionSummary | None = None) -> str:
    """What was selected and, with its summary, why these events stand apart."""
    head = (
        f"{selection.size} of {selection.n_events} {selection.sample} events with "
        f"{selection.criterion.describe()} (score {selection.settings.score}, policy "
        f"{selection.policy})"
    )
    if summary is None or not summary.sentences:
        return head + "."
    return f"{head}: {summary.text}."


def empty_selection_sentence(selection: Selection, by_cause: Mapping[str, int]) -> str:
    """Why a selection is empty, and what would not be: ``by_cause`` is the sample's count
    per cause under the same settings."""
    s = selection.settings
    clip = "none" if s.clip is None else f"[{s.clip[0]:g}, {s.clip[1]:g}]"
    where = f"under these settings (score {s.score}, clip {clip}, policy {selection.policy})"
    crit = selection.criterion
    if crit.kind == "cause":
        present = [f"{c} ({n:,})" for c, n in by_cause.items() if n and c != Cause.OK.label]
        others = (
            f"its events without a usable score: {', '.join(present)}"
            if present
            else "every one of its events has a usable score"
        )
        return f"No {selection.sample} event has cause {crit.cause} {where}; {others}."
    if crit.kind == "imputed":
        return (
            f"No {selection.sample} event has a filled raw value: the reader filled none"
            " (with fill none, such events are counted as input_nonfinite)."
        )
    if crit.kind == "range":
        return (
            f"No kept {selection.sample} event has a score in [{crit.lo:g}, {crit.hi:g}] {where}."
        )
    return f"No {selection.sample} event is kept {where}."


def page_sentence(selection: Selection, page: int, limit: int, max_shown: int) -> str:
    """Which events a page shows: ``page`` (from 1) of ``limit`` events over the first
    ``max_shown`` of the selection."""
    shown = min(selection.size, max_shown)
    first = (page - 1) * limit + 1
    last = min(page * limit, shown)
    pages = -(-shown // limit)
    head = f"Events {first}-{last} of {selection.size:,}, page {page} of {pages}"
    by_index = selection.criterion.kind in ("cause", "imputed")
    order = "by event index" if by_index else "highest score first"
    if shown < selection.size:
        return f"{head} (the first {max_shown} are paged; {order})."
    return f"{head} ({order})."


def latent_sentence(diag: LatentDiagnostics) -> str:
    """Active units, and how many events the clip touches in which dimensions."""
    k = diag.latent_dim
    text = (
        f"{diag.sample}: {diag.n_active} of {k} latent dimensions active (variance of z_mean "
        f"over events > {diag.active_threshold:g})"
    )
    if diag.n_nonfinite:
        text += f"; {diag.n_nonfinite} events with a non-finite encoder output left out"
    if diag.clip is not None:
        touched = diag.below_clip + diag.above_clip
        dims = [str(j) for j in np.flatnonzero(touched)]
        if dims:
            text += (
                f"; z_log_var outside the clip [{diag.clip[0]:g}, {diag.clip[1]:g}] in "
                f"dimension{'s' if len(dims) > 1 else ''} {', '.join(dims)} "
                f"({int(touched.sum())} values)"
            )
    bad = [str(j) for j in np.flatnonzero(diag.kl_nonfinite)]
    if bad:
        text += f"; KL term not finite in dimension{'s' if len(bad) > 1 else ''} {', '.join(bad)}"
    return text + "."
