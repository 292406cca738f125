"""The report's "Events behind the counts" (views.report.events): at the report's settings,
per sample and cause (and each signal's most anomalous), the engine's selection drawn by the
investigation's builders, in the page and in its data; no events for scores on a cluster."""

from __future__ import annotations

from html.parser import HTMLParser
from typing import Any

import pytest

from hepfm_core.engine.evaluate import EvaluationSettings
from hepfm_core.engine.investigate.events import CAUSE_LABELS, Criterion
from hepfm_core.errors import SettingsError
from hepfm_core.views.report import events as rev
from hepfm_core.views.report import figures, page

from .test_page import embedded


class EventGroups(HTMLParser):
    """The events section as the template wrote it: per group its attributes and its events
    (the ``data-event`` of each figure, its caption, its track table's texts, its heat map's
    id)."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.groups: list[dict[str, Any]] = []
        self._card: dict[str, Any] | None = None
        self._text: list[str] | None = None
        self._row: list[str] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        classes = (a.get("class") or "").split()
        if tag == "div" and "event-group" in classes:
            self.groups.append({"attrs": a, "cards": []})
        elif tag == "figure" and "event" in classes:
            self._card = {"event": int(a["data-event"]), "caption": "", "rows": [], "view": None}
            self.groups[-1]["cards"].append(self._card)
        elif self._card is None:
            return
        elif tag in ("figcaption", "td"):
            self._text = []
        elif tag == "tr":
            self._row = []
        elif tag == "div" and "event-view" in classes:
            self._card["view"] = a["id"]

    def handle_data(self, data: str) -> None:
        if self._text is not None:
            self._text.append(data)

    def handle_endtag(self, tag: str) -> None:
        if self._card is None:
            return
        if tag == "figcaption" and self._text is not None:
            self._card["caption"] = "".join(self._text).strip()
            self._text = None
        elif tag == "td" and self._text is not None and self._row is not None:
            self._row.append("".join(self._text).strip())
            self._text = None
        elif tag == "tr" and self._row:
            self._card["rows"].append(self._row)
            self._row = None
        elif tag == "figure":
            self._card = None


def test_events_behind_the_counts(evaluator, tmp_path, strict_json):
    """At the report's settings, for each sample and each cause it has events of (and each
    signal's most anomalous), the first events are the engine's selection, each with its
    caption, track table and heat map (the investigation's builders), in the page and in its
    data; the background's KL overflows come with the summary naming their degenerate pt."""
    from hepfm_core.engine.investigate.investigator import Investigator
    from hepfm_core.views import investigation as iv
    from hepfm_core.views.report import events as rev

    settings = EvaluationSettings(clip=None, score="kl", signals=tuple(evaluator.signal_names))
    out = page.write_report(evaluator, settings, tmp_path / "report.html")
    parser = EventGroups()
    parser.feed(out.read_text(encoding="utf-8"))
    doc = embedded(out, strict_json)

    inv = Investigator(evaluator)
    result = evaluator.evaluate(settings)
    expected = []
    for name, sample in result.samples.items():
        causes = [c for c, n in sample.counts.by_cause.items() if n and c != "ok"]
        criteria = [Criterion.by_cause(c) for c in causes]
        criteria += [Criterion.top(rev.REPORT_TOP)] if sample.role == "signal" else []
        for c in criteria:
            selection = inv.select(sample, c)
            expected.append((name, c.kind, c.cause, selection.size, selection.events[:3].tolist()))
    shown = [
        (g["attrs"]["data-sample"], g["attrs"]["data-criterion"], g["attrs"].get("data-cause"),
         int(g["attrs"]["data-selected"]), [card["event"] for card in g["cards"]])
        for g in parser.groups
    ]  # fmt: skip
    assert shown == expected
    in_data = [
        (g["sample"], g["criterion"]["kind"], g["criterion"].get("cause"), g["selected"],
         g["events"])
        for g in doc["events"]["groups"]
    ]  # fmt: skip
    assert in_data == expected
    # the demo's degenerate tracks: background events with a KL overflow, and why
    kl = next(g for g in parser.groups if g["attrs"].get("data-cause") == "kl_overflow"
              and g["attrs"]["data-sample"] == "background")  # fmt: skip
    overflow = inv.select(result.samples["background"], Criterion.by_cause("kl_overflow"))
    assert [c["event"] for c in kl["cards"]] == overflow.events[:3].tolist()
    first = inv.details(overflow, limit=1)[0]
    card = kl["cards"][0]
    assert card["caption"] == iv.event_caption(first, inv.layout)
    table = iv.track_table(first, inv.layout)
    assert card["rows"] == [[iv.number_text(v) for v in row] for row in table.iter_rows()]
    assert "track with pt" in out.read_text(encoding="utf-8")
    # each heat map: a static view of the page's data, drawn from the investigation's builder
    views = [c["view"] for g in parser.groups for c in g["cards"]]
    assert all(views) and len(set(views)) == len(views)
    assert sorted(f"event-{k}" for k in doc["events"]["specs"]) == sorted(views)
    spec = doc["events"]["specs"][card["view"].removeprefix("event-")]
    app_spec = iv.residual_heatmap(first, inv.layout).to_dict()
    assert spec["mark"] == app_spec["mark"] and spec["encoding"] == app_spec["encoding"]
    (name,) = doc["events"]["uses"][card["view"].removeprefix("event-")]
    heat = figures.unpack(doc["datasets"][name])
    assert len(heat) == inv.layout.width
    assert sum(r["residual"] for r in heat) == pytest.approx(first.residual_sum, rel=1e-5)


def test_no_events_when_the_scores_stay_on_a_cluster(evaluator, report_settings):
    result = evaluator.evaluate(report_settings)
    section = rev.collect_events(object(), result)  # type: ignore[arg-type]
    assert section.groups == () and section.note.startswith("The scores stayed on the cluster")


def test_what_each_sample_is_asked(evaluator, report_settings):
    result = evaluator.evaluate(report_settings)
    for name, sample in result.samples.items():
        asked = rev._criteria(result, name, 7)
        causes = [c.cause for c in asked if c.kind == "cause"]
        assert causes == [c for c in CAUSE_LABELS if c != "ok" and sample.counts.by_cause[c] > 0]
        tops = [c for c in asked if c.kind != "cause"]
        assert tops == ([Criterion.top(7)] if sample.role == "signal" else [])


def test_a_group_names_its_selection():
    g = rev.EventGroup("zprime_ee", Criterion.by_cause("kl_overflow"), 12, "…", cards=())
    assert g.title == f"zprime_ee: {Criterion.by_cause('kl_overflow').describe()}"
    assert g.to_json_dict() == {
        "sample": "zprime_ee",
        "criterion": Criterion.by_cause("kl_overflow").to_json_dict(),
        "selected": 12,
        "events": [],
    }


def test_an_error_while_collecting_becomes_the_note(evaluator, report_settings, monkeypatch):
    from hepfm_core.engine.investigate.investigator import Investigator

    def refuse(self, *args, **kwargs):
        raise SettingsError("the model cannot run here", "model.keras", "open it locally")

    monkeypatch.setattr(Investigator, "select", refuse)
    section = rev.collect_events(evaluator, evaluator.evaluate(report_settings))
    assert section.groups == ()
    assert section.note.startswith("No events to show: the model cannot run here")
