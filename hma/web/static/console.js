// Keyboard use of the reviewer console, and keeping a claimed case's lease alive.
// Plain script, no dependencies: the console must work without network access.
(function () {
  "use strict";
  function typing(event) {
    var tag = (event.target.tagName || "").toLowerCase();
    return tag === "input" || tag === "select" || tag === "textarea" || event.target.isContentEditable;
  }
  function focus(id) { var el = document.getElementById(id); if (el) { el.focus(); return true; } return false; }
  function click(id) { var el = document.getElementById(id); if (el) { el.click(); return true; } return false; }
  function focusForm(id) {
    var form = document.getElementById(id);
    if (!form) return false;
    var field = form.querySelector("select, input:not([type=hidden]), button");
    if (field) field.focus();
    return true;
  }

  var rows = Array.prototype.slice.call(document.querySelectorAll("table.queue tbody tr[data-href]"));
  var selected = -1;
  function select(index) {
    if (!rows.length) return;
    if (selected >= 0) rows[selected].classList.remove("selected");
    selected = Math.max(0, Math.min(rows.length - 1, index));
    rows[selected].classList.add("selected");
    var link = rows[selected].querySelector("a");
    if (link) link.focus();
  }

  // "g" then a letter goes to a curator's page.
  var goTo = { o: "/console/overview", b: "/console/banks", x: "/console/exchanges", m: "/console/match-debug" };
  var prefixed = false;

  document.addEventListener("keydown", function (event) {
    if (event.ctrlKey || event.metaKey || event.altKey || typing(event)) return;
    if (prefixed) {
      prefixed = false;
      if (goTo[event.key]) { window.location.href = goTo[event.key]; event.preventDefault(); }
      return;
    }
    var handled = true;
    switch (event.key) {
      case "g": prefixed = true; break;
      case "/": handled = focusForm("search") || focusForm("debug-hash"); break;
      case "s": handled = focus("sync-now"); break;
      case "j": select(selected + 1); break;
      case "k": select(selected - 1); break;
      case "n": handled = click("next-case"); break;
      case "q": window.location.href = "/console/queue"; break;
      case "c": handled = focusForm("confirm-form"); break;
      case "r": handled = focusForm("reject-form"); break;
      case "e": handled = focusForm("escalate-form"); break;
      // Revealing and agreeing take a second, deliberate key: these only focus the button.
      case "v": handled = focus("reveal"); break;
      case "u": handled = click("undo"); break;
      case "a": handled = focus("approve"); break;
      case "b": handled = click("back"); break;
      case "?":
        var footer = document.querySelector("footer");
        if (footer) { footer.setAttribute("tabindex", "-1"); footer.focus(); }
        break;
      default: handled = false;
    }
    if (handled) event.preventDefault();
  });

  // While an exchange syncs, show how far it has got (the jobs process writes it).
  var progress = document.getElementById("sync-progress");
  if (progress) {
    var bar = document.getElementById("sync-bar");
    var label = document.getElementById("sync-text");
    var wasRunning = false;
    var poll = function () {
      fetch(progress.dataset.url, { headers: { Accept: "application/json" } })
        .then(function (answer) { return answer.json(); })
        .then(function (state) {
          if (state.running) {
            bar.hidden = false;
            if (state.expected) { bar.max = state.expected; bar.value = Math.min(state.records, state.expected); }
            else { bar.removeAttribute("value"); }
            label.textContent = "Syncing: " + state.records + " records" +
              (state.expected ? " of about " + state.expected : "");
            wasRunning = true;
          } else if (state.requested) {
            bar.hidden = false; bar.removeAttribute("value");
            label.textContent = "Sync asked for; waiting for the jobs process.";
            wasRunning = true;
          } else {
            bar.hidden = true;
            if (wasRunning) {
              label.textContent = state.ok ? "Sync done: " + state.records + " records." :
                "Sync failed: " + (state.error || "see the log");
              wasRunning = false;
              setTimeout(function () { window.location.reload(); }, 1500);
            }
          }
        })
        .catch(function () { label.textContent = "Progress unavailable."; });
    };
    poll();
    setInterval(poll, 1000);
  }

  // While a reviewer keeps a case they hold open, renew the lease every minute.
  var release = document.getElementById("release");
  var token = document.querySelector("meta[name=csrf-token]");
  if (release && token) {
    var renewUrl = release.form.action.replace(/\/release$/, "/renew");
    setInterval(function () {
      fetch(renewUrl, { method: "POST", headers: { "X-CSRF-Token": token.content } });
    }, 60000);
  }
})();
