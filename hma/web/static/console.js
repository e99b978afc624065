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

  document.addEventListener("keydown", function (event) {
    if (event.ctrlKey || event.metaKey || event.altKey || typing(event)) return;
    var handled = true;
    switch (event.key) {
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
