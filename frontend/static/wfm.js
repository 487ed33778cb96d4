// Workforce charts (Chart.js): planned against actual staff, the forecast, the shared pool's plan.
(function () {
  "use strict";

  var source = document.getElementById("wfm-chart");
  if (!source || typeof Chart === "undefined") return;
  var chart = JSON.parse(source.textContent);
  var palette = ["#1f3a93", "#3c8d5a", "#c27c0e", "#8e44ad", "#d9534f", "#16a085", "#7f8c8d"];

  function line(label, data, color, options) {
    return Object.assign(
      { type: "line", label: label, data: data, borderColor: color, backgroundColor: color, pointRadius: 0, borderWidth: 2 },
      options || {}
    );
  }

  function draw(id, datasets, yTitle) {
    var canvas = document.getElementById(id);
    if (!canvas) return;
    new Chart(canvas, {
      data: { labels: chart.labels, datasets: datasets },
      options: {
        animation: false,
        interaction: { mode: "index", intersect: false },
        scales: { y: { beginAtZero: true, title: { display: true, text: yTitle } } },
      },
    });
  }

  var intraday = chart.intraday;
  if (intraday) {
    var planned = [
      line("Agents needed", intraday.planned_agents, palette[0], { stepped: "middle" }),
      line("Staff to schedule", intraday.planned_staff, palette[0], { stepped: "middle", borderDash: [6, 4] }),
    ];
    var actual = [
      line("Staffed", intraday.staffed, palette[1], { spanGaps: false }),
      line("Staffed, not on break", intraday.available, palette[2], { spanGaps: false, borderDash: [2, 3] }),
    ];
    draw("wfm-intraday", planned.concat(actual), "agents");
    if (chart.dedicated_agents) {
      var pooled = [
        line("Agents needed (pooled)", intraday.planned_agents, palette[0], { stepped: "middle" }),
        line("Agents needed (queues alone)", chart.dedicated_agents, palette[4], { stepped: "middle", borderDash: [6, 4] }),
      ];
      draw("wfm-pool", pooled.concat(actual), "agents");
    }
  }

  if (chart.forecast) {
    draw(
      "wfm-forecast",
      chart.forecast.map(function (queue, index) { return line(queue.name, queue.calls, palette[index % palette.length]); }),
      "contacts per 15 minutes"
    );
  }
})();
