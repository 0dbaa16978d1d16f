// Before first paint (loaded in <head> without defer, and kept tiny so it blocks little): the
// remembered colour theme, and the `js` class by which narrow screens fold the sidebar behind a
// Menu button (app.css). app.js, deferred, does the rest and owns the theme toggle.
(function () {
  "use strict";
  var root = document.documentElement;
  root.classList.add("js");
  try {
    var theme = localStorage.getItem("doable-theme");
    if (theme === "light" || theme === "dark") root.dataset.theme = theme;
  } catch (e) { /* storage may be blocked */ }
})();
