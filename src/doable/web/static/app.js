// Doable's own script: theme, keyboard shortcuts, toasts, time zone guess, focus after swaps,
// and live events (reminders as browser notifications or toasts).
// Deferred: theme.js, loaded before it without defer, applies the remembered theme before first
// paint (this file sets it again, harmlessly, and runs the toggle).
(function () {
  "use strict";
  var KEY = "doable-theme";
  var root = document.documentElement;
  root.classList.add("js"); // narrow screens fold the sidebar behind a Menu button (app.css)
  function applyTheme(theme) {
    if (theme === "light" || theme === "dark") root.dataset.theme = theme;
    else delete root.dataset.theme;
  }
  try { applyTheme(localStorage.getItem(KEY)); } catch (e) { /* storage may be blocked */ }

  function labelTheme(button) {
    var t = root.dataset.theme || "system";
    button.setAttribute("aria-label", "Colour theme: " + t);
    button.dataset.theme = t;  // app.css shows the matching icon
  }

  function typing(el) {
    return el && (el.isContentEditable || /^(INPUT|TEXTAREA|SELECT)$/.test(el.tagName));
  }

  function armToasts(scope) {
    scope.querySelectorAll(".toast[data-timeout]:not([data-armed])").forEach(function (toast) {
      toast.setAttribute("data-armed", "1");
      setTimeout(function () { toast.remove(); }, parseInt(toast.dataset.timeout, 10) || 8000);
    });
  }

  function toast(text, kind) {
    var box = document.getElementById("toasts");
    if (!box) return;
    var el = document.createElement("div");
    el.className = "toast" + (kind ? " " + kind : "");
    el.setAttribute("role", kind === "error" ? "alert" : "status");
    el.dataset.timeout = kind === "reminder" ? "30000" : "8000";
    el.textContent = text;
    box.appendChild(el);
    armToasts(box);
  }

  document.addEventListener("DOMContentLoaded", function () {
    var button = document.getElementById("theme-toggle");
    if (button) {
      labelTheme(button);
      button.addEventListener("click", function () {
        var order = ["system", "light", "dark"];
        var next = order[(order.indexOf(root.dataset.theme || "system") + 1) % 3];
        applyTheme(next);
        try { localStorage.setItem(KEY, next); } catch (e) { /* ignore */ }
        labelTheme(button);
      });
    }
    var tz = document.querySelector("[data-guess-timezone]");
    if (tz) {
      try { tz.value = Intl.DateTimeFormat().resolvedOptions().timeZone || "UTC"; } catch (e) { /* keep UTC */ }
    }
    armToasts(document);
    liveEvents();
  });

  // The Menu button (narrow screens): shows or hides the sidebar. A sidebar that htmx swapped
  // in arrives closed, and the button says so.
  document.addEventListener("click", function (event) {
    var button = event.target.closest && event.target.closest("#menu-toggle");
    var sidebar = document.getElementById("sidebar");
    if (!button || !sidebar) return;
    var open = !sidebar.classList.contains("open");
    sidebar.classList.toggle("open", open);
    button.setAttribute("aria-expanded", open ? "true" : "false");
    if (open) {
      var first = sidebar.querySelector("a, button, input, select");
      if (first) first.focus();
    }
  });
  document.addEventListener("htmx:afterSettle", function () {
    var button = document.getElementById("menu-toggle");
    var sidebar = document.getElementById("sidebar");
    if (button && sidebar) {
      button.setAttribute("aria-expanded", sidebar.classList.contains("open") ? "true" : "false");
    }
  });

  // Live events: the server pushes `notification` (a reminder fired) and `task` (a task
  // changed elsewhere) over Server-Sent Events while the user is signed in.
  var shown = {};
  function notify(data) {
    if (!data || !data.id || shown[data.id]) return;
    shown[data.id] = true;
    var text = data.title + (data.body ? " · " + data.body : "");
    if ("Notification" in window && Notification.permission === "granted") {
      try {
        var n = new Notification(data.title, { body: data.body || "", tag: data.id });
        n.onclick = function () { window.focus(); n.close(); };
        return;
      } catch (e) { /* some browsers only allow notifications from a service worker */ }
    }
    toast(text, "reminder");
  }

  // Web Push: once notifications are allowed, register the service worker (/sw.js) and
  // subscribe this browser, so reminders arrive with no tab open. The subscription goes to
  // the server with the page's CSRF token, as every write does.
  function csrfToken() {
    try { return JSON.parse(document.body.getAttribute("hx-headers"))["X-CSRF-Token"]; } catch (e) { return ""; }
  }
  function keyBytes(base64url) {
    var raw = atob(base64url.replace(/-/g, "+").replace(/_/g, "/"));
    var out = new Uint8Array(raw.length);
    for (var i = 0; i < raw.length; i++) out[i] = raw.charCodeAt(i);
    return out;
  }
  // On load (permission already granted) the worker is registered and an existing
  // subscription re-sent; a new subscription is made only after the Allow click.
  function subscribePush(create) {
    if (!("serviceWorker" in navigator) || !("PushManager" in window) || !window.isSecureContext) return;
    if (Notification.permission !== "granted") return;
    navigator.serviceWorker.register("/sw.js", { scope: "/" }).then(function (reg) {
      return reg.pushManager.getSubscription().then(function (existing) {
        if (existing || !create) return existing;
        return fetch("/push/key", { credentials: "same-origin" })
          .then(function (r) { return r.json(); })
          .then(function (key) {
            return reg.pushManager.subscribe({ userVisibleOnly: true, applicationServerKey: keyBytes(key.public_key) });
          });
      });
    }).then(function (sub) {
      if (!sub) return;
      var sent = null;
      try { sent = sessionStorage.getItem("doable-push"); } catch (e) { /* ignore */ }
      if (sent === sub.endpoint) return; // told the server in this session already
      try { sessionStorage.setItem("doable-push", sub.endpoint); } catch (e) { /* ignore */ }
      return fetch("/push/subscribe", {
        method: "POST", credentials: "same-origin",
        headers: { "Content-Type": "application/json", "X-CSRF-Token": csrfToken() },
        body: JSON.stringify(sub)
      });
    }).catch(function () { /* push unavailable here: the tab's toasts and the inbox remain */ });
  }

  if ("serviceWorker" in navigator) {
    navigator.serviceWorker.addEventListener("message", function (event) {
      if (event.data && event.data.type === "doable-push") {
        document.body.dispatchEvent(new CustomEvent("doable-notification"));
      }
    });
  }

  function allowButton() {
    var button = document.getElementById("notify-allow");
    if (!button || !("Notification" in window)) return;
    function refresh() { button.hidden = Notification.permission !== "default"; }
    function allowed() { refresh(); subscribePush(true); }
    refresh();
    subscribePush(false);
    button.addEventListener("click", function () {
      var asked = Notification.requestPermission(allowed);
      if (asked && asked.then) asked.then(allowed);
    });
  }

  // A task changed elsewhere (another tab, the API, the scheduler): reload the list and the
  // counts, as this tab's filters show them. Not for this tab's own changes (its swaps already
  // show them), and not while a task is being edited here (that would drop the form).
  var lastOwnRequest = 0;
  var refreshTimer = null;
  document.addEventListener("htmx:afterRequest", function (event) {
    // Only this tab's changes count (a POST), not its reads such as the header bell's count.
    var config = event.detail.requestConfig;
    var verb = config && config.verb ? String(config.verb).toLowerCase() : "get";
    if (verb !== "get" && event.detail.elt && event.detail.elt.id !== "list-region") {
      lastOwnRequest = Date.now();
    }
  });
  function refreshSoon() {
    if (!window.htmx || !document.getElementById("list-region")) return;
    clearTimeout(refreshTimer);
    refreshTimer = setTimeout(function () {
      if (Date.now() - lastOwnRequest < 1500) return;
      if (document.querySelector("#task-list .task.editing, .htmx-request")) return;
      window.htmx.ajax("GET", window.location.pathname + window.location.search, {
        source: "#list-region", target: "#list-region", swap: "innerHTML"
      });
    }, 300);
  }

  var source = null;
  function liveEvents() {
    var url = document.body && document.body.dataset.events;
    if (!url || !("EventSource" in window)) return;
    allowButton();
    var retry = 3000;
    function open() {
      source = new EventSource(url);
      source.addEventListener("ready", function () {
        retry = 3000;
        document.body.dataset.live = "on"; // the stream is open (also a hook for tests)
      });
      source.addEventListener("notification", function (event) {
        try { notify(JSON.parse(event.data)); } catch (e) { /* ignore a malformed event */ }
        // The header bell (hx-trigger="doable-notification from:body") fetches its new count.
        document.body.dispatchEvent(new CustomEvent("doable-notification"));
      });
      source.addEventListener("notification-quiet", function () {
        document.body.dispatchEvent(new CustomEvent("doable-notification"));
      });
      source.addEventListener("task", function (event) {
        document.dispatchEvent(new CustomEvent("doable:task", { detail: event.data }));
        refreshSoon();
      });
      // A project was shared with this user, or they were removed from one: off the page of a
      // project they just lost (it is 404 now), else reload the lists.
      source.addEventListener("membership", function (event) {
        var change = {};
        try { change = JSON.parse(event.data); } catch (e) { /* ignore a malformed event */ }
        if (change.action === "removed" &&
            window.location.pathname === "/projects/" + change.project_id) {
          window.location.assign("/tasks");
          return;
        }
        refreshSoon();
      });
      source.onerror = function () {
        document.body.dataset.live = "off";
        // EventSource retries by itself unless the server refused the stream (signed out,
        // too many tabs, server restarting): then try again later, more slowly each time.
        if (source.readyState === EventSource.CLOSED) {
          source = null;
          setTimeout(open, retry);
          retry = Math.min(retry * 2, 60000);
        }
      };
    }
    open();
    window.addEventListener("pagehide", function () { if (source) source.close(); });
  }

  document.addEventListener("keydown", function (event) {
    if (event.key === "Escape") {
      // From the form or its reminders section (beside it: forms do not nest).
      var form = event.target.closest && event.target.closest("[data-edit-form], li.task.editing");
      var cancel = form && form.querySelector("[data-cancel-edit]");
      if (cancel) { event.preventDefault(); cancel.click(); }
      return;
    }
    if (event.ctrlKey || event.metaKey || event.altKey || typing(event.target)) return;
    var target = null;
    if (event.key === "n") target = document.getElementById("quick-title");
    if (event.key === "/") target = document.getElementById("search");
    if (target) { event.preventDefault(); target.focus(); return; }
    var action = TASK_KEYS[event.key];
    if (action) { event.preventDefault(); action(); }
  });

  // Task shortcuts (listed by `?`): j/k move through the tasks, and x, e, d, p and m act on
  // the task that has focus (or the first one). A row takes focus itself (tabindex -1), so
  // Tab still goes through its buttons as before.
  function rows() {
    return Array.prototype.slice.call(document.querySelectorAll("li.task:not(.editing)"))
      .filter(function (li) { return li.offsetParent !== null; });
  }
  function currentRow() {
    var el = document.activeElement;
    return (el && el.closest && el.closest("li.task")) || null;
  }
  function focusRow(li) {
    if (!li) return;
    li.tabIndex = -1;
    li.focus();
    li.scrollIntoView({ block: "nearest" });
  }
  function step(by) {
    var all = rows();
    if (!all.length) return;
    var at = all.indexOf(currentRow());
    focusRow(all[at < 0 ? (by > 0 ? 0 : all.length - 1) : Math.max(0, Math.min(all.length - 1, at + by))]);
  }
  function onRow(fn) {
    return function () {
      var li = currentRow() || rows()[0];
      if (li) fn(li);
    };
  }
  // Open the row's edit form and put focus on one of its fields once it is there.
  function editField(name) {
    return onRow(function (li) {
      var edit = li.querySelector('a[href$="/edit"]');
      if (!edit) return;
      var id = li.id;
      if (name) {
        document.addEventListener("htmx:afterSettle", function focusField() {
          document.removeEventListener("htmx:afterSettle", focusField);
          var form = document.getElementById(id);
          var field = form && form.querySelector('[name="' + name + '"]');
          if (field) field.focus();
        });
      }
      edit.click();
    });
  }
  var TASK_KEYS = {
    j: function () { step(1); },
    k: function () { step(-1); },
    x: onRow(function (li) { var b = li.querySelector("button.check"); if (b) b.click(); }),
    e: editField(null),
    d: editField("due_date"),
    p: editField("priority"),
    m: onRow(function (li) {
      var menu = li.querySelector("details.move-menu");
      if (menu) {
        menu.open = true;
        var first = menu.querySelector("button, select, a");
        if (first) first.focus();
      } else {
        editField("project_id")();
      }
    }),
    "?": function () { showShortcuts(); },
  };
  var SHORTCUTS = [
    ["n", "Add a task (quick add)"], ["/", "Search"], ["j / k", "Next / previous task"],
    ["x", "Complete or reopen the task"], ["e", "Edit the task"], ["d", "Set the due date"],
    ["p", "Set the priority"], ["m", "Move the task"], ["?", "Show these shortcuts"],
    ["Esc", "Cancel editing, close this list"],
  ];
  function showShortcuts() {
    var dialog = document.getElementById("shortcuts");
    if (!dialog) {
      dialog = document.createElement("dialog");
      dialog.id = "shortcuts";
      dialog.setAttribute("aria-labelledby", "shortcuts-title");
      var title = document.createElement("h2");
      title.id = "shortcuts-title";
      title.textContent = "Keyboard shortcuts";
      var list = document.createElement("dl");
      SHORTCUTS.forEach(function (pair) {
        var dt = document.createElement("dt");
        var kbd = document.createElement("kbd");
        kbd.textContent = pair[0];
        dt.appendChild(kbd);
        var dd = document.createElement("dd");
        dd.textContent = pair[1];
        list.appendChild(dt);
        list.appendChild(dd);
      });
      var form = document.createElement("form");
      form.method = "dialog";
      var close = document.createElement("button");
      close.textContent = "Close";
      form.appendChild(close);
      dialog.appendChild(title);
      dialog.appendChild(list);
      dialog.appendChild(form);
      document.body.appendChild(dialog);
    }
    if (!dialog.open) dialog.showModal();
  }

  document.addEventListener("htmx:afterSwap", function (event) { armToasts(document); });

  document.addEventListener("htmx:afterRequest", function (event) {
    // A form the answer replaced gets this event on an ancestor (detail.elt is then that
    // ancestor); the request's own element is in requestConfig.
    var config = event.detail.requestConfig;
    var elt = (config && config.elt) || event.detail.elt;
    if (!event.detail.successful) return;
    if (elt.id === "quick-add") {
      // The answer replaced the form with an empty one (a reset would bring back the text of
      // a refused add, which the form's fields hold as their defaults); type the next task.
      var title = document.getElementById("quick-title");
      if (title) title.focus();
    }
  });

  // Focus stays sensible when a swap removes the focused element: remember where a request
  // came from (a task and its neighbour, or an undo toast), then put focus back on that task,
  // on the neighbour if the task was deleted, or on the task that Undo brought back.
  // (Task items carry no ids on their controls, to keep a page of 50 small.)
  var origin = null;
  document.addEventListener("htmx:beforeRequest", function (event) {
    var elt = event.detail.elt;
    if (elt.id === "list-region") return; // a reload after a change: keep where it came from
    var li = elt.closest && elt.closest("li.task");
    var near = li && (li.nextElementSibling || li.previousElementSibling);
    origin = {
      id: li ? li.id : null,
      near: near ? near.id : null,
      undo: !!(elt.closest && elt.closest(".toast")),
      // The same control after the task is re-rendered; after an edit, its Edit link.
      control: elt.matches && elt.matches("button.check") ? "button.check"
        : elt.closest && elt.closest(".move-menu") ? ".move-menu summary" : ".task-actions a"
    };
  });

  function focusLost() {
    var active = document.activeElement;
    return !active || active === document.body || !!active.closest(".toast");
  }

  document.addEventListener("htmx:afterSettle", function (event) {
    var el = event.target;
    if (!el || !el.classList) return;
    if (el.classList.contains("editing")) {
      var input = el.querySelector("input[name=title]");
      if (input) {
        input.focus();
        input.setSelectionRange(input.value.length, input.value.length); // type to append
      }
      return;
    }
    if (!origin || !focusLost()) return;
    var control = null;
    if (origin.undo && el.id === "task-list") {
      control = el.querySelector("li.task button.check"); // restored at the top
    } else if (origin.id && el.id === origin.id) {
      control = el.querySelector(origin.control);
    } else if (origin.id && !document.getElementById(origin.id)) {
      var near = origin.near && document.getElementById(origin.near);
      control = near ? near.querySelector("button.check") : document.getElementById("quick-title");
    }
    if (control) control.focus();
  });

  // A task's reminders section, swapped in after an add or a delete (inline edit form or the
  // task's page), names what takes focus: the new reminder, the field that was refused, or
  // the control to add one; failing that, its message or heading.
  document.addEventListener("htmx:afterSettle", function () {
    document.querySelectorAll("[data-reminders][data-focus]").forEach(function (box) {
      var target = document.getElementById(box.dataset.focus)
        || box.querySelector(".field-error, h2");
      box.removeAttribute("data-focus");
      if (!target) return;
      if (!target.matches("a, button, input, select, textarea, [tabindex]")) {
        target.setAttribute("tabindex", "-1");
      }
      target.focus();
    });
  });

  document.addEventListener("htmx:beforeSwap", function (event) {
    var xhr = event.detail.xhr;
    if (xhr && xhr.status >= 400 && xhr.status !== 422) {
      var box = document.createElement("div");
      box.innerHTML = xhr.responseText;
      var msg = box.querySelector(".error-box p");
      toast(msg ? msg.textContent : "Something went wrong. Please try again.", "error");
    }
  });

  // The quick-add preview answers for the text it was sent. Requests queue one behind the
  // other (no aborts); an answer for text the box no longer holds (typed on, or emptied by
  // adding the task) is dropped. A blank box previews nothing: it is cleared here, not asked
  // of the server (adding a task empties the box, perhaps offline or with the session gone).
  document.addEventListener("htmx:beforeRequest", function (event) {
    var elt = event.detail.elt;
    if (elt.id !== "quick-title") return;
    if (!elt.value.trim()) {
      event.preventDefault();
      var preview = document.getElementById("quick-preview");
      if (preview) preview.innerHTML = "";
      return;
    }
    elt.dataset.previewOf = elt.value;
  });
  document.addEventListener("htmx:beforeSwap", function (event) {
    var elt = event.detail.elt;
    if (elt.id === "quick-title" && elt.value !== elt.dataset.previewOf) {
      event.detail.shouldSwap = false;
    }
  });

  document.addEventListener("htmx:sendError", function () {
    toast("Cannot reach the server. Check your connection.", "error");
  });

  document.addEventListener("click", function (event) {
    // Copy a feed's address; where the clipboard is unavailable (plain HTTP), select it instead.
    var copy = event.target.closest && event.target.closest("[data-copy]");
    if (copy) {
      var field = document.getElementById(copy.dataset.copy);
      if (!field) return;
      field.focus();
      field.select();
      if (navigator.clipboard && window.isSecureContext) {
        navigator.clipboard.writeText(field.value).then(
          function () { toast("Copied to the clipboard."); },
          function () { toast("Press Ctrl+C (⌘C) to copy the selected address."); }
        );
      } else {
        toast("Press Ctrl+C (⌘C) to copy the selected address.");
      }
      return;
    }
    // After Undo, the toast has done its job.
    var undo = event.target.closest && event.target.closest(".toast form button");
    if (undo) {
      var t = undo.closest(".toast");
      // Hidden at once, removed only once its request is over: htmx drops the answer (and
      // its doable-changed trigger, on which the lists reload) of an element no longer in
      // the page.
      setTimeout(function () { if (t) t.hidden = true; }, 50);
      if (t) {
        t.addEventListener("htmx:afterRequest", function () { t.remove(); });
        setTimeout(function () { t.remove(); }, 30000);
      }
    }
  });

  // Organising a project (project.html): drag and drop with SortableJS, collapse and expand
  // of subtasks, and focus after a list reloads. Every drag has a keyboard alternative in the
  // task's Move menu, which posts the same form (web/routes/moves.py).
  function depthOf(li) { return parseInt(li.dataset.depth || "1", 10); }
  function descendantsOf(li) {
    var out = [], depth = depthOf(li), el = li.nextElementSibling;
    while (el && el.matches("li.task[data-depth]") && depthOf(el) > depth) {
      out.push(el);
      el = el.nextElementSibling;
    }
    return out;
  }

  var COLLAPSED = "doable-collapsed";
  function collapsedIds() {
    try { return JSON.parse(sessionStorage.getItem(COLLAPSED) || "[]"); } catch (e) { return []; }
  }
  function rememberCollapsed(id, collapsed) {
    var ids = collapsedIds().filter(function (x) { return x !== id; });
    if (collapsed) ids.push(id);
    try { sessionStorage.setItem(COLLAPSED, JSON.stringify(ids)); } catch (e) { /* ignore */ }
  }
  function applyCollapse(scope) {
    var hidden = collapsedIds();
    scope.querySelectorAll("li.task[data-depth]").forEach(function (li) { li.hidden = false; });
    scope.querySelectorAll("button[data-collapse]").forEach(function (button) {
      var li = button.closest("li.task");
      var collapsed = hidden.indexOf(li.dataset.id) >= 0;
      button.setAttribute("aria-expanded", collapsed ? "false" : "true");
      if (collapsed) descendantsOf(li).forEach(function (d) { d.hidden = true; });
    });
  }
  document.addEventListener("click", function (event) {
    var button = event.target.closest && event.target.closest("button[data-collapse]");
    if (!button) return;
    var li = button.closest("li.task");
    rememberCollapsed(li.dataset.id, button.getAttribute("aria-expanded") === "true");
    applyCollapse(li.closest("ul"));
  });

  function postMove(url, source, op, extra) {
    if (!window.htmx) return;
    var values = { op: op, back: window.location.pathname + window.location.search };
    for (var key in extra || {}) values[key] = extra[key];
    window.htmx.ajax("POST", url, { source: source, values: values, swap: "none" });
  }

  function visibleNeighbour(li, forward) {
    var el = forward ? li.nextElementSibling : li.previousElementSibling;
    while (el && (el.hidden || el.classList.contains("drag-hidden") || !el.matches("li.task"))) {
      el = forward ? el.nextElementSibling : el.previousElementSibling;
    }
    return el;
  }

  function dropTarget(event) {
    var e = event && (event.changedTouches ? event.changedTouches[0] : event);
    if (!e || typeof e.clientX !== "number") return null;
    var under = document.elementFromPoint(e.clientX, e.clientY);
    return under && under.closest("[data-drop-project]");
  }

  function taskDropped(evt) {
    var li = evt.item, list = evt.to;
    document.querySelectorAll(".drag-hidden").forEach(function (d) { d.classList.remove("drag-hidden"); });
    var url = "/tasks/" + li.dataset.id + "/move";
    var project = dropTarget(evt.originalEvent);
    if (project) {
      postMove(url, li, "project:" + project.dataset.dropProject);
      return;
    }
    if (evt.from === evt.to && evt.oldIndex === evt.newIndex) return;
    var prev = visibleNeighbour(li, false), next = visibleNeighbour(li, true), op;
    if (prev && next && next.dataset.parent === prev.dataset.id) op = "before:" + next.dataset.id;
    else if (prev) op = "after:" + prev.dataset.id;
    else if (next) op = "before:" + next.dataset.id;
    else op = "first:" + list.dataset.section;
    postMove(url, li, op, { project: list.dataset.project });
  }

  function projectDropped(evt) {
    if (evt.oldIndex === evt.newIndex) return;
    var li = evt.item;
    var prev = li.previousElementSibling, next = li.nextElementSibling;
    var op = prev && !prev.classList.contains("inbox") ? "after:" + prev.dataset.id
      : next ? "before:" + next.dataset.id : "first:x";
    postMove("/projects/" + li.dataset.id + "/move", li, op);
  }

  // SortableJS sets an inline will-change on the chosen item, then clones it; a clone with a
  // style attribute breaks the page's CSP (style-src 'self'). Nothing else styles the item
  // inline yet, so the attribute can go.
  function unstyle(evt) { evt.item.removeAttribute("style"); }

  function armSortables(scope) {
    if (!window.Sortable) return;
    scope.querySelectorAll("ul.sortable-tasks:not([data-armed])").forEach(function (list) {
      list.setAttribute("data-armed", "1");
      window.Sortable.create(list, {
        group: "tasks", handle: ".drag-handle", draggable: "li.task", forceFallback: true,
        fallbackOnBody: true, animation: 120, onChoose: unstyle,
        onStart: function (evt) {
          descendantsOf(evt.item).forEach(function (d) { d.classList.add("drag-hidden"); });
        },
        onEnd: taskDropped
      });
    });
    scope.querySelectorAll("ul[data-sortable-projects]:not([data-armed])").forEach(function (list) {
      list.setAttribute("data-armed", "1");
      window.Sortable.create(list, {
        group: "projects", handle: ".drag-handle", draggable: "li:not(.inbox)",
        forceFallback: true, animation: 120, onChoose: unstyle, onEnd: projectDropped
      });
    });
    applyCollapse(scope);
  }
  // SortableJS's animations leave inline styles on the rows they moved; htmx copies an old
  // element's attributes onto its replacement while settling, which would then break the
  // CSP too. The rows are about to be replaced anyway.
  document.addEventListener("htmx:beforeSwap", function () {
    document.querySelectorAll("#main [style], #sidebar [style]").forEach(function (el) {
      el.removeAttribute("style");
    });
  });
  document.addEventListener("DOMContentLoaded", function () { armSortables(document); });
  document.addEventListener("htmx:afterSettle", function () { armSortables(document); });

  // A project's lists reload after each change (the doable-changed event): put focus back on
  // the task it came from, or a neighbour if that task left the list.
  document.addEventListener("htmx:afterSettle", function (event) {
    if (!event.target || event.target.id !== "list-region" || !origin || !focusLost()) return;
    var li = origin.id && document.getElementById(origin.id);
    if (!li && origin.near) li = document.getElementById(origin.near);
    var control = li && (li.querySelector(origin.control) || li.querySelector("button.check"));
    if (control) control.focus();
  });
})();
