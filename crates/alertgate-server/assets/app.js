// alertgate UI enhancements. Every page works without this file; with it:
// - htmx requests carry the session's CSRF token in the X-CSRF-Token header;
// - tab lists follow the WAI-ARIA tabs pattern (arrow keys, Home, End; panels switch in place);
// - copy buttons copy; forms with data-confirm ask first; selects with data-autosubmit submit;
// - the delivery log refreshes itself unless paused or a row is open;
// - a page that revealed a secret replaces its URL, so a reload does not post again.
// It never inserts markup built from strings: text only.
(function () {
  "use strict";

  function csrfToken() {
    var meta = document.querySelector('meta[name="csrf-token"]');
    return meta ? meta.getAttribute("content") : "";
  }

  function toast(text) {
    var t = document.getElementById("toast");
    if (!t) return;
    t.textContent = text;
    t.classList.add("show");
    window.clearTimeout(toast.timer);
    toast.timer = window.setTimeout(function () {
      t.classList.remove("show");
    }, 4000);
  }

  // --- tabs -------------------------------------------------------------------------------
  function tabsOf(list) {
    return Array.prototype.filter.call(list.querySelectorAll('[role="tab"]'), function (t) {
      return t.closest('[role="tablist"]') === list;
    });
  }

  function activate(list, tab, focus) {
    tabsOf(list).forEach(function (t) {
      var selected = t === tab;
      t.setAttribute("aria-selected", selected ? "true" : "false");
      t.setAttribute("tabindex", selected ? "0" : "-1");
      var panel = document.getElementById(t.getAttribute("aria-controls"));
      if (panel) panel.hidden = !selected;
    });
    if (focus) tab.focus();
    var param = list.getAttribute("data-tab-param");
    if (param && tab.getAttribute("data-tab")) {
      var url = new URL(window.location.href);
      url.searchParams.set(param, tab.getAttribute("data-tab"));
      url.searchParams.delete("saved");
      window.history.replaceState(null, "", url.pathname + url.search);
    }
  }

  function setupTabs(root) {
    root.querySelectorAll('[role="tablist"]').forEach(function (list) {
      if (list.dataset.ready) return;
      list.dataset.ready = "1";
      list.addEventListener("click", function (e) {
        var tab = e.target.closest('[role="tab"]');
        if (!tab || tab.closest('[role="tablist"]') !== list) return;
        e.preventDefault();
        activate(list, tab, true);
      });
      list.addEventListener("keydown", function (e) {
        var tabs = tabsOf(list);
        var i = tabs.indexOf(document.activeElement);
        if (i < 0) return;
        var next = null;
        if (e.key === "ArrowRight") next = tabs[(i + 1) % tabs.length];
        else if (e.key === "ArrowLeft") next = tabs[(i - 1 + tabs.length) % tabs.length];
        else if (e.key === "Home") next = tabs[0];
        else if (e.key === "End") next = tabs[tabs.length - 1];
        if (next) {
          e.preventDefault();
          activate(list, next, true);
        }
      });
    });
  }

  // --- copy -------------------------------------------------------------------------------
  function copyText(text) {
    if (navigator.clipboard && window.isSecureContext) {
      return navigator.clipboard.writeText(text);
    }
    var area = document.createElement("textarea");
    area.value = text;
    area.setAttribute("readonly", "");
    area.className = "visually-hidden";
    document.body.appendChild(area);
    area.select();
    try {
      document.execCommand("copy");
    } finally {
      document.body.removeChild(area);
    }
    return Promise.resolve();
  }

  document.addEventListener("click", function (e) {
    var button = e.target.closest("button[data-copy]");
    if (!button) return;
    var target = document.getElementById(button.getAttribute("data-copy"));
    if (!target) return;
    var text = "value" in target && target.tagName !== "PRE" ? target.value : target.textContent;
    copyText(text).then(
      function () {
        var label = button.textContent;
        button.textContent = "Copied";
        window.setTimeout(function () {
          button.textContent = label;
        }, 1500);
      },
      function () {
        toast("Copy failed: select the text and copy it by hand.");
      }
    );
  });

  // --- forms ------------------------------------------------------------------------------
  document.addEventListener("submit", function (e) {
    var form = e.target;
    var question = form.getAttribute && form.getAttribute("data-confirm");
    if (question && !window.confirm(question)) e.preventDefault();
  });

  document.addEventListener("change", function (e) {
    if (e.target.matches && e.target.matches("select[data-autosubmit]")) {
      e.target.form.submit();
    }
  });

  // --- htmx -------------------------------------------------------------------------------
  document.addEventListener("htmx:configRequest", function (e) {
    e.detail.headers["X-CSRF-Token"] = csrfToken();
  });

  document.addEventListener("htmx:beforeRequest", function (e) {
    var elt = e.detail.elt;
    if (!elt || elt.id !== "deliveries") return;
    var toggle = document.getElementById("auto-refresh");
    var panel = elt.closest('[role="tabpanel"]');
    var paused = (toggle && !toggle.checked) || elt.querySelector("details[open]") || (panel && panel.hidden);
    // Only the list's own polling comes from #deliveries; the filter form is another element.
    if (paused) e.preventDefault();
  });

  document.addEventListener("htmx:responseError", function (e) {
    var status = e.detail.xhr ? e.detail.xhr.status : 0;
    toast(status === 403 ? "Refused: reload the page and try again." : "The request failed (" + status + ").");
  });

  document.addEventListener("htmx:afterSwap", function (e) {
    setupTabs(e.target);
  });

  // --- start ------------------------------------------------------------------------------
  function start() {
    setupTabs(document);
    var replace = document.querySelector("[data-replace-url]");
    if (replace) window.history.replaceState(null, "", replace.getAttribute("data-replace-url"));
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();
