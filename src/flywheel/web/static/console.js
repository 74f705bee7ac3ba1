// Flywheel console: charts, live deployment and incident updates, the audit chain box, confirmations.
(function () {
  "use strict";

  function drawCharts(root) {
    if (!window.Plotly) return;
    root.querySelectorAll("[data-chart]").forEach(function (el) {
      var source = document.getElementById(el.getAttribute("data-chart"));
      if (!source) return;
      var fig = JSON.parse(source.textContent);
      window.Plotly.react(el, fig.data, fig.layout, { displayModeBar: false, responsive: true });
    });
  }

  function follow(run) {
    var source = new EventSource(run.getAttribute("data-live"));
    var summary = document.getElementById("run-summary");
    var batches = document.getElementById("run-batches");
    source.addEventListener("summary", function (e) {
      // Keep keyboard focus on the same control when the summary is redrawn.
      var form = summary.contains(document.activeElement) ? document.activeElement.closest("form") : null;
      var action = form ? form.getAttribute("action") : null;
      summary.innerHTML = e.data;
      var again = action ? summary.querySelector('form[action="' + action + '"] button') : null;
      if (again) again.focus();
    });
    source.addEventListener("batches", function (e) { batches.innerHTML = e.data; });
    source.addEventListener("chart", function (e) {
      var el = document.getElementById("run-chart");
      var fig = JSON.parse(e.data);
      if (window.Plotly && el) {
        window.Plotly.react(el, fig.data, fig.layout, { displayModeBar: false, responsive: true });
      }
    });
    source.addEventListener("done", function () {
      source.close();
      run.setAttribute("data-finished", "true");
    });
  }

  function followIncident(section) {
    var source = new EventSource(section.getAttribute("data-incident-live"));
    var timeline = document.getElementById("incident-timeline");
    var changed = document.getElementById("incident-changed");
    var first = section.getAttribute("data-state");
    source.addEventListener("timeline", function (e) { timeline.innerHTML = e.data; });
    source.addEventListener("state", function (e) {
      section.setAttribute("data-state", e.data);
      if (e.data !== first && changed) changed.hidden = false;
    });
    source.addEventListener("done", function () {
      source.close();
      section.setAttribute("data-finished", "true");
    });
  }

  function fetchInto(el) {
    fetch(el.getAttribute("data-fetch"), { credentials: "same-origin" })
      .then(function (r) { return r.ok ? r.text() : Promise.reject(r.status); })
      .then(function (html) { el.innerHTML = html; })
      .catch(function () { el.innerHTML = "<p class=\"error\">Could not check the chain. <a href=\"/audit/verify\">Try again</a></p>"; });
  }

  document.addEventListener("submit", function (e) {
    var question = e.target.getAttribute("data-confirm");
    if (question && !window.confirm(question)) e.preventDefault();
  });

  document.addEventListener("DOMContentLoaded", function () {
    drawCharts(document);
    document.querySelectorAll("[data-live]").forEach(follow);
    document.querySelectorAll("[data-incident-live]").forEach(followIncident);
    document.querySelectorAll("[data-fetch]").forEach(fetchInto);
  });
})();
