// Doable's service worker: keeps the app shell for offline use, and shows reminders that
// arrive by Web Push, with Complete and Snooze buttons. Served at /sw.js so its scope covers
// the whole app. The buttons post the payload's signed token to /api/v1/push/actions: a
// service worker has no page to read a CSRF token from, and the token (one notification, two
// actions, 7 days) needs no cookie.
//
// Offline: the shell cache holds the fingerprinted static files and the offline page, none of
// which carries user data. Pages (`no-store`) are never cached: a navigation goes to the
// network, and only when that fails is the offline page shown, which offline.js fills in from
// the lists saved as JSON in the "doable-data" cache (cleared at sign-out).
"use strict";

// Filled in by the server (web/routes/offline.py): the shell's URLs and their version.
var SHELL = "__DOABLE_SHELL__";
var SHELL_CACHE = "doable-shell-__DOABLE_VERSION__";
var OFFLINE_PAGE = "/offline";

self.addEventListener("install", function (event) {
  var urls = Array.isArray(SHELL) ? SHELL : [];
  event.waitUntil(caches.open(SHELL_CACHE)
    .then(function (cache) { return cache.addAll(urls); })
    .catch(function () { /* offline use waits for the next install; push works regardless */ })
    .then(function () { return self.skipWaiting(); }));
});

self.addEventListener("activate", function (event) {
  event.waitUntil(caches.keys().then(function (names) {
    return Promise.all(names.filter(function (name) {
      return name.indexOf("doable-shell-") === 0 && name !== SHELL_CACHE;
    }).map(function (name) { return caches.delete(name); }));
  }).then(function () {
    // Navigations start while the worker wakes up, so passing them through costs no wait.
    if (self.registration.navigationPreload) return self.registration.navigationPreload.enable();
  }).then(function () { return self.clients.claim(); }));
});

self.addEventListener("fetch", function (event) {
  var request = event.request;
  if (request.method !== "GET") return;
  var url = new URL(request.url);
  if (url.origin !== self.location.origin) return;
  if (request.mode === "navigate") {
    event.respondWith(Promise.resolve(event.preloadResponse).then(function (preloaded) {
      return preloaded || fetch(request);
    }).catch(function () {
      return caches.match(OFFLINE_PAGE, { cacheName: SHELL_CACHE }).then(function (page) {
        return page || Response.error();
      });
    }));
    return;
  }
  // A fingerprinted file never changes: the shell's copy, else the network (and the HTTP cache).
  if (url.pathname.indexOf("/static/") === 0 && url.searchParams.has("v")) {
    event.respondWith(caches.match(request, { cacheName: SHELL_CACHE }).then(function (hit) {
      return hit || fetch(request);
    }));
  }
});

self.addEventListener("push", function (event) {
  var data = {};
  try { data = event.data ? event.data.json() : {}; } catch (e) { data = { title: "Doable", body: event.data.text() }; }
  var options = {
    body: data.body || "",
    tag: data.id || "doable",
    icon: "/static/icon.svg",
    data: data,
    actions: data.token ? [
      { action: "complete", title: "Complete" },
      { action: "snooze", title: "Snooze 1 h" }
    ] : []
  };
  // Open tabs hear of it too (their bell counts it), and whether it could be shown.
  function tell(shown) {
    return self.clients.matchAll({ type: "window" }).then(function (tabs) {
      tabs.forEach(function (tab) {
        tab.postMessage({ type: "doable-push", id: data.id, title: data.title, shown: shown,
          actions: options.actions.map(function (a) { return a.title; }) });
      });
    });
  }
  event.waitUntil(self.registration.showNotification(data.title || "Doable", options).then(
    function () { return tell(true); }, function () { return tell(false); }));
});

self.addEventListener("notificationclick", function (event) {
  var data = event.notification.data || {};
  event.notification.close();
  if ((event.action === "complete" || event.action === "snooze") && data.token) {
    event.waitUntil(fetch("/api/v1/push/actions", {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ token: data.token, action: event.action }),
      credentials: "omit"
    }));
    return;
  }
  var url = data.url || "/notifications";
  event.waitUntil(self.clients.matchAll({ type: "window" }).then(function (tabs) {
    for (var i = 0; i < tabs.length; i++) {
      if ("focus" in tabs[i]) { tabs[i].navigate(url); return tabs[i].focus(); }
    }
    return self.clients.openWindow(url);
  }));
});
