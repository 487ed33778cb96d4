// The SLA attainment chart: service level of each 15-minute interval of a day, against the target line.
(function () {
  "use strict";

  var canvas = document.getElementById("sla-chart");
  var source = document.getElementById("sla-series");
  if (!canvas || !source || typeof Chart === "undefined") return;
  var series = JSON.parse(source.textContent);
  if (!series) return;

  var timeOfDay = new Intl.DateTimeFormat(undefined, { hour: "2-digit", minute: "2-digit", timeZone: series.timezone });
  var labels = series.points.map(function (point) { return timeOfDay.format(new Date(point.start)); });
  var percent = function (share) { return share === null ? null : Math.round(share * 1000) / 10; };

  new Chart(canvas, {
    data: {
      labels: labels,
      datasets: [
        {
          type: "bar",
          label: "Service level (%)",
          data: series.points.map(function (point) { return percent(point.service_level); }),
          backgroundColor: series.points.map(function (point) {
            return point.service_level !== null && point.service_level < series.minimum ? "#d9534f" : "#3c8d5a";
          }),
        },
        {
          type: "line",
          label: "Target (" + percent(series.minimum) + "% within " + series.within_seconds + " s)",
          data: series.points.map(function () { return percent(series.minimum); }),
          borderColor: "#1f3a93",
          borderDash: [6, 4],
          pointRadius: 0,
        },
      ],
    },
    options: {
      animation: false,
      scales: { y: { min: 0, max: 100, title: { display: true, text: "%" } } },
      plugins: {
        tooltip: {
          callbacks: {
            afterLabel: function (item) {
              return item.datasetIndex === 0 ? series.points[item.dataIndex].contacts + " contacts" : "";
            },
          },
        },
      },
    },
  });
})();
