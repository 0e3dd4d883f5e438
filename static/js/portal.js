// Small behaviours shared by every page: the htmx modal and the organization picker.
(function () {
  "use strict";

  function closeModal() {
    var holder = document.getElementById("modal");
    var dialog = holder && holder.querySelector("dialog");
    if (dialog && dialog.open) dialog.close();
    // Emptied on the next tick: other events from the same response (mappingsChanged) are
    // still dispatched on elements inside the dialog and must bubble up to <body> first.
    if (holder) setTimeout(function () { holder.innerHTML = ""; }, 0);
  }

  document.addEventListener("htmx:afterSwap", function (event) {
    var holder = document.getElementById("modal");
    if (!holder || !holder.contains(event.detail.target)) return;
    var dialog = holder.querySelector("dialog");
    if (dialog && !dialog.open) dialog.showModal();
    var first = dialog && dialog.querySelector("[autofocus], input:not([type=hidden]), select");
    if (first) first.focus();
  });
  document.body.addEventListener("closeModal", closeModal);
  document.addEventListener("click", function (event) {
    if (event.target.closest("[data-close-modal]")) {
      event.preventDefault();
      closeModal();
    }
  });
  document.addEventListener("cancel", function (event) {
    if (event.target.closest("#modal")) {
      event.preventDefault();
      closeModal();
    }
  }, true);

  // <form data-confirm="…">: asks before submitting (the CSP forbids onclick= handlers).
  document.addEventListener("submit", function (event) {
    var form = event.target.closest("form[data-confirm]");
    if (form && !window.confirm(form.dataset.confirm)) event.preventDefault();
  }, true);

  // Organization picker: a text box that asks the typeahead endpoint, a hidden input that holds
  // the chosen primary key, and a list of options (from the typeahead or the browse panel).
  function pick(container, option) {
    var hidden = container.querySelector("input[data-picker-value]");
    var text = container.querySelector("input[data-picker-text]");
    hidden.value = option.dataset.value;
    text.value = option.dataset.label;
    container.querySelectorAll(".typeahead-results, [data-picker-browse]").forEach(function (el) {
      el.innerHTML = "";
    });
    hidden.dispatchEvent(new Event("change", { bubbles: true }));
    // What a row or cell form triggers on (hx-trigger="picked"): a plain event name, because
    // htmx evaluates [filter] expressions with Function(), which the CSP forbids.
    hidden.dispatchEvent(new Event("picked", { bubbles: true }));
  }

  document.addEventListener("click", function (event) {
    var option = event.target.closest("[data-picker] [data-value]");
    if (!option) return;
    event.preventDefault();
    pick(option.closest("[data-picker]"), option);
  });

  document.addEventListener("input", function (event) {
    var text = event.target.closest("input[data-picker-text]");
    if (!text) return;
    // A typed name is not a choice until an option is picked.
    var hidden = text.closest("[data-picker]").querySelector("input[data-picker-value]");
    if (hidden.value) hidden.value = "";
  });

  document.addEventListener("keydown", function (event) {
    var text = event.target.closest("input[data-picker-text]");
    if (!text) return;
    var container = text.closest("[data-picker]");
    var options = Array.prototype.slice.call(container.querySelectorAll(".typeahead-results [data-value]"));
    if (!options.length) return;
    var current = options.findIndex(function (o) { return o.getAttribute("aria-selected") === "true"; });
    if (event.key === "ArrowDown" || event.key === "ArrowUp") {
      event.preventDefault();
      var next = event.key === "ArrowDown" ? Math.min(current + 1, options.length - 1) : Math.max(current - 1, 0);
      options.forEach(function (o, i) { o.setAttribute("aria-selected", i === next ? "true" : "false"); });
    } else if (event.key === "Enter" && current >= 0) {
      event.preventDefault();
      pick(container, options[current]);
    } else if (event.key === "Escape") {
      container.querySelector(".typeahead-results").innerHTML = "";
    }
  });

  // "Select every row": checks the enabled row boxes that belong to the named form.
  document.addEventListener("change", function (event) {
    var all = event.target.closest("input[data-select-all]");
    if (!all) return;
    var form = all.dataset.selectAll;
    document.querySelectorAll('input[type=checkbox][form="' + form + '"]:not(:disabled)').forEach(function (box) {
      box.checked = all.checked;
    });
  });

  // Narrow windows: the navigation sits above the page, its sections folded until opened.
  if (window.matchMedia && window.matchMedia("(max-width: 900px)").matches) {
    document.querySelectorAll(".sidebar > details.nav-section").forEach(function (section) {
      section.open = false;
    });
  }
})();
