// codedrop dashboard: live countdowns and statuses. The pages are complete
// without this script; it only keeps them current. It never inserts HTML:
// every value goes in with textContent.
(function () {
  "use strict";
  var body = document.body;
  var base = body.dataset.base || "";
  var pollMS = parseInt(body.dataset.pollMs, 10) || 5000;
  var watch = body.dataset.watch || "";
  var deadlines = {}; // distribution id -> performance.now() when it fires

  function mmss(ms) {
    var s = Math.max(0, Math.ceil(ms / 1000));
    var m = Math.floor(s / 60);
    s = s % 60;
    return (m < 10 ? "0" : "") + m + ":" + (s < 10 ? "0" : "") + s;
  }

  function each(selector, f) {
    Array.prototype.forEach.call(document.querySelectorAll(selector), f);
  }

  function byData(attr, id) {
    return document.querySelectorAll("[" + attr + '="' + CSS.escape(id) + '"]');
  }

  each("[data-countdown][data-remaining-ms]", function (el) {
    deadlines[el.dataset.countdown] = performance.now() + parseInt(el.dataset.remainingMs, 10);
  });

  function tick() {
    var now = performance.now();
    Object.keys(deadlines).forEach(function (id) {
      Array.prototype.forEach.call(byData("data-countdown", id), function (el) {
        el.textContent = mmss(deadlines[id] - now);
      });
    });
  }

  function apply(d) {
    var changed = false;
    Array.prototype.forEach.call(byData("data-status", d.id), function (el) {
      if (el.textContent !== d.status) {
        changed = true;
        el.textContent = d.status;
        el.className = "status status-" + d.status;
      }
    });
    Array.prototype.forEach.call(byData("data-while-open", d.id), function (el) {
      el.hidden = !d.open;
    });
    if (typeof d.remaining_ms === "number") {
      deadlines[d.id] = performance.now() + d.remaining_ms;
    } else {
      delete deadlines[d.id];
      Array.prototype.forEach.call(byData("data-countdown", d.id), function (el) {
        el.textContent = d.waiting ? "waiting for the segment to sync" : "";
      });
    }
    if (d.report) {
      ["sent", "skipped", "failed", "unknown"].forEach(function (k) {
        Array.prototype.forEach.call(byData("data-field", d.id + "." + k), function (el) {
          el.textContent = String(d.report[k]);
        });
      });
      Array.prototype.forEach.call(byData("data-field", d.id + ".pending"), function (el) {
        el.textContent = String(d.report.to_process);
      });
    }
    return changed;
  }

  function poll() {
    fetch(base + "/api/live", { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then(function (r) { return r.ok ? r.json() : null; })
      .then(function (j) {
        if (!j) { return; }
        var reload = false;
        j.distributions.forEach(function (d) {
          if (apply(d) && d.id === watch) { reload = true; }
        });
        tick();
        if (reload) { window.location.reload(); }
      })
      .catch(function () {});
  }

  // Segments: sync status and progress; a finished sync reloads the page.
  function applySegment(s) {
    var changed = false;
    Array.prototype.forEach.call(byData("data-sync", s.id), function (el) {
      if (el.textContent !== s.sync_status) { changed = true; }
    });
    if (s.progress) {
      Array.prototype.forEach.call(byData("data-sync-progress", s.id), function (el) {
        el.textContent = s.progress;
      });
      Array.prototype.forEach.call(byData("data-sync-bar", s.id), function (el) {
        el.setAttribute("width", String(s.width));
      });
    }
    if (typeof s.members === "number") {
      Array.prototype.forEach.call(byData("data-members", s.id), function (el) {
        el.textContent = String(s.members);
      });
    }
    return changed;
  }

  function pollSegments() {
    fetch(base + "/api/segments", { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then(function (r) { return r.ok ? r.json() : null; })
      .then(function (j) {
        if (!j) { return; }
        var reload = false;
        j.segments.forEach(function (s) { reload = applySegment(s) || reload; });
        if (reload) { window.location.reload(); }
      })
      .catch(function () {});
  }

  if (Object.keys(deadlines).length > 0 || document.querySelector("[data-status]")) {
    setInterval(tick, 250);
    setInterval(poll, pollMS);
  }
  if (document.querySelector("[data-sync]")) {
    setInterval(pollSegments, pollMS);
  }
})();
