// The dashboard's only script: local times, the bulk toolbar, the custom date range, and the
// parts of a page that update themselves while cases are pending. Pages work without it.
(function () {
  "use strict";

  function localTimes(root) {
    root.querySelectorAll("time[data-local]").forEach(function (el) {
      var at = new Date(el.getAttribute("datetime"));
      if (isNaN(at)) return;
      var opts = el.hasAttribute("data-precise")
        ? { hour: "2-digit", minute: "2-digit", second: "2-digit", fractionalSecondDigits: 3 }
        : { year: "numeric", month: "short", day: "numeric", hour: "2-digit", minute: "2-digit" };
      el.textContent = at.toLocaleString(undefined, opts);
      el.title = at.toString();
    });
  }

  function bulk(form) {
    var boxes = function () { return form.querySelectorAll('input[name="run"]'); };
    var all = form.querySelector("[data-select-all]");
    var count = form.querySelector("[data-selected-count]");
    function update() {
      var n = 0;
      boxes().forEach(function (b) { if (b.checked) n++; });
      count.textContent = n ? n.toLocaleString() + " selected" : "None selected";
      form.querySelectorAll("[data-needs]").forEach(function (btn) {
        var need = btn.getAttribute("data-needs");
        btn.disabled = need === "2" ? n !== 2 : n < 1;
      });
      if (all) all.checked = n > 0 && n === boxes().length;
    }
    form.addEventListener("change", function (ev) {
      if (ev.target === all) boxes().forEach(function (b) { b.checked = all.checked; });
      update();
    });
    update();
  }

  function customRange(select) {
    var target = document.getElementById(select.getAttribute("data-toggles"));
    var tz = target && target.querySelector("[data-tz]");
    function update() {
      if (!target) return;
      var on = select.value === "custom";
      target.hidden = !on;
      target.querySelectorAll("input").forEach(function (i) { i.disabled = !on; });  // not sent unless used
    }
    select.addEventListener("change", update);
    if (tz) tz.value = String(new Date().getTimezoneOffset());
    update();
  }

  // Re-fetch a page's live part while it says it is live (data-live-url), and swap it in.
  // The server renders and escapes the fragment; it is parsed as HTML of this same origin.
  function live() {
    var el = document.getElementById("live");
    var src = el && el.getAttribute("data-live-url");
    if (!src) return;
    setTimeout(function () {
      if (document.hidden) { document.addEventListener("visibilitychange", live, { once: true }); return; }
      fetch(src, { credentials: "same-origin", headers: { Accept: "text/html" } }).then(function (resp) {
        if (resp.redirected || !resp.ok) {  // signed out, or the run is gone: show the page as it is now
          if (resp.status !== 503) { window.location.reload(); return null; }
          return null;
        }
        return resp.text();
      }).then(function (html) {
        if (html) {
          var tpl = document.createElement("template");
          tpl.innerHTML = html.trim();
          var fresh = tpl.content.getElementById("live");
          if (fresh) { el.replaceWith(fresh); localTimes(fresh); }
        }
        live();
      }).catch(function () { live(); });
    }, 1500);
  }

  document.addEventListener("DOMContentLoaded", function () {
    localTimes(document);
    document.querySelectorAll("form[data-bulk]").forEach(bulk);
    document.querySelectorAll("select[data-toggles]").forEach(customRange);
    live();
  });
})();
