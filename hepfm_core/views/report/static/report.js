// The meeting report's script: draws the views (vega-embed, from the page's own data) and
// makes the controls drive them and the tables. The form's controls are the only state:
// each change sets two Vega parameters in every view (the grid point, the samples shown)
// and shows the tables, notes and rows of that grid point and those samples.
(function () {
  "use strict";
  const doc = JSON.parse(document.getElementById("hepfm-report-data").textContent);
  const form = document.getElementById("controls");
  const views = new Map();

  // A dataset packed by column (figures.pack) back into one object per row.
  function unpack(packed) {
    const names = Object.keys(packed.columns);
    const columns = names.map((name) => {
      const col = packed.columns[name];
      return Array.isArray(col) ? col : col.codes.map((i) => col.levels[i]);
    });
    const rows = new Array(packed.length);
    for (let i = 0; i < packed.length; i++) {
      const row = {};
      for (let j = 0; j < names.length; j++) row[names[j]] = columns[j][i];
      rows[i] = row;
    }
    return rows;
  }

  function selected() {
    const score = form.querySelector("input[name=score]:checked").value;
    const clip = form.querySelector("input[name=clip]:checked").value;
    const signals = Array.from(form.querySelectorAll("input[name=signal]:checked"), (el) => el.value);
    return {score: score, clip: clip, key: doc.grid[score][clip], samples: ["background"].concat(signals)};
  }

  function apply() {
    const now = selected();
    const shown = new Set(now.samples);
    for (const el of document.querySelectorAll("[data-grid]")) el.hidden = el.dataset.grid !== now.key;
    for (const el of document.querySelectorAll("[data-score]")) el.hidden = el.dataset.score !== now.score;
    for (const el of document.querySelectorAll("[data-sample]")) el.hidden = !shown.has(el.dataset.sample);
    const runs = [];
    for (const [id, view] of views) {
      // a view of one score stays on it (hidden while another score is selected)
      const key = doc.grid[doc.scores[id] || now.score][now.clip];
      view.signal(doc.params.grid, key).signal(doc.params.samples, now.samples);
      runs.push(view.runAsync());
    }
    return Promise.all(runs);
  }

  form.addEventListener("change", () => {
    apply().catch(fail);
  });

  function fail(err) {
    console.error(err);
    document.getElementById("report-error").textContent = "A chart failed to draw: " + err;
  }

  const options = {
    mode: "vega-lite",
    renderer: "svg",
    actions: {export: true, source: false, compiled: false, editor: false},
  };
  const embeds = Object.keys(doc.specs).map((id) => {
    const spec = doc.specs[id];
    spec.datasets = {};
    for (const name of doc.uses[id]) spec.datasets[name] = unpack(doc.datasets[name]);
    return vegaEmbed("#view-" + id, spec, options).then((result) => views.set(id, result.view));
  });
  // the events section's heat maps: static, they follow no control
  const events = Object.keys(doc.events.specs).map((id) => {
    const spec = doc.events.specs[id];
    spec.datasets = {};
    for (const name of doc.events.uses[id]) spec.datasets[name] = unpack(doc.datasets[name]);
    return vegaEmbed("#event-" + id, spec, options);
  });
  apply();
  Promise.all(embeds.concat(events))
    .then(apply)
    .then(() => {
      window.hepfmReport = {views: Object.fromEntries(views), doc: doc, selected: selected};
      document.body.dataset.ready = "1";
    })
    .catch(fail);
})();
