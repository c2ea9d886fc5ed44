// Keeps a page live: where the body names a socket (data-live), every event the person may see reloads the
// page's content in place; after a dropped connection it resumes from the last event id (?since=), so
// nothing is missed. The connection's state is shown, and read out, in #live. What the person has chosen
// or typed in a form of the page, and the focus (on a link or a button as well as a field), survive a refresh.
(function () {
  "use strict";
  // A form is sent once: its buttons go quiet right after it is submitted (after the browser has read which
  // button sent it). The server refuses a second completion anyway; this spares the person the surprise.
  document.addEventListener("submit", function (event) {
    var buttons = event.target.querySelectorAll("button");
    setTimeout(function () { buttons.forEach(function (button) { button.disabled = true; }); }, 0);
  });
}());

(function () {
  "use strict";
  var path = document.body.getAttribute("data-live");
  if (!path || !window.WebSocket) { return; }
  var status = document.getElementById("live");
  var lastId = null;
  var retry = 1000;
  var refreshing = null;
  var pending = false;

  function show(state, text) {
    if (status) { status.setAttribute("data-state", state); status.textContent = text; }
  }

  // Fetch this page again and swap its content; one refresh at a time, and one more if events came meanwhile.
  function refresh() {
    if (refreshing) { pending = true; return; }
    refreshing = fetch(window.location.href, { credentials: "same-origin", headers: { "Accept": "text/html", "X-Live-Refresh": "1" } })
      .then(function (response) {
        if (response.redirected || !response.ok) { window.location.reload(); return null; }
        return response.text();
      })
      .then(function (html) {
        if (html === null) { return; }
        var fresh = new DOMParser().parseFromString(html, "text/html").getElementById("main");
        var main = document.getElementById("main");
        if (!fresh || !main) { return; }
        var state = status ? [status.getAttribute("data-state"), status.textContent] : null;
        var kept = formState(main);
        main.replaceChildren.apply(main, Array.prototype.slice.call(fresh.childNodes));
        restore(main, kept);
        status = document.getElementById("live");
        if (state) { show(state[0], state[1]); }
        document.dispatchEvent(new CustomEvent("chalkboard:refreshed"));
      })
      .catch(function () { /* the next event or reconnection refreshes again */ })
      .then(function () {
        refreshing = null;
        if (pending) { pending = false; refresh(); }
      });
  }

  // What the person has chosen or typed in the page's forms, and where the focus is: a refresh keeps them.
  // A field is known by its id. The focus may be on a link or a button without one (a keyboard user who has
  // tabbed to a session's "complete" link): it is known by what it does (its href, or its form, name and
  // value) and which of the page's elements that do the same it is.
  var FOCUSABLE = "a[href], button, input, select, textarea, summary, [tabindex]";

  function focusKey(element) {
    if (element.id) { return "#" + element.id; }
    return [
      element.tagName,
      element.getAttribute("href") || "",
      element.form && element.form.id ? element.form.id : "",
      element.getAttribute("name") || "",
      element.getAttribute("value") || ""
    ].join(" ");
  }

  function alike(main, key) {
    return Array.prototype.filter.call(main.querySelectorAll(FOCUSABLE), function (element) {
      return focusKey(element) === key;
    });
  }

  function formState(main) {
    var fields = Array.prototype.map.call(main.querySelectorAll("input[id], select[id], textarea[id]"), function (field) {
      return [field.id, field.type === "checkbox" ? field.checked : field.value];
    });
    var active = document.activeElement;
    var focused = null;
    if (active && active !== main && main.contains(active)) {
      var key = focusKey(active);
      focused = { key: key, nth: alike(main, key).indexOf(active) };
    }
    return { fields: fields, focused: focused };
  }

  function restore(main, kept) {
    kept.fields.forEach(function (field) {
      var element = document.getElementById(field[0]);
      if (!element) { return; }
      if (element.type === "checkbox") { element.checked = field[1]; } else { element.value = field[1]; }
    });
    if (!kept.focused) { return; }
    var same = alike(main, kept.focused.key);
    var focus = same[Math.min(Math.max(kept.focused.nth, 0), same.length - 1)];
    if (focus) { focus.focus(); }
  }

  function connect() {
    var url = (location.protocol === "https:" ? "wss://" : "ws://") + location.host + path;
    if (lastId !== null) { url += "?since=" + lastId; }
    var socket = new WebSocket(url, ["chalkboard"]);
    show("connecting", "Connecting for live updates…");
    socket.onopen = function () {
      retry = 1000;
      show("live", "Live: changes appear as they happen.");
      if (lastId === null) { refresh(); }  // anything that changed between this page and the socket
    };
    socket.onmessage = function (message) {
      var data;
      try { data = JSON.parse(message.data); } catch (error) { return; }
      if (typeof data.id === "number") { lastId = data.id; }
      if (data.type === "resync") { refresh(); return; }
      if (data.type && data.type.indexOf(".") > 0) { refresh(); }
    };
    socket.onclose = function (event) {
      if (event.code === 4401 || event.code === 4403) {
        show("offline", "Signed out: sign in again for live updates.");
        return;
      }
      show("offline", "Offline: reconnecting…");
      setTimeout(connect, retry);
      retry = Math.min(retry * 2, 15000);
    };
  }

  connect();
}());
