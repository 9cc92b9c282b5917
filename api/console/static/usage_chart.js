// Draws the usage page's charts (#usage-data: days, channels, and each channel's units and cost
// per day) with uPlot: one line per channel, a point on each day it sent something.
(function () {
  "use strict";
  var source = document.getElementById("usage-data");
  if (!source || typeof uPlot === "undefined") return;
  var data = JSON.parse(source.textContent);
  var COLOURS = ["#0b57d0", "#b3261e", "#146c2e", "#8a4a00", "#6b3fa0", "#00658f"];
  var days = data.days.map(function (day) { return Date.parse(day + "T00:00:00Z") / 1000; });

  function draw(id, measure, label) {
    var host = document.getElementById(id);
    var series = [{ label: "Day", value: function (u, v) { return v === null ? "–" : new Date(v * 1000).toISOString().slice(0, 10); } }];
    var values = [days];
    data.channels.forEach(function (channel, index) {
      var colour = COLOURS[index % COLOURS.length];
      series.push({ label: channel, stroke: colour, width: 2, spanGaps: false, points: { show: true, size: 7, fill: colour } });
      values.push(data.series[channel][measure]);
    });
    var width = Math.max(280, Math.min(host.clientWidth || 800, 1000));
    new uPlot({
      width: width, height: 260, series: series, tzDate: function (ts) { return uPlot.tzDate(new Date(ts * 1000), "Etc/UTC"); },
      // The whole period asked for, so that a few days read as where they fall in it.
      scales: { x: { time: true, range: function () { return [Date.parse(data.from) / 1000, Date.parse(data.to) / 1000]; } } },
      axes: [{ stroke: "#1b1f24", grid: { stroke: "#e3e6ea" } },
             { stroke: "#1b1f24", grid: { stroke: "#e3e6ea" }, label: label, size: 80,
               // Costs are small fractions: as many decimals as a tick needs, not uPlot's rounding.
               values: function (u, ticks) { return ticks.map(function (v) { return String(+v.toFixed(6)); }); } }],
      legend: { live: true }
    }, values, host);
  }
  draw("units-chart", "units", "units");
  draw("cost-chart", "cost", "cost");
})();
