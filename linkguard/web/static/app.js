// linkage guard — small enhancements only; every page works without this file.
(function () {
  "use strict";

  function typing(target) {
    var tag = (target && target.tagName) || "";
    return tag === "INPUT" || tag === "TEXTAREA" || tag === "SELECT" || (target && target.isContentEditable);
  }

  // Record page: r / a / c / b jump to a decision's comment box; Esc (outside a field) goes back to the queue.
  document.addEventListener("keydown", function (event) {
    if (event.ctrlKey || event.metaKey || event.altKey) { return; }
    if (event.key === "Escape" && typing(event.target)) { event.target.blur(); return; }
    if (typing(event.target)) { return; }
    var form = document.querySelector('form[data-shortcut="' + event.key + '"]');
    if (form) {
      var box = form.querySelector("textarea");
      if (box) { event.preventDefault(); box.focus(); box.scrollIntoView({ block: "center" }); }
      return;
    }
    if (event.key === "Escape") {
      var back = document.getElementById("back-to-queue");
      if (back) { window.location.href = back.getAttribute("href"); }
      return;
    }
    // Queue: j / k move between rows, / goes to the filters.
    if (event.key === "/") {
      var first = document.querySelector(".filters select, .filters input");
      if (first) { event.preventDefault(); first.focus(); }
      return;
    }
    if (event.key === "j" || event.key === "k") {
      var links = Array.prototype.slice.call(document.querySelectorAll("a.row-link"));
      if (!links.length) { return; }
      var index = links.indexOf(document.activeElement);
      index = event.key === "j" ? Math.min(links.length - 1, index + 1) : Math.max(0, index - 1);
      links[index].focus();
      event.preventDefault();
    }
  });

  // Reveal a number in place (POST, audited on the server); without script the form reloads the page.
  document.addEventListener("submit", function (event) {
    var form = event.target;
    var which = form.getAttribute("data-reveal");
    if (!which || !window.fetch) { return; }
    event.preventDefault();
    var button = form.querySelector("button");
    if (button) { button.disabled = true; }
    fetch(form.action, { method: "POST", body: new FormData(form), credentials: "same-origin",
                         headers: { "X-Requested-With": "fetch" } })
      .then(function (r) { if (!r.ok) { throw new Error(r.status); } return r.json(); })
      .then(function (data) {
        var span = document.querySelector('[data-number-for="' + which + '"]');
        if (span) { span.textContent = data.number; span.classList.add("revealed"); }
        form.remove();
      })
      .catch(function () { form.submit(); });
  });

  // Correct: ticking "use the suggestion" disables the typed number.
  var use = document.getElementById("use-suggestion");
  var typed = document.getElementById("new-number");
  function sync() { if (use && typed) { typed.disabled = use.checked; } }
  if (use) { use.addEventListener("change", sync); sync(); }

  // Dashboard: reload with the sampling interval while the tab is visible.
  var refresh = document.querySelector("[data-refresh]");
  if (refresh) {
    var seconds = Math.max(5, parseInt(refresh.getAttribute("data-refresh"), 10) || 15);
    setInterval(function () { if (document.visibilityState === "visible") { window.location.reload(); } }, seconds * 1000);
  }
})();
