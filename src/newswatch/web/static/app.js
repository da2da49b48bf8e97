// newswatch workbench: keyboard shortcuts, and nothing else. Every page works without this.
(function () {
  "use strict";
  var pendingG = false;
  var gTimer = null;

  function typing(e) {
    var t = e.target;
    return t && (t.isContentEditable || /^(INPUT|TEXTAREA|SELECT|BUTTON)$/.test(t.tagName));
  }

  function rows() {
    return Array.prototype.slice.call(document.querySelectorAll("tr.item[data-href]"));
  }

  function select(delta) {
    var list = rows();
    if (!list.length) return false;
    var i = list.findIndex(function (r) { return r.classList.contains("selected"); });
    var next = i < 0 ? 0 : Math.max(0, Math.min(list.length - 1, i + delta));
    if (i >= 0) list[i].classList.remove("selected");
    list[next].classList.add("selected");
    list[next].scrollIntoView({ block: "nearest" });
    return true;
  }

  function openSelected() {
    var r = document.querySelector("tr.item.selected");
    if (r) { window.location.href = r.getAttribute("data-href"); return true; }
    return false;
  }

  function verdict(key) {
    var b = document.querySelector('.verdict-form button[data-key="' + key + '"]');
    if (b) { b.click(); return true; }
    return false;
  }

  function go(key) {
    var a = document.querySelector('.nav a[data-key="g ' + key + '"]');
    if (a) { window.location.href = a.getAttribute("href"); return true; }
    return false;
  }

  document.addEventListener("keydown", function (e) {
    if (e.ctrlKey || e.metaKey || e.altKey || typing(e)) return;
    var k = e.key;
    var done = false;
    if (pendingG) {
      pendingG = false;
      clearTimeout(gTimer);
      done = go(k);
    } else if (k === "g") {
      pendingG = true;
      gTimer = setTimeout(function () { pendingG = false; }, 1200);
      done = true;
    } else if (k === "/") {
      var q = document.getElementById("q");
      if (q) { q.focus(); q.select(); done = true; }
    } else if (k === "j") {
      done = select(1);
    } else if (k === "k") {
      done = select(-1);
    } else if (k === "o" || k === "Enter") {
      done = openSelected();
    } else if (k === "c" || k === "x" || k === "u") {
      done = verdict(k);
    } else if (k === "s") {
      var s = document.getElementById("story-link");
      if (s) { window.location.href = s.getAttribute("href"); done = true; }
    } else if (k === "?") {
      window.location.href = "/help#keys";
      done = true;
    }
    if (done) e.preventDefault();
  });

  // hovering a row of the evidence table outlines its marks in the text
  document.addEventListener("mouseover", function (e) {
    var tr = e.target.closest && e.target.closest("table.mentions tr[data-m]");
    document.querySelectorAll("mark.flash").forEach(function (m) { m.classList.remove("flash"); });
    if (!tr) return;
    var idx = tr.getAttribute("data-m");
    document.querySelectorAll("mark[data-m]").forEach(function (m) {
      if (m.getAttribute("data-m").split(" ").indexOf(idx) >= 0) m.classList.add("flash");
    });
  });
})();
