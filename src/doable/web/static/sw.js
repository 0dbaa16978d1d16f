// Doable's service worker: shows reminders that arrive by Web Push, with Complete and
// Snooze buttons. Served at /sw.js so its scope covers the whole app. The buttons post the
// payload's signed token to /api/v1/push/actions: a service worker has no page to read a CSRF
// token from, and the token (one notification, two actions, 7 days) needs no cookie.
"use strict";

self.addEventListener("install", function () { self.skipWaiting(); });
self.addEventListener("activate", function (event) { event.waitUntil(self.clients.claim()); });

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
