"""Imputation made visible: which events carry filled (invented) raw values, and what follows.

A reader with ``fill="median"`` (upstream's behaviour, the default) replaces every non-finite
raw value by a fill value, so the event is scored as if it were data. Such events are kept,
counted as ``imputed`` beside ``excluded`` (so ``kept + excluded == total`` still holds), and a
metric whose samples are too much fill carries the status :data:`STATUS_IMPUTED` instead of a
plain ``ok``: a column with no finite value at all, or more than :data:`MAX_IMPUTED_FRACTION`
of a sample's events imputed. With ``fill="none"`` nothing is invented: those events reach the
scoring pass non-finite and are excluded as ``input_nonfinite`` (data quality).

Pure: accounting in, frozen dataclasses out.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import numpy as np

from ..common.json_fields import OMIT, JsonFields, json_meta
from .samples import Sample

__all__ = [
    "MAX_IMPUTED_FRACTION",
    "STATUS_IMPUTED",
    "Imputation",
    "branch_of",
    "imputation_of",
    "imputed_verdict",
]

STATUS_IMPUTED = "imputed_input"
"""Status of a metric that would rest on fill values instead of data."""

MAX_IMPUTED_FRACTION = 0.01
"""Above this fraction of imputed events in the background or a signal, metrics are withheld."""

_TRACK_PREFIX = re.compile(r"^track\d+_(.+)$")


def branch_of(feature_name: str) -> str:
    """``"track07_d0" -> "d0"``: the per-track branch a flattened input belongs to."""
    m = _TRACK_PREFIX.match(feature_name)
    return m.group(1) if m else feature_name


@dataclass(frozen=True)
class Imputation(JsonFields):
    """What the reader invented for one sample.

    ``events``: events with at least one filled raw value (kept, scored on fill values);
    ``values_per_feature``: filled raw values per branch (summed over tracks), non-zero only;
    ``empty_columns``: flattened inputs without a single finite value in the sample.
    All zero / empty when ``fill == "none"`` (nothing is filled). Its JSON is part of its
    sample's.
    """

    fill: str = field(metadata=OMIT)  # the evaluation's, said once in its provenance
    total: int = field(metadata=OMIT)  # the sample's, in its counts
    events: int = field(metadata=json_meta(key="imputed"))
    values_per_feature: dict[str, int] = field(metadata=json_meta(key="imputed_values_per_feature"))
    empty_columns: tuple[str, ...] = field(metadata=json_meta(key="columns_without_finite_values"))

    @property
    def fraction(self) -> float:
        return self.events / self.total if self.total else 0.0

    def problem(self) -> str | None:
        """Why metrics on this sample would rest on fill values, or None if they would not."""
        if self.fill == "none" or not self.events:
            return None
        if self.empty_columns:
            shown = ", ".join(self.empty_columns[:3])
            more = f" and {len(self.empty_columns) - 3} more" if len(self.empty_columns) > 3 else ""
            return (
                f"{len(self.empty_columns)} input column(s) have no finite value at all "
                f"({shown}{more}): every event of them is a fill value"
            )
        if self.fraction > MAX_IMPUTED_FRACTION:
            return (
                f"{self.events} of {self.total} events ({100 * self.fraction:.3g} %) carry filled "
                f"raw values, above the {100 * MAX_IMPUTED_FRACTION:g} % limit"
            )
        return None


def imputation_of(sample: Sample) -> Imputation:
    """The imputation of one sample, from the accounting its reader recorded.

    Reads no events: the reader counted the non-finite raw values while reading (or, for
    hepfm's files, while writing), before it filled them.

    Parameters
    ----------
    sample : Sample
        A sample as a reader returned it, with its ``accounting``.

    Returns
    -------
    Imputation
        Events with filled values, filled values per branch, columns without any finite
        value; all zero or empty unless the reader filled (``fill="median"``).

    Examples
    --------
    Three of 200 events had a non-finite ``pt`` that the reader filled with the median:

    >>> import numpy as np
    >>> from hepfm_core.data.imputation import imputation_of
    >>> from hepfm_core.data.samples import InputAccounting, Provenance, Sample
    >>> sample = Sample(
    ...     name="zprime_ee",
    ...     role="signal",
    ...     x=np.zeros((200, 2), dtype=np.float32),
    ...     feature_names=("track00_pt", "track00_d0"),
    ...     provenance=Provenance(source="memory", group="", fingerprint="example"),
    ...     accounting=InputAccounting(np.array([3, 0]), events_with_nonfinite=3, filled="median"),
    ... )
    >>> imputed = imputation_of(sample)
    >>> imputed.events, imputed.values_per_feature, imputed.fraction
    (3, {'pt': 3}, 0.015)
    >>> imputed.problem()  # above 1 %: metrics on this sample would rest on fill values
    '3 of 200 events (1.5 %) carry filled raw values, above the 1 % limit'
    """
    acc = sample.accounting
    if acc.filled != "median":
        return Imputation(acc.filled, sample.n_events, 0, {}, ())
    per_branch: dict[str, int] = {}
    for name, count in zip(sample.feature_names, np.asarray(acc.per_feature), strict=True):
        if count:
            branch = branch_of(name)
            per_branch[branch] = per_branch.get(branch, 0) + int(count)
    empty = tuple(
        name
        for name, count in zip(sample.feature_names, np.asarray(acc.per_feature), strict=True)
        if sample.n_events and int(count) >= sample.n_events
    )
    return Imputation("median", sample.n_events, int(acc.events_with_nonfinite), per_branch, empty)


def imputed_verdict(background: Imputation, signal: Imputation, signal_name: str) -> str | None:
    """The reason a separation metric must be withheld for imputation, or None.

    The reason says what to do: ``fill="none"`` evaluates on the events with complete inputs.
    """
    parts = []
    if (why := background.problem()) is not None:
        parts.append(f"background: {why}")
    if (why := signal.problem()) is not None:
        parts.append(f"{signal_name}: {why}")
    if not parts:
        return None
    return (
        "; ".join(parts) + ". Metrics would rest on fill values; use --fill none (fill: none) to "
        "exclude those events as input_nonfinite and evaluate the events with complete inputs"
    )
