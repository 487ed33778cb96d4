// The report's chart: the page puts what to draw (labels, datasets, whether values are shares) beside the canvas.
(function () {
  "use strict";

  var canvas = document.getElementById("report-chart");
  var source = document.getElementById("report-chart-data");
  if (!canvas || !source || typeof Chart === "undefined") return;
  var spec = JSON.parse(source.textContent);
  var colors = ["#1f6feb", "#3c8d5a", "#d9534f", "#a371f7", "#e3a008", "#0e7490", "#6e7781"];
  var shown = function (value) { return value === null ? null : spec.percent ? Math.round(value * 1000) / 10 : value; };

  new Chart(canvas, {
    type: spec.type,
    data: {
      labels: spec.labels,
      datasets: spec.datasets.map(function (dataset, index) {
        var color = colors[index % colors.length];
        return {
          label: dataset.label + (spec.percent ? " (%)" : ""),
          data: dataset.data.map(shown),
          backgroundColor: color,
          borderColor: color,
          spanGaps: true,
        };
      }),
    },
    options: {
      animation: false,
      scales: { y: spec.percent ? { min: 0, max: 100 } : { beginAtZero: true } },
    },
  });
})();
