/* Keyboard shortcuts for the telephone console (progressive enhancement: every form works
   without this file). Digits choose an option of the active question, Enter saves the page,
   letters press the outcome button with that data-key, G takes the next number. */
(function () {
  "use strict";
  var submitted = false;

  function typing(el) {
    if (!el) return false;
    var tag = el.tagName;
    if (tag === "TEXTAREA" || tag === "SELECT") return true;
    return tag === "INPUT" && !/^(radio|checkbox|submit|button)$/.test(el.type);
  }

  function questions() {
    return Array.prototype.slice.call(document.querySelectorAll("[data-question]"));
  }

  function activeQuestion() {
    var list = questions();
    var focused = document.activeElement && document.activeElement.closest
      ? document.activeElement.closest("[data-question]") : null;
    if (focused) return focused;
    for (var i = 0; i < list.length; i++) {
      if (list[i].classList.contains("active")) return list[i];
    }
    for (var j = 0; j < list.length; j++) {
      if (!list[j].querySelector("input:checked")) return list[j];
    }
    return list[list.length - 1] || null;
  }

  function mark(q) {
    questions().forEach(function (x) { x.classList.toggle("active", x === q); });
  }

  function choose(digit) {
    var q = activeQuestion();
    if (!q) return false;
    var inputs = q.querySelectorAll("input[type=radio], input[type=checkbox]");
    var index = digit === 0 ? 9 : digit - 1;
    if (index >= inputs.length) return false;
    var input = inputs[index];
    if (input.type === "checkbox") { input.checked = !input.checked; } else { input.checked = true; }
    // Keep focus off the inputs so the active question (not the focused one) takes the next key.
    if (document.activeElement && document.activeElement.blur) document.activeElement.blur();
    if (input.type === "radio") {
      var list = questions();
      var next = list[list.indexOf(q) + 1];
      mark(next || q);
    } else {
      mark(q);
    }
    return true;
  }

  document.addEventListener("submit", function (event) {
    // One submission per page view: a double-click or repeated key does not post twice (the
    // server also ignores a repeated idempotency key).
    if (submitted) { event.preventDefault(); return; }
    submitted = true;
  });

  document.addEventListener("keydown", function (event) {
    if (event.ctrlKey || event.metaKey || event.altKey || event.isComposing) return;
    var target = event.target;
    if (event.key === "Enter" && target && target.id === "appointment_at") {
      var appointment = document.querySelector("button[data-appointment]");
      if (appointment) { event.preventDefault(); appointment.click(); }
      return;
    }
    if (typing(target)) return;
    var key = event.key;
    if (/^[0-9]$/.test(key) && document.querySelector("[data-question]")) {
      if (choose(parseInt(key, 10))) event.preventDefault();
      return;
    }
    if (key === "Enter") {
      var save = document.querySelector("[data-submit-answers]");
      if (save && !(target && target.tagName === "BUTTON")) {
        event.preventDefault();
        save.click();
      }
      return;
    }
    if (key.length !== 1 || !/[a-z]/i.test(key)) return;
    var button = document.querySelector('button[data-key="' + key.toUpperCase() + '"]');
    if (!button) return;
    event.preventDefault();
    if (button.hasAttribute("data-appointment")) {
      var field = document.getElementById("appointment_at");
      var box = field && field.closest("details");
      if (box && !box.open) { box.open = true; field.focus(); return; }
    }
    button.click();
  });

  document.addEventListener("DOMContentLoaded", function () {
    var q = activeQuestion();
    if (q) mark(q);
    // Supervisor view: reload the live figures periodically, unless a form is being filled in.
    var live = document.querySelector("[data-autorefresh]");
    if (live) {
      var edited = false;
      document.addEventListener("input", function () { edited = true; });
      var seconds = parseInt(live.getAttribute("data-autorefresh"), 10) || 60;
      setInterval(function () {
        var el = document.activeElement;
        if (!edited && !submitted && !(el && /^(INPUT|SELECT|TEXTAREA)$/.test(el.tagName))) {
          // The canonical URL, not reload(): after a POST, reload() would post again.
          window.location.assign(live.getAttribute("data-url") || window.location.pathname);
        }
      }, seconds * 1000);
    }
  });
})();
