"""One event's charts as specs kept per shape: what the dashboard shows after every click.

The event view (:func:`.charts.eta_phi_chart`, :func:`.charts.residual_heatmap`,
:func:`.charts.latent_event_chart`) follows every brush, count click, top-N and event
click. Built through Altair and handed to the page as widgets they cost the server about
60 ms per event (25 ms to build, the rest to copy and serialise; measured at the seed's
scale), for specs that differ between events only in their rows, titles and the η-φ
domains. Here each chart's spec is made once per shape by the same builders and kept
(:class:`~hepfm_core.views.chart_specs.SpecTemplate`); an event fills in its own.
"""

from __future__ import annotations

from functools import lru_cache

from ...engine.investigate.detail import EventDetail
from ...engine.investigate.events import TrackLayout
from ..chart_specs import SPECS_KEPT, SpecTemplate, VegaLiteSpec
from ..charts import APP, ChartSize
from .charts import (
    eta_phi_of,
    eta_phi_parts,
    heat_rows,
    heatmap_of,
    heatmap_title,
    latent_event_of,
    latent_event_rows,
)

__all__ = ["event_view_specs"]


@lru_cache(maxsize=SPECS_KEPT)
def _heatmap(columns: tuple[str, ...], branches: tuple[str, ...], size: ChartSize) -> SpecTemplate:
    return SpecTemplate.build(
        heatmap_of, ["title"], {"rows": columns}, fixed={"branches": branches, "size": size}
    )


@lru_cache(maxsize=SPECS_KEPT)
def _eta_phi(columns: tuple[str, ...], notes: bool, size: ChartSize) -> SpecTemplate:
    return SpecTemplate.build(
        eta_phi_of,
        ["title", *(["notes"] if notes else [])],
        {"rows": columns},
        lists=["eta_domain", "phi_domain"],  # a domain is a list
        fixed={"size": size, **({} if notes else {"notes": None})},
    )


@lru_cache(maxsize=SPECS_KEPT)
def _latent(
    columns: tuple[str, ...], rule_columns: tuple[str, ...] | None, size: ChartSize
) -> SpecTemplate:
    rows = {"frame": columns, **({} if rule_columns is None else {"rules": rule_columns})}
    return SpecTemplate.build(
        latent_event_of,
        rows=rows,
        fixed={"size": size, **({"rules": None} if rule_columns is None else {})},
    )


def event_view_specs(
    detail: EventDetail, layout: TrackLayout | None, *, size: ChartSize = APP
) -> list[VegaLiteSpec]:
    """The event's η-φ display (where the layout has η, φ and pt), residual heat map (with a
    layout) and latent values, as the Altair charts draw them: each shape's spec kept, this
    event's rows, titles and domains in it."""
    specs: list[VegaLiteSpec] = []
    parts = eta_phi_parts(detail, layout)
    if parts is not None:
        values = {
            "eta_domain": parts.eta_domain,
            "phi_domain": parts.phi_domain,
            "title": parts.title,
            "notes": parts.notes,
        }
        kept = _eta_phi(tuple(parts.rows.columns), bool(parts.notes), size)
        specs.append(kept.fill(values, {"rows": parts.rows}))
    if layout is not None:
        rows = heat_rows(detail, layout)
        kept = _heatmap(tuple(rows.columns), tuple(layout.branches), size)
        specs.append(kept.fill({"title": heatmap_title(detail)}, {"rows": rows}))
    frame, rules = latent_event_rows(detail)
    kept = _latent(tuple(frame.columns), None if rules is None else tuple(rules.columns), size)
    specs.append(kept.fill({}, {"frame": frame, **({} if rules is None else {"rules": rules})}))
    return specs
