// dun dashboard: draws the overview's charts with uPlot from the JSON in
// #chart-data (written by the server, with <, > and & escaped). No other
// script runs on the dashboard's pages.
(function () {
  "use strict";
  var source = document.getElementById("chart-data");
  if (!source || typeof uPlot === "undefined") return;
  var data = JSON.parse(source.textContent);
  var charts = [];
  var palette = ["#0b5cad", "#d1495b", "#2a9d8f", "#e9a13b", "#6c4ab6"];
  var agingColors = ["#2a9d8f", "#e9c46a", "#f4a261", "#e76f51", "#9b2226"];

  function width(el) { return Math.max(260, el.clientWidth || 600); }

  function line(id, title, x, series, unit) {
    var el = document.getElementById(id);
    if (!el || !x.length) return;
    var opts = {
      title: title, width: width(el), height: 260,
      scales: { x: { time: true } },
      axes: [{}, { label: unit, size: 60 }],
      series: [{ label: "Month end" }].concat(series.map(function (s, i) {
        return { label: s.label, stroke: palette[i % palette.length], width: 2, spanGaps: false,
          points: { show: true, size: 6 }, value: function (u, v) { return v == null ? "n/a" : v.toFixed(2); } };
      })),
    };
    charts.push({ el: el, plot: new uPlot(opts, [x].concat(series.map(function (s) { return s.values; })), el) });
  }

  // Stacked bars: uPlot draws series in order, so each bucket is drawn as
  // the running total up to it, largest first; the legend shows the
  // bucket's own amount.
  function aging(id, a, currency) {
    var el = document.getElementById(id);
    if (!el || !a.x.length) return;
    var names = ["current", "1-30", "31-60", "61-90", "90+"];
    var running = a.x.map(function () { return 0; });
    var stacked = names.map(function (name) {
      running = running.map(function (sum, i) { return sum + a[name][i]; });
      return running.slice();
    });
    var order = [4, 3, 2, 1, 0];
    var bars = uPlot.paths.bars({ size: [0.6, 80] });
    var opts = {
      title: "Receivables by days past due (" + currency + ")", width: width(el), height: 280,
      scales: { x: { time: true } },
      axes: [{}, { label: currency, size: 70 }],
      series: [{ label: "As of" }].concat(order.map(function (k) {
        return { label: names[k], stroke: agingColors[k], fill: agingColors[k], paths: bars, points: { show: false },
          value: function (u, v, si, i) { return i == null ? "" : a[names[k]][i].toFixed(2); } };
      })),
    };
    var rows = [a.x].concat(order.map(function (k) { return stacked[k]; }));
    charts.push({ el: el, plot: new uPlot(opts, rows, el) });
  }

  function responses(id, r) {
    var el = document.getElementById(id);
    if (!el || !r.labels.length) return;
    var x = r.labels.map(function (_, i) { return i; });
    var opts = {
      title: "Reminders followed by a payment within 7 days", width: width(el), height: 260,
      scales: { x: { time: false, range: [-0.5, r.labels.length - 0.5] }, y: { range: [0, 100] } },
      axes: [
        { values: function (u, ticks) { return ticks.map(function (t) { return Number.isInteger(t) ? (r.labels[t] || "") : ""; }); },
          splits: function () { return x; } },
        { label: "%", size: 50 },
      ],
      series: [{ label: "Channel and tone", value: function (u, v) { return v == null ? "" : r.labels[v]; } },
        { label: "Response rate", stroke: palette[0], fill: "rgba(11,92,173,0.6)", paths: uPlot.paths.bars({ size: [0.6, 60] }),
          points: { show: false }, value: function (u, v) { return v == null ? "n/a" : v.toFixed(2) + " %"; } }],
    };
    charts.push({ el: el, plot: new uPlot(opts, [x, r.rate], el) });
  }

  var t = data.trend;
  line("chart-dso", "DSO by month (" + data.currency + ")", t.x, [
    { label: "DSO", values: t.dso }, { label: "Countback DSO", values: t.countback_dso },
  ], "days");
  line("chart-rates", "Rates by month (" + data.currency + ")", t.x, [
    { label: "Collection rate", values: t.collection_rate }, { label: "On-time rate", values: t.on_time_rate },
    { label: "Response rate", values: t.response_rate },
  ], "%");
  aging("chart-aging", data.aging, data.currency);
  responses("chart-responses", data.responses);

  var pending = null;
  window.addEventListener("resize", function () {
    clearTimeout(pending);
    pending = setTimeout(function () {
      charts.forEach(function (c) { c.plot.setSize({ width: width(c.el), height: c.plot.height }); });
    }, 150);
  });
})();
