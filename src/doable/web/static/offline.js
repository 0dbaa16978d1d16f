// Doable offline: keeps the last lists seen for reading offline, queues quick adds made
// offline and sends them when the network is back, and forgets the lists at sign-out.
// Loaded on signed-in pages and on the offline page (sw.js shows it when a navigation fails).
//
// - Lists: after a list page shows (or htmx changes it), its rows are read from the page and
//   kept as JSON in Cache Storage ("doable-data"), never the page itself (pages are no-store).
//   At most MAX_LISTS lists, the oldest dropped first.
// - Queue: a quick add made offline goes to IndexedDB ("doable-offline"), tagged with the
//   user it was typed for and a random Idempotency-Key. A signed-in page of that user sends
//   it (POST /offline/tasks) when it loads and when the browser goes online; a retry reuses
//   the key, so the server adds it once. An expired session (the route's redirect to the
//   login page) leaves it queued for the next sign-in of the same user; another user's pages
//   never send it.
// - Sign-out: the queue is sent first, then the lists are deleted; whatever could not be sent
//   stays queued for that user, like an expired session's.
(function () {
  "use strict";
  if (!window.isSecureContext || !("caches" in window) || !("indexedDB" in window)) return;
  var DATA = "doable-data";
  var WHO = "/offline/data/who";
  var LIST = "/offline/data/list?at=";
  var MAX_LISTS = 8;
  var DB = "doable-offline";
  var QUEUE = "queue";
  var RETRY_MS = 3000;

  // IndexedDB: the queue of adds.
  function store(mode, work) {
    return new Promise(function (resolve, reject) {
      var open = indexedDB.open(DB, 1);
      open.onupgradeneeded = function () { open.result.createObjectStore(QUEUE, { keyPath: "key" }); };
      open.onerror = function () { reject(open.error); };
      open.onsuccess = function () {
        var db = open.result;
        var tx = db.transaction(QUEUE, mode);
        var request = work(tx.objectStore(QUEUE));
        tx.oncomplete = function () { db.close(); resolve(request ? request.result : undefined); };
        tx.onerror = tx.onabort = function () { db.close(); reject(tx.error); };
      };
    });
  }
  function queued(userId) {
    return store("readonly", function (s) { return s.getAll(); }).then(function (items) {
      return (items || []).filter(function (item) { return item.user_id === userId; })
        .sort(function (a, b) { return a.queued_at - b.queued_at; });
    });
  }
  function enqueue(item) { return store("readwrite", function (s) { return s.put(item); }); }
  function dequeue(key) { return store("readwrite", function (s) { return s.delete(key); }); }

  // Cache Storage: the lists, as JSON.
  function readJSON(url) {
    return caches.match(url, { cacheName: DATA }).then(function (r) { return r ? r.json() : null; });
  }
  function writeJSON(url, data) {
    return caches.open(DATA).then(function (cache) {
      return cache.put(url, new Response(JSON.stringify(data), { headers: { "Content-Type": "application/json" } }));
    });
  }
  function savedLists() {
    return caches.has(DATA).then(function (has) {
      if (!has) return [];
      return caches.open(DATA).then(function (cache) {
        return cache.keys().then(function (keys) {
          return Promise.all(keys.filter(function (k) { return k.url.indexOf(LIST) >= 0; })
            .map(function (k) { return cache.match(k).then(function (r) { return r.json(); }); }));
        });
      });
    }).then(function (lists) {
      return lists.sort(function (a, b) { return b.saved_at - a.saved_at; });
    });
  }

  function toast(text, kind) {
    var box = document.getElementById("toasts");
    if (!box) return;
    var el = document.createElement("div");
    el.className = "toast" + (kind ? " " + kind : "");
    el.setAttribute("role", kind === "error" ? "alert" : "status");
    el.textContent = text;
    box.appendChild(el);
    setTimeout(function () { el.remove(); }, 8000);
  }
  function csrfToken() {
    try { return JSON.parse(document.body.getAttribute("hx-headers"))["X-CSRF-Token"]; } catch (e) { return ""; }
  }
  function plural(n, word) { return n + " " + word + (n === 1 ? "" : "s"); }

  // The list on this page, as data: its groups (a section, a day) and each row's words.
  function pageKey() {
    var query = new URLSearchParams(location.search);
    query.delete("cursor");
    var rest = query.toString();
    return location.pathname + (rest ? "?" + rest : "");
  }
  function readList(user) {
    var main = document.getElementById("main");
    if (!main || !document.getElementById("list-region")) return null;
    var groups = [];
    main.querySelectorAll("ul.tasks").forEach(function (ul) {
      var rows = [];
      ul.querySelectorAll(":scope > li.task:not(.editing)").forEach(function (li) {
        var title = li.querySelector("p.title");
        var meta = li.querySelector("p.meta");
        rows.push({
          title: title ? title.textContent : "",
          done: li.classList.contains("done"),
          meta: meta ? meta.textContent.replace(/\s+/g, " ").trim() : "",
          depth: parseInt(li.dataset.depth || "1", 10)
        });
      });
      if (!rows.length) return;
      var section = ul.closest("section");
      var heading = section && section.querySelector("h2");
      var label = heading && heading.firstChild ? heading.firstChild.textContent.trim() : "";
      groups.push({ label: label || ul.getAttribute("aria-label") || "", rows: rows });
    });
    var h1 = main.querySelector("h1");
    var project = document.querySelector("#quick-add input[name=project_id]");
    return {
      user_id: user, url: pageKey(), title: document.title,
      heading: h1 ? h1.textContent.replace(/\s+/g, " ").trim() : "Tasks",
      project_id: project ? project.value : null, saved_at: Date.now(), groups: groups
    };
  }
  var leaving = false;  // signing out: save nothing more
  var saving = Promise.resolve();
  function saveList(user) {
    saving = saving.then(function () { return leaving ? null : writeList(user); })
      .catch(function () { /* storage full or blocked: nothing saved */ });
    return saving;
  }
  function writeList(user) {
    var list = readList(user);
    if (!list) return Promise.resolve();
    return writeJSON(LIST + encodeURIComponent(list.url), list).then(function () {
      return caches.open(DATA).then(function (cache) {
        return cache.keys().then(function (keys) {
          if (keys.filter(function (k) { return k.url.indexOf(LIST) >= 0; }).length <= MAX_LISTS) return;
          return savedLists().then(function (lists) {
            return Promise.all(lists.slice(MAX_LISTS).map(function (old) {
              return cache.delete(LIST + encodeURIComponent(old.url));
            }));
          });
        });
      });
    }).then(function () { document.body.dataset.offlineSaved = String(list.saved_at); });
  }

  // Sending the queue: one add at a time, in the order typed.
  var sending = null;
  function send(user) {
    if (!sending) {
      sending = queued(user).then(function (items) { return sendFrom(items, 0, 0); })
        .catch(function () { return 0; })
        .then(function (sent) { sending = null; return sent; });
    }
    return sending;
  }
  function sendFrom(items, at, sent) {
    if (at >= items.length) return finished(sent);
    var item = items[at];
    return fetch("/offline/tasks", {
      method: "POST", credentials: "same-origin", redirect: "manual",
      headers: { "Content-Type": "application/json", "X-CSRF-Token": csrfToken(), "Idempotency-Key": item.key },
      body: JSON.stringify({ text: item.text, project_id: item.project_id || null })
    }).then(function (r) {
      if (r.ok) return dequeue(item.key).then(function () { return sendFrom(items, at + 1, sent + 1); });
      // Signed out (a redirect to the login page, seen as opaque) or a stale token (403):
      // keep it for the next sign-in. Busy (409, 429) or failing (5xx): for the next try.
      if (r.status !== 400 && r.status !== 404 && r.status !== 413 && r.status !== 422) return finished(sent);
      // Refused for good: say why (the error page's words) rather than keep it forever.
      return r.text().catch(function () { return ""; }).then(function (page) {
        var why = new DOMParser().parseFromString(page, "text/html").querySelector(".error-box p");
        toast("Not added: “" + item.text + "”. " + (why ? why.textContent : ""), "error");
        return dequeue(item.key);
      }).then(function () { return sendFrom(items, at + 1, sent); });
    }, function () { return finished(sent); });
  }
  function finished(sent) {
    if (sent) {
      toast(plural(sent, "task") + " added from while you were offline.");
      var region = document.getElementById("list-region");
      if (region && region.hasAttribute("hx-trigger")) {
        document.body.dispatchEvent(new CustomEvent("doable-changed"));
      } else if (region && window.htmx) {
        window.htmx.ajax("GET", location.pathname + location.search, {
          source: "#list-region", target: "#list-region", swap: "innerHTML"
        });
      }
    }
    // What this page sent, and how many rounds it finished (hooks for tests).
    var data = document.body.dataset;
    data.offlineSent = String(parseInt(data.offlineSent || "0", 10) + sent);
    data.offlineRounds = String(parseInt(data.offlineRounds || "0", 10) + 1);
    return sent;
  }

  function queueAdd(user, text, projectId) {
    return enqueue({
      key: crypto.randomUUID(), user_id: user, text: text,
      project_id: projectId || null, queued_at: Date.now()
    });
  }

  // A signed-in page.
  function signedIn(user) {
    if ("serviceWorker" in navigator) {
      navigator.serviceWorker.register("/sw.js", { scope: "/" }).catch(function () { /* no offline use */ });
    }
    // Lists of another user (whose session ended without a sign-out here) go first.
    saving = readJSON(WHO).then(function (who) {
      if (who && who.user_id === user) return;
      return caches.delete(DATA).then(function () { return writeJSON(WHO, { user_id: user }); });
    }).catch(function () { /* storage full or blocked */ });
    saveList(user);
    var timer = null;
    // Only swaps that change a list (not the preview under the box, nor the header's bell).
    document.addEventListener("htmx:afterSettle", function (event) {
      var el = event.target;
      if (!el || !el.closest || !(el.closest("#list-region, ul.tasks") || el.querySelector("ul.tasks"))) return;
      clearTimeout(timer);
      timer = setTimeout(function () { saveList(user); }, 300);
    });
    if (navigator.onLine) send(user);
    window.addEventListener("online", function () { send(user); });

    // Offline, the quick-add box queues instead of posting, and its preview stays quiet.
    document.addEventListener("htmx:beforeRequest", function (event) {
      if (navigator.onLine) return;
      var elt = event.detail.elt;
      if (elt.id === "quick-title") { event.preventDefault(); return; }
      if (elt.id !== "quick-add") return;
      event.preventDefault();
      var title = document.getElementById("quick-title");
      var project = elt.querySelector("input[name=project_id]");
      if (!title || !title.value.trim()) return;
      queueAdd(user, title.value, project && project.value).then(function () {
        title.value = "";
        toast("Saved offline. It is added when you are back online.");
      });
    });

    // Sign-out (here, everywhere, or deleting the account): send what is queued, then forget
    // the lists, then go on.
    var LEAVING = 'form[action="/logout"], form[action="/logout-everywhere"], form[action="/account/delete"]';
    document.addEventListener("submit", function (event) {
      var form = event.target;
      if (!form.matches || !form.matches(LEAVING) || form.dataset.forgot) return;
      event.preventDefault();
      var enough = new Promise(function (resolve) { setTimeout(resolve, 3000); });
      Promise.race([navigator.onLine ? send(user) : null, enough])
        .then(function () { leaving = true; clearTimeout(timer); return saving; })
        .then(function () { return caches.delete(DATA); })
        .catch(function () { /* sign out regardless */ })
        .then(function () { form.dataset.forgot = "1"; form.submit(); });
    });
  }

  // The offline page: the saved list for this address, the queue, the other saved lists.
  function offlinePage() {
    var here = pageKey();
    var note = document.getElementById("offline-note");
    var form = document.getElementById("offline-add");
    var input = document.getElementById("quick-title");
    var who = null, list = null;

    function row(title, meta, done) {
      var li = document.createElement("li");
      li.className = "task" + (done ? " done" : "");
      var body = document.createElement("div");
      body.className = "task-body";
      var p = document.createElement("p");
      p.className = "title";
      if (done) {
        var hidden = document.createElement("span");
        hidden.className = "visually-hidden";
        hidden.textContent = "Done: ";
        p.appendChild(hidden);
      }
      p.appendChild(document.createTextNode(title));
      body.appendChild(p);
      if (meta) {
        var m = document.createElement("p");
        m.className = "meta";
        m.textContent = meta;
        body.appendChild(m);
      }
      li.appendChild(body);
      return li;
    }
    function showQueue() {
      if (!who) return Promise.resolve();
      return queued(who.user_id).then(function (items) {
        var section = document.getElementById("offline-queue");
        var ul = document.getElementById("queued-list");
        ul.textContent = "";
        items.forEach(function (item) { ul.appendChild(row(item.text, "Waiting to be sent", false)); });
        section.hidden = !items.length;
      });
    }
    function showList() {
      var box = document.getElementById("offline-list");
      box.textContent = "";
      if (!list) return;
      document.getElementById("offline-heading").textContent = list.heading;
      document.title = list.title;
      var at = new Date(list.saved_at);
      note.textContent = "You are offline. This is the list as you last saw it, at " +
        at.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" }) + " on " +
        at.toLocaleDateString([], { day: "numeric", month: "short" }) + ".";
      list.groups.forEach(function (group, index) {
        if (group.label && list.groups.length > 1) {
          var h = document.createElement("h2");
          h.id = "offline-group-" + index;
          h.textContent = group.label;
          box.appendChild(h);
        }
        var ul = document.createElement("ul");
        ul.className = "tasks offline-tasks";
        ul.setAttribute("aria-label", group.label || list.heading);
        group.rows.forEach(function (r) { ul.appendChild(row(r.title, r.meta, r.done)); });
        box.appendChild(ul);
      });
      if (!list.groups.length) {
        var p = document.createElement("p");
        p.className = "empty";
        p.textContent = "This list was empty.";
        box.appendChild(p);
      }
    }
    function showOthers(lists) {
      var nav = document.getElementById("offline-lists");
      var ul = nav.querySelector("ul");
      ul.textContent = "";
      lists.filter(function (l) { return l.url !== here; }).forEach(function (l) {
        var li = document.createElement("li");
        var a = document.createElement("a");
        a.href = l.url;
        a.textContent = l.heading;
        li.appendChild(a);
        ul.appendChild(li);
      });
      nav.hidden = !ul.children.length;
    }

    readJSON(WHO).then(function (found) {
      who = found;
      if (!who) {
        note.textContent = "You are offline, and no lists are saved in this browser.";
        return;
      }
      form.hidden = false;
      return savedLists().then(function (lists) {
        lists = lists.filter(function (l) { return l.user_id === who.user_id; });
        list = lists.filter(function (l) { return l.url === here; })[0] || null;
        showList();
        showOthers(lists);
        return showQueue();
      });
    }).then(function () { document.body.dataset.offlineReady = "1"; });

    form.addEventListener("submit", function (event) {
      event.preventDefault();
      var text = input.value;
      if (!who || !text.trim()) return;
      queueAdd(who.user_id, text, list && list.project_id).then(function () {
        input.value = "";
        input.focus();
        toast("Saved. It is added when you are back online.");
        return showQueue();
      });
    });
    // Back online: load the real page, which sends the queue (unless a text is being typed).
    // The server is asked (its cheap health check) rather than trusting the `online` event,
    // which a server that was down, or a network that returns quietly, never sends.
    // At most 3 reloads of one address a minute: a page that fails while the server answers
    // (not a network that is down) must not reload for ever.
    function mayReload() {
      var seen = {};
      try { seen = JSON.parse(sessionStorage.getItem("doable-offline-reloads") || "{}"); } catch (e) { /* none */ }
      var now = Date.now();
      if (seen.url !== here || now - seen.at > 60000) seen = { url: here, at: now, n: 0 };
      seen.n += 1;
      try { sessionStorage.setItem("doable-offline-reloads", JSON.stringify(seen)); } catch (e) { /* ignore */ }
      return seen.n <= 3;
    }
    var timer = null;
    function tryServer() {
      clearTimeout(timer);
      fetch("/healthz", { cache: "no-store" }).then(function (r) {
        if (!r.ok) throw new Error(String(r.status));
        if (input.value) {
          note.textContent = "You are back online. Reload the page to send what is waiting.";
        } else if (location.pathname === "/offline") {
          location.replace("/tasks");
        } else if (mayReload()) {
          location.reload();
        } else {
          note.textContent = "The server answers, but this page could not be loaded. Try again later.";
        }
      }).catch(function () { timer = setTimeout(tryServer, RETRY_MS); });
    }
    timer = setTimeout(tryServer, RETRY_MS);
    window.addEventListener("online", tryServer);
  }

  document.addEventListener("DOMContentLoaded", function () {
    var user = document.body.dataset.user;
    if (user) signedIn(user);
    else if (document.body.hasAttribute("data-offline")) offlinePage();
  });
})();
