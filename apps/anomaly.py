import marimo

__generated_with = "0.25.2"
app = marimo.App(width="full", app_title="hepfm · anomaly detection")

with app.setup(hide_code=True):
    # The cells that show the dashboard come first, so it reads before the code; the controls
    # and the plumbing (paths, file browsers, widgets) follow. marimo runs cells by their data
    # flow, not by their place in the file (among cells ready at once, the first in the file
    # first). The set-up imports marimo only: the sidebar's head shows before hepfm's own
    # imports (the next cells).
    import marimo as mo


@app.function(hide_code=True)
def stop_on(error, title):
    """Stop the calling cell with a callout naming the user's error (``db.attempt``'s), if any:
    the app stays alive and says what went wrong."""
    mo.stop(error is not None, mo.callout(mo.md(f"**{title}** {error}"), kind="danger"))


@app.cell(hide_code=True)
def _():
    # The sidebar's head, first of all and needing nothing but marimo: a page's layout is
    # rebuilt when a sidebar first appears, and marimo keeps the rebuilt page hidden a
    # moment (30 ms a cell); shown this early, that moment passes while the cells below run.
    from hepfm_core.views.layout import SIDEBAR_WIDTH as _width

    mo.sidebar(mo.md("## hepfm"), width=_width)
    return


@app.cell(hide_code=True)
def _():
    # hepfm's modules, for the cells below (after the sidebar's head: see above)
    from hepfm_core.common.import_ahead import import_ahead

    import_ahead()  # what the first evaluation imports, while the first cells read files

    from hepfm_core import vocabulary as vocab
    from hepfm_core.demo import demo_ready, demo_total_events, make_demo
    from hepfm_core.sources import detect_kind
    from hepfm_core.views import (
        chart_specs,
        charts,
        layout,
        meeting_reports,
        page_state,
        tables,
        text,
    )
    from hepfm_core.views import dashboard as db
    from hepfm_core.views import investigation as iv
    from hepfm_core.views.static_tables import static_grid, static_table, titled
    from hepfm_core.views.widget_values import within

    # charts carry their rows in their spec: no fetch per chart while the kernel is busy (a
    # page only: a script's process keeps Altair's own transformer)
    _ = mo.app_meta().mode in ("edit", "run") and db.inline_chart_data()
    return (
        chart_specs,
        charts,
        db,
        demo_ready,
        demo_total_events,
        detect_kind,
        iv,
        layout,
        make_demo,
        meeting_reports,
        page_state,
        static_grid,
        static_table,
        tables,
        text,
        titled,
        vocab,
        within,
    )


@app.cell(hide_code=True)
def _(
    layout,
    preset,
    sidebar_browsers,
    sidebar_clip,
    sidebar_data,
    sidebar_models,
    sidebar_view,
):
    # The controls. The widgets come in tuples (sidebar_*), not by their names: marimo runs
    # again every cell that names a widget whose value changed, and the whole sidebar would
    # be sent and drawn again on every move of every control; a tuple is not watched. Only
    # the preset, made again on each slider move (it names the clip in force), is named.
    mo.sidebar(
        mo.vstack(
            [
                sidebar_browsers,
                *sidebar_models,
                *sidebar_data,
                preset,
                *sidebar_clip,
                *sidebar_view,
            ],
            gap=0.75,
        ),
        width=layout.SIDEBAR_WIDTH,
    )
    return


@app.cell(hide_code=True)
def _(arg_data, arg_model, data_browser, db, demo_dir, model_browser, root):
    # The chosen data and model: the file browsers win, then the command line, then the demo.
    chosen_data = data_browser.path() or arg_data
    chosen_model = model_browser.path() or arg_model or demo_dir / "model.keras"

    def _paths():
        _model = db.confine(chosen_model, root)
        # no data chosen: an upstream experiment brings its own dataset, else the demo
        _data = (
            db.confine(chosen_data, root)
            if chosen_data
            else db.data_for_model(_model, demo_dir.resolve(), root)
        )
        return _data, _model

    _chosen, _error = db.attempt(_paths)
    stop_on(_error, "Path refused.")
    data_dir, model_path = _chosen
    return data_dir, model_path


@app.cell(hide_code=True)
def _(
    data_dir,
    db,
    demo_dir,
    demo_ready,
    demo_total_events,
    make_demo,
    model_path,
):
    # The demo creates itself (data and model, about a minute) when it is missing.

    def _make_demo():
        _total = demo_total_events()
        _done = {}
        with mo.status.progress_bar(
            total=_total,
            title="Creating the demo data",
            subtitle="ATLAS-like events",
            remove_on_exit=True,
        ) as _bar:

            def _on_sample(name, done, total):
                _bar.update(
                    increment=done - _done.get(name, 0), subtitle=f"{name}: {done:,}/{total:,}"
                )
                _done[name] = done

            def _on_epoch(record):
                _bar.update(
                    increment=0,
                    title="Training the demo VAE",
                    subtitle=f"epoch {record['epoch']}: loss {record['loss']:.1f}",
                )

            make_demo(demo_dir, progress=_on_sample, on_epoch=_on_epoch)

    if data_dir == demo_dir.resolve() and not demo_ready(demo_dir):
        _, _error = db.attempt(_make_demo)
        stop_on(_error, "Cannot create the demo.")
    data_ready = model_path is not None
    return (data_ready,)


@app.cell(hide_code=True)
def _(
    arg_scheduler,
    data_dir,
    data_kind,
    db,
    fill,
    kind_error,
    model_choice,
    model_paths,
    normalisation,
):
    # The chosen models on the data shown, each scored once (then cached); the first is shown.
    stop_on(kind_error, "Cannot open the data.")
    mo.stop(not model_choice.value, mo.callout("Select a model.", kind="warn"))
    _norm = normalisation.value if data_kind == "upstream" else "background"

    def _open_and_score():
        _chosen = db.shared_models(
            data_dir,
            {_label: model_paths[_label] for _label in model_choice.value},
            _norm,
            fill=fill.value,
            scheduler=arg_scheduler,
        )
        _total = len(model_choice.value) * sum(s.n_events for s in _chosen.data.samples.values())
        _done = {}
        with mo.status.progress_bar(
            total=_total, title="Scoring every event (once, then cached)", remove_on_exit=True
        ) as _bar:

            def _on_chunk(name, done, total):
                _bar.update(
                    increment=done - _done.get(name, 0), subtitle=f"{name}: {done:,}/{total:,}"
                )
                _done[name] = done

            _chosen.score_all(progress=_on_chunk)
        return _chosen

    models, _error = db.attempt(_open_and_score)
    stop_on(_error, "Cannot evaluate.")
    return (models,)


@app.cell(hide_code=True)
def _(db, models, shown_model):
    # the model whose counts, distributions and events are shown (several: the dropdown's);
    # a cell of its own, so that a clip or score change leaves the events view's controls be
    shown_label = shown_model.value if shown_model.value in models.labels else models.labels[0]
    evaluator = models.evaluator(shown_label)
    # one investigator per evaluator: the model loaded once
    investigator = db.shared_investigator(evaluator)
    return evaluator, investigator, shown_label


@app.cell(hide_code=True)
def _(
    beta,
    bins,
    clip_now,
    db,
    models,
    policy,
    score,
    signals,
    tables,
    vocab,
    within,
):
    mo.stop(not signals.value, mo.callout("Select at least one signal sample.", kind="warn"))

    def _evaluate():
        _settings = db.settings_for(
            clip=clip_now,
            score=score.value,
            beta=float(within(beta, 1.0)),
            policy=policy.value,
            signals=list(signals.value),
        )
        # every chosen model under these settings, and their comparisons (several models)
        return models.evaluate(_settings, n_bins=int(within(bins, tables.DEFAULT_BINS)))

    compared, _error = db.attempt(_evaluate)
    stop_on(_error, "Invalid settings.")
    colours = vocab.sample_colours(models.signal_names)
    return colours, compared


@app.cell(hide_code=True)
def _(compared, shown_label):
    # the shown model's result: switching it evaluates nothing again
    result = compared.result(shown_label)
    return (result,)


@app.cell(hide_code=True)
def _(compared, evaluator, result, root, text, vocab):
    _several = len(compared.labels) > 1
    # a shared dashboard names the data relative to its data root, not the server's paths
    _root = root if mo.app_meta().mode == "run" else None
    mo.vstack(
        [
            mo.md(f"# Anomaly detection: {vocab.SCORE_LABELS[result.settings.score]}").style(
                {"margin": "0"}
            ),
            mo.md(f"<small>{text.provenance_line(result, _root)}</small>"),
            *([mo.md(f"<small>{text.models_line(compared)}</small>")] if _several else []),
            *[mo.callout(mo.md(f"**Warning.** {_w}"), kind="warn") for _w in compared.warnings],
            # the fill's sentence sits with the counts (the first screen holds a chart)
            mo.callout(mo.md(text.guard_summary(result, evaluator, imputed=False)), kind="info"),
        ]
    )
    return


@app.cell(hide_code=True)
def _(text, url_state):
    # a link's values that could not be used, named; their defaults are shown instead
    _problems = " · ".join(text.literal(_p) for _p in url_state.problems)
    _link = mo.callout(mo.md(f"**Link.** {_problems}; the defaults are used."), kind="warn")
    _link if url_state.problems else None  # nothing to say: no output box at all
    return


@app.cell(hide_code=True)
def _(db, result, set_request, static_grid, tables, text, titled):
    # a count of a cause is a button: it asks for the events behind it (the section below
    # follows). One row per count, one column per sample: it fits a page 1,280 px wide
    _grid, _empty = tables.without_empty_causes(tables.counts_grid(result))
    _spots = tables.clickable_counts(_grid)
    _imputed = text.imputation_sentence(result)
    count_buttons = mo.ui.array(
        [
            mo.ui.button(
                value=0,
                on_click=lambda clicks: clicks + 1,  # each click a new value: on_change runs
                label=f"{_n:,}",
                kind="warn",
                on_change=db.on_count_button(set_request, _sample, _cause),
            )
            for _, _sample, _cause, _n in _spots
        ]
    )
    _parts = [
        mo.md(
            "### Filtered-event counts <small>"
            + (
                "· click a count of a cause (or of imputed events) to see its events below"
                if _spots
                else "· no event lacks a usable score under these settings"
            )
            + "</small>"
        ),
        mo.Html(
            static_grid(
                _grid,
                # what a count's button shows, said by the browser on hover (a title): a
                # marimo tooltip per button cost the page about 0.08 s per new grid of 14
                # buttons (a fill's timeline, 8 moves each way: noisy)
                inside={
                    (_r, _s): titled(count_buttons[_i].text, tables.count_tooltip(_s, _c, _n))
                    for _i, (_r, _s, _c, _n) in enumerate(_spots)
                },
                highlight=tables.highlighted,
            )
        ),
        mo.md(f"<small>No event of any sample: {', '.join(_empty)}.</small>") if _empty else None,
        mo.accordion({"imputed inputs, per sample and branch": mo.md(_imputed)})
        if _imputed
        else None,
    ]
    mo.vstack([_p for _p in _parts if _p is not None])
    return


@app.cell(hide_code=True)
def _(
    bins,
    charts,
    colours,
    db,
    density,
    iv,
    log_y,
    result,
    set_request,
    tables,
    within,
):
    # a brush along the score axis asks for the events in that range
    _hist, _over = tables.histogram_tables(
        result, n_bins=int(within(bins, tables.DEFAULT_BINS)), density=density.value
    )
    _chart = charts.loss_histogram(
        _hist,
        colours,
        score=result.settings.score,
        density=density.value,
        log_y=log_y.value,
        subtitle=tables.histogram_note(_over),
    )
    loss_chart = mo.ui.altair_chart(
        iv.with_score_brush(_chart),
        legend_selection=False,
        on_change=db.on_brush(set_request, lambda: loss_chart.selections),
    )
    loss_chart
    return


@app.cell(hide_code=True)
def _(look_sample, top_button, top_n):
    # the events section's controls, in a cell of their own: a cell that shows a control
    # runs again whenever it is used, and the button's click already asks for the events
    mo.vstack(
        [
            mo.md("### Events behind the counts"),
            mo.hstack([look_sample, top_n, top_button], justify="start", align="end"),
        ]
    )
    return


@app.cell(hide_code=True)
def _(db, get_request, investigator, iv, result, static_table):
    # The events behind a count, a score range or the N most anomalous, and what sets
    # them apart from the rest of their sample
    looked = db.look(investigator, result, get_request())
    if looked.selection is None:
        _shown = mo.callout(mo.md(looked.message), kind=looked.kind)
    else:
        _apart = iv.summary_table(looked.summary)
        _shown = mo.vstack(
            [
                mo.md(iv.selection_sentence(looked.selection, looked.summary)),
                mo.accordion(
                    {
                        "what sets them apart, per track statistic": mo.Html(
                            static_table(_apart, formats=iv.table_formats(_apart))
                        )
                    }
                ),
            ]
        )
    _shown
    return (looked,)


@app.cell(hide_code=True)
def _(db, investigator):
    # the model loads in the background once the dashboard shows, so that the first click
    # answers at once; this line says when it is done (no setting reruns it)
    mo.stop(investigator is None)
    mo.output.replace(mo.md(f"<small>{db.warm_status(investigator)}</small>"))
    _thread = db.warm_in_background(
        investigator,
        thread=mo.Thread,
        on_done=lambda: mo.output.replace(mo.md(f"<small>{db.warm_status(investigator)}</small>")),
        # TensorFlow's import off the page's path, except where marimo redirects fd 2 per cell
        prime_in_thread=mo.app_meta().mode in ("run", "script", "test"),
        after_page=True,  # the last cell of the file says when
        # then the collector's full passes skip the model's objects (a server's process)
        freeze_after=mo.app_meta().mode in ("edit", "run"),
    )
    return


@app.cell(hide_code=True)
def _(db, looked, page_state, url_state):
    # no selection yet: nothing to page (no mo.stop, whose descendants would each say so)
    event_page = None
    if looked.selection is not None:
        _pages = db.page_count(looked.selection)
        event_page = mo.ui.number(
            start=1,
            stop=_pages,
            value=min(page_state.initial_page(url_state, looked.request), _pages),
            label="page",
        )
    return (event_page,)


@app.cell(hide_code=True)
def _(
    db,
    event_page,
    investigator,
    iv,
    looked,
    set_picked,
    static_grid,
    within,
):
    # One page of the selection: the model runs on these events only
    details, _error = (), None
    if event_page is not None:
        details, _error = db.attempt(
            lambda: investigator.details(
                looked.selection, page=int(within(event_page, 1)) - 1, limit=db.PAGE_EVENTS
            )
        )
    stop_on(_error, "Cannot show these events.")
    _shown = None
    if event_page is not None:
        _rows = iv.event_table(details, investigator.layout)
        # an event's number is a button that shows it below; a static table (marimo's own
        # drew 760 elements and asked the kernel for its rows after every new selection)
        event_buttons = mo.ui.array(
            [
                mo.ui.button(
                    value=0,
                    on_click=lambda clicks: clicks + 1,  # each click a new value: on_change runs
                    label=str(_d.event),
                    on_change=db.on_event_button(set_picked, _d.event),
                )
                for _d in details
            ]
        )
        _table = static_grid(
            _rows,
            inside={(_i, _rows.columns[0]): _b.text for _i, _b in enumerate(event_buttons)},
            formats=iv.table_formats(_rows),
        )
        _where = iv.page_sentence(
            looked.selection, int(within(event_page, 1)), db.PAGE_EVENTS, db.MAX_SHOWN_EVENTS
        )
        _shown = mo.vstack(
            [
                mo.hstack([event_page, mo.md(_where)], justify="start", align="center"),
                mo.md(
                    "<small>Click an event's number to see its tracks, residuals and latent"
                    " values below.</small>"
                ),
                mo.Html(_table),
            ]
        )
    _shown
    return (details,)


@app.cell(hide_code=True)
def _(db, details, get_picked, investigator, iv, looked, static_table):
    _event = db.chosen_event(details, get_picked())
    mo.stop(_event is None)
    _layout = investigator.layout
    _, _note = investigator.values_kind(looked.selection.sample)
    _tracks = iv.track_table(_event, _layout)

    def _charts(event=_event, layout=_layout):
        # specs kept per shape, this event's rows in them (nothing to select: no widget)
        return mo.hstack(iv.event_view_specs(event, layout), justify="start", gap=2, wrap=True)

    mo.vstack(
        [
            mo.md(f"**{iv.event_caption(_event, _layout)}**"),
            mo.md(f"<small>Tracks: {_note}; padding left out.</small>"),
            # static: nothing to select, and no page for the browser to ask the kernel for
            mo.Html(
                static_table(
                    _tracks, formats=iv.table_formats(_tracks), sticky_last=_layout is not None
                )
            ),
            # the tracks in η-φ first, under the table (a page 1,280 px wide has no room
            # beside it); drawn once scrolled to: every brush, count click and top-N shows an
            # event, and its three charts cost the page 160 ms (a timeline probe at the
            # seed's scale) far below the controls that asked for it
            mo.lazy(_charts, show_loading_indicator=True),
        ]
    )
    return


@app.cell(hide_code=True)
def _(chart_specs, colours, compared, db, result, text):
    # one model: its curves; several: overlaid (colour = signal, dash = model)
    # the ROC, the log-eff_B ROC (the working points' region, eff_B 1e-5 to 1e-2) and the
    # background rejection: one spec, kept per shape with these curves' rows in it, and
    # shown as a Vega-Lite view (nothing to select: no widget)
    chart_specs.roc_views_spec(db.curves(compared), colours, text.normalisation_note(result))
    return


@app.cell(hide_code=True)
def _(compared, result, static_table, tables, text):
    _results = compared.first_results()
    _several = len(_results) > 1
    mo.vstack(
        [
            mo.md(f"### Metrics ({text.normalisation_note(result)})"),
            mo.Html(
                static_table(
                    tables.model_metrics_table(_results)
                    if _several
                    else tables.metrics_table(result)
                )
            ),
            *[
                mo.md(f"<small>{_label + ': ' if _several else ''}{_line}</small>")
                for _label, _r in _results.items()
                if (_line := tables.background_working_points(_r))
            ],
            # several models: each signal and pair compared on the events both keep
            *(
                [
                    mo.md("### Comparison of models"),
                    mo.Html(static_table(tables.comparison_table(compared))),
                    mo.md(f"<small>{text.COMPARISON_NOTE}</small>"),
                ]
                if len(compared.labels) > 1
                else []
            ),
        ]
    )
    return


@app.cell(hide_code=True)
def _(diagnostics, investigator, latent_sample):
    mo.stop(investigator is None)
    mo.vstack(
        [
            mo.md("### Whole-sample diagnostics"),
            mo.hstack([diagnostics, latent_sample], justify="start", align="end"),
        ]
    )
    return


@app.cell(hide_code=True)
def _(
    charts,
    colours,
    db,
    diagnostics,
    investigator,
    iv,
    latent_sample,
    result,
):
    # The whole-sample diagnostics shown, one section each, in one cell (a control reruns
    # it once); each is computed only while it is shown.
    mo.stop(investigator is None or not diagnostics.value)

    def _section(view, what, compute, parts):
        # the view's title and parts, or a callout saying why it could not be computed
        _value, _error = db.attempt(compute)
        if _error is not None:
            return mo.callout(mo.md(f"**Cannot compute the {what}.** {_error}"), "danger")
        return mo.vstack([mo.md(f"#### {view.capitalize()}"), *parts(_value)])

    def _chart(chart):
        # a concatenation's charts each on its own, wrapped to the page's width
        return mo.hstack(
            [
                mo.ui.altair_chart(_c, chart_selection=False, legend_selection=False)
                for _c in charts.concat_parts(chart)
            ],
            justify="start",
            gap=2,
            wrap=True,
        )

    _sections = []
    if db.LATENT_VIEW in diagnostics.value:
        # the latent space of one sample (every event)
        _sections.append(
            _section(
                db.LATENT_VIEW,
                "latent diagnostics",
                lambda: investigator.latent(result.settings, latent_sample.value),
                lambda _l: [mo.md(iv.latent_sentence(_l)), _chart(iv.latent_chart(_l))],
            )
        )
    if db.PROFILE_VIEW in diagnostics.value:
        # where the reconstruction error sits: background against each signal shown (the
        # model runs once on a sample of each; kept for the server's life)
        _sections.append(
            _section(
                db.PROFILE_VIEW,
                "residual profile",
                lambda: db.residual_profiles(investigator, list(result.samples)),
                lambda _p: [
                    _chart(iv.residual_profile_chart(_p, colours, statistic="median")),
                    mo.md(
                        "<small>"
                        + " · ".join(f"{_n}: {_v.note}" for _n, _v in _p.items())
                        + "</small>"
                    ),
                ],
            )
        )
    if db.SCULPTING_VIEW in diagnostics.value:
        # does a cut on the score sculpt the events? efficiency and score against track
        # multiplicity and leading-track pt
        _sections.append(
            _section(
                db.SCULPTING_VIEW,
                "sculpting check",
                lambda: investigator.sculpting(result),
                lambda _c: [
                    _chart(iv.sculpting_chart(_c, colours, score=result.settings.score)),
                    mo.md(f"<small>{_c.note}</small>"),
                ],
            )
        )
    mo.vstack(_sections)
    return


@app.cell(hide_code=True)
def _(
    db,
    meeting_reports,
    models,
    report_button,
    reports_written,
    result,
    root,
    set_reports_written,
):
    # The meeting report: one offline HTML file for the current settings and models.
    mo.stop(not report_button.value)

    def _write():
        meeting_reports.check_session_quota(reports_written())
        return meeting_reports.write_meeting_report(models, result.settings, root)

    # a full disk or a refused folder is an OSError: said like a user error
    _path, _error = db.attempt(_write, also=(OSError,))
    stop_on(_error, "Cannot write the report.")
    set_reports_written(lambda _n: _n + 1)
    mo.callout(
        mo.vstack(
            [
                mo.md(f"Report written to `{_path}` ({_path.stat().st_size / 1e6:.1f} MB)."),
                mo.download(_path.read_bytes(), filename=_path.name, mimetype="text/html"),
            ]
        ),
        kind="success",
    )
    return


@app.cell(hide_code=True)
def _(db):
    # Where data may come from: the data root (no search leads outside it), and the paths
    # given on the command line.
    cli = mo.cli_args()
    root = db.confined_root()
    demo_dir = root / "demo"
    arg_data = cli.get("data")
    # -- --model PATH, once or more: the first is shown, all are compared
    arg_models = db.model_args(cli.get("model"))
    arg_model = arg_models[0] if arg_models else None
    # a Dask cluster for samples too large for this server: -- --scheduler tcp://host:port
    arg_scheduler = cli.get("scheduler") or cli.get("scheduler-file")
    # the file browsers: confined to the root
    data_browser = mo.ui.file_browser(
        initial_path=root,
        selection_mode="directory",
        multiple=False,
        restrict_navigation=True,
        label="data folder (hepfm or upstream dataset)",
    )
    model_browser = mo.ui.file_browser(
        initial_path=root,
        selection_mode="all",
        multiple=False,
        restrict_navigation=True,
        label="model (.keras file or upstream experiment folder)",
    )
    sidebar_browsers = mo.accordion({"data and model": mo.vstack([data_browser, model_browser])})
    return (
        arg_data,
        arg_model,
        arg_models,
        arg_scheduler,
        data_browser,
        demo_dir,
        model_browser,
        root,
        sidebar_browsers,
    )


@app.cell(hide_code=True)
def _(arg_models, db, model_path, root):
    # The models to compare: the one shown, those of the command line, those under the root.
    _offered, _error = db.attempt(lambda: db.model_choices(model_path, arg_models[1:], root))
    stop_on(_error, "Path refused.")
    model_paths, _selected = _offered
    model_choice = mo.ui.multiselect(
        list(model_paths),
        value=_selected,
        label="models (several: compared on the same events)",
        full_width=True,
    )
    return model_choice, model_paths


@app.cell(hide_code=True)
def _(model_choice):
    _labels = list(model_choice.value) or [""]
    shown_model = mo.ui.dropdown(
        _labels, value=_labels[0], label="model of the counts and loss distributions"
    )
    # several models: which one the counts and distributions show
    sidebar_models = (model_choice, shown_model if len(model_choice.value) > 1 else mo.md(""))
    return shown_model, sidebar_models


@app.cell(hide_code=True)
def _(data_dir, data_ready, db, detect_kind, vocab):
    mo.stop(not data_ready)
    # a folder that cannot be opened: the models' cell says why (the controls still show)
    data_kind, kind_error = db.attempt(lambda: detect_kind(data_dir))
    normalisation = mo.ui.radio(
        {label: key for key, label in vocab.SIGNAL_NORMALISATION_LABELS.items()},
        value=vocab.SIGNAL_NORMALISATION_LABELS["background"],
        label="signal normalisation",
    )
    fill = mo.ui.radio(
        {label: key for key, label in vocab.FILL_LABELS.items()},
        value=vocab.FILL_LABELS["median"],
        label="non-finite raw inputs",
    )
    # the normalisation of the signals is upstream's choice, only for its datasets
    sidebar_data = (normalisation if data_kind == "upstream" else mo.md(""), fill)
    return data_kind, fill, kind_error, normalisation, sidebar_data


@app.cell(hide_code=True)
def _(page_state, url_state):
    # Where the slider starts and whether no clip is on: set by a preset or the switch (the
    # slider's own moves do not rebuild it; self loops: the switch's cell shows its change).
    get_clip, set_clip = mo.state(page_state.initial_clip(url_state), allow_self_loops=True)
    # the events looked at: the link's at first, then the last click, brush or request
    get_request, set_request = mo.state(url_state.request)
    # the event whose tracks are shown: the one picked last while its page lists it, else
    # the page's first
    get_picked, set_picked = mo.state(None)
    return get_clip, get_picked, get_request, set_clip, set_picked, set_request


@app.cell(hide_code=True)
def _(get_clip, page_state, set_clip):
    _start = get_clip()
    clip_slider = mo.ui.range_slider(
        start=page_state.CLIP_RANGE[0],
        stop=page_state.CLIP_RANGE[1],
        step=page_state.CLIP_STEP,
        value=list(_start.bounds),
        debounce=True,
        show_value=True,
        full_width=True,
        disabled=_start.off,
        label="clip z_log_var: none, unbounded" if _start.off else "clip z_log_var to",
    )
    # the switch keeps the bounds the slider was moved to
    no_clip = mo.ui.switch(
        value=_start.off,
        label="no clip",
        on_change=lambda _off: set_clip(
            page_state.ClipControl(tuple(clip_slider.value), bool(_off))
        ),
    )
    sidebar_clip = (no_clip, clip_slider)
    return clip_slider, sidebar_clip


@app.cell(hide_code=True)
def _(clip_slider, get_clip, page_state, set_clip, vocab):
    # the preset shows the clip in force ("custom" once the slider moves off a preset), and
    # choosing one moves the slider
    _now = page_state.ClipControl(tuple(clip_slider.value), get_clip().off)
    preset = mo.ui.dropdown(
        [page_state.CUSTOM_PRESET, *vocab.CLIP_PRESETS],
        value=_now.preset,
        label="clip preset",
        on_change=lambda _label: set_clip(_now.with_preset(_label)),
    )
    clip_now = _now.clip
    return clip_now, preset


@app.cell(hide_code=True)
def _(page_state, signal_names, tables, url_state, vocab):
    # the controls start where the link says (else at the defaults)
    score = mo.ui.dropdown(
        {label: key for key, label in vocab.SCORE_LABELS.items()},
        value=vocab.SCORE_LABELS[url_state.score],
        label="score",
    )
    beta = mo.ui.number(
        start=page_state.BETA_RANGE[0],
        stop=page_state.BETA_RANGE[1],
        step=0.01,
        value=url_state.beta,
        label="β (total)",
    )
    policy = mo.ui.radio(
        {label: key for key, label in vocab.POLICY_LABELS.items()},
        value=vocab.POLICY_LABELS[url_state.policy],
        label="non-finite policy",
    )
    signals = mo.ui.multiselect(
        list(signal_names),
        value=list(url_state.signals or signal_names),
        label="signal samples",
        full_width=True,
    )
    bins = mo.ui.slider(10, 150, value=tables.DEFAULT_BINS, step=5, label="bins", show_value=True)
    log_y = mo.ui.switch(value=True, label="log y")
    density = mo.ui.switch(value=False, label="density")
    report_button = mo.ui.run_button(label="write meeting report", kind="success")
    sidebar_view = (
        *(score, beta, policy, signals),
        *(mo.md("**histograms**"), bins, log_y, density),
        report_button,
    )
    return (
        beta,
        bins,
        density,
        log_y,
        policy,
        report_button,
        score,
        sidebar_view,
        signals,
    )


@app.cell(hide_code=True)
def _(data_dir, data_ready, db):
    # the samples' names from the folder, not from the evaluator: changing the fill or the
    # normalisation then leaves every control where the user put it
    mo.stop(not data_ready)
    names = db.sample_names(data_dir)
    mo.stop(names is None)  # the evaluator's cell says why
    sample_names, signal_names = names
    return sample_names, signal_names


@app.cell(hide_code=True)
def _():
    # the link's query parameters, read once as the page opens (a copy: the URL follows
    # the controls afterwards)
    url_params = dict(mo.query_params().to_dict())
    return (url_params,)


@app.cell(hide_code=True)
def _(page_state, sample_names, signal_names, url_params):
    url_state = page_state.read_page_state(url_params, list(sample_names), signal_names)
    return (url_state,)


@app.cell(hide_code=True)
def _(event_page, get_request, page_state, result, within):
    # the settings, the events looked at and their page, written into the URL: a link
    # reproduces the page
    page_state.write_page_state(mo.query_params(), result.settings, get_request())
    if event_page is not None:
        page_state.write_page(mo.query_params(), int(within(event_page, 1)))
    return


@app.cell(hide_code=True)
def _():
    # the meeting reports this page has written (a shared dashboard limits them per page)
    reports_written, set_reports_written = mo.state(0)
    return reports_written, set_reports_written


@app.cell(hide_code=True)
def _(db, get_request, page_state, sample_names, set_request, within):
    _names = list(sample_names)
    look_sample = mo.ui.dropdown(
        _names,
        value=page_state.sample_of(get_request(), _names),
        label="sample",
        on_change=lambda _name: set_request(
            lambda _old: page_state.with_sample(_old, _name) or _old
        ),
    )
    top_n = mo.ui.number(start=1, stop=100_000, value=db.TOP_DEFAULT, label="N")
    top_button = mo.ui.button(
        label="the N most anomalous",
        on_click=lambda _v: set_request(
            page_state.top_request(look_sample.value, int(within(top_n, db.TOP_DEFAULT)))
        ),
    )
    return look_sample, top_button, top_n


@app.cell(hide_code=True)
def _(db, sample_names):
    # none at first: a diagnostic is computed only while it is shown (and stays shown when
    # the model or the fill changes)
    diagnostics = mo.ui.multiselect(db.DIAGNOSTICS, value=[], label="show")
    latent_sample = mo.ui.dropdown(list(sample_names), value="background", label="latent space of")
    return diagnostics, latent_sample


@app.cell(hide_code=True)
def _(db, investigator):
    # Last in the file on purpose: marimo runs ready cells in file order, so this one runs
    # when every other cell of the first view has; the model's background load then starts
    # without competing with the page's own cells.
    mo.stop(investigator is None)
    db.page_drawn(investigator, prime=mo.app_meta().mode not in ("run", "script", "test"))
    return


if __name__ == "__main__":
    app.run()
