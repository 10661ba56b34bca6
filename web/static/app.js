// eventdesk — progressive enhancement only: every page works without this
// file. It shows times in the reader's own time zone, keeps the ticket list
// up to date, and tells the reader of a ticket when someone else changed it.
// User text is only ever set with textContent, never parsed as HTML.
(function () {
  "use strict";

  // ---- Times ---------------------------------------------------------
  function ago(then, now) {
    var s = (now - then) / 1000;
    if (s < 45) return "just now";
    if (s < 90) return "a minute ago";
    if (s < 3600) return Math.round(s / 60) + " minutes ago";
    if (s < 7200) return "an hour ago";
    if (s < 86400) return Math.floor(s / 3600) + " hours ago";
    if (s < 172800) return "yesterday";
    if (s < 30 * 86400) return Math.floor(s / 86400) + " days ago";
    return then.toLocaleDateString(undefined, { day: "numeric", month: "short", year: "numeric" });
  }

  function refreshTimes(root) {
    var now = Date.now();
    var els = (root || document).querySelectorAll("time[datetime]");
    for (var i = 0; i < els.length; i++) {
      var t = new Date(els[i].getAttribute("datetime"));
      if (isNaN(t)) continue;
      els[i].title = t.toLocaleString(undefined, { dateStyle: "full", timeStyle: "short" });
      if (!els[i].closest(".fixed-time")) els[i].textContent = ago(t, now);
    }
  }

  // ---- Live updates ---------------------------------------------------
  function follow(after, onEvent) {
    if (!window.EventSource) return;
    var es, lastId = after, delay = 5000;
    function connect() {
      es = new EventSource("/live/stream?after=" + encodeURIComponent(lastId));
      es.addEventListener("open", function () { delay = 5000; });
      es.addEventListener("ticket", function (m) {
        lastId = m.lastEventId || lastId;
        var ev;
        try { ev = JSON.parse(m.data); } catch (e) { return; }
        onEvent(ev);
      });
      es.addEventListener("error", function () {
        // The browser reconnects by itself (with Last-Event-ID) unless the
        // server refused the stream (signed out, say); then try again
        // later, less and less often.
        if (es.readyState === EventSource.CLOSED) {
          setTimeout(connect, delay);
          delay = Math.min(delay * 2, 120000);
        }
      });
    }
    connect();
    window.addEventListener("pagehide", function () { if (es) es.close(); });
  }

  function announce(text) {
    var el = document.getElementById("live-status");
    if (!el) {
      el = document.createElement("div");
      el.id = "live-status";
      el.className = "visually-hidden";
      el.setAttribute("role", "status");
      el.setAttribute("aria-live", "polite");
      document.body.appendChild(el);
    }
    el.textContent = text;
  }

  // The list: fetch this very page again (same filters, same page) and put
  // its rows and counts in place; the scroll position and focus stay.
  function liveList(after) {
    var pending = 0, timer = null, busy = false;
    function refresh() {
      timer = null;
      if (busy) { timer = setTimeout(refresh, 300); return; }
      busy = true;
      var want = pending;
      fetch(window.location.href, { credentials: "same-origin", headers: { "X-Eventdesk-Position": String(want) } })
        .then(function (r) { if (!r.ok) throw new Error("status " + r.status); return r.text(); })
        .then(function (html) {
          var doc = new DOMParser().parseFromString(html, "text/html");
          var fresh = doc.getElementById("ticket-list"), cur = document.getElementById("ticket-list");
          if (!fresh || !cur) return;
          var before = {};
          cur.querySelectorAll("tr[data-id]").forEach(function (tr) { before[tr.dataset.id] = tr.dataset.version; });
          var focused = document.activeElement && cur.contains(document.activeElement) ? document.activeElement.getAttribute("href") : null;
          cur.replaceChildren.apply(cur, Array.prototype.map.call(fresh.childNodes, function (n) { return document.importNode(n, true); }));
          var tabs = doc.getElementById("status-tabs"), curTabs = document.getElementById("status-tabs");
          if (tabs && curTabs) curTabs.replaceChildren.apply(curTabs, Array.prototype.map.call(tabs.childNodes, function (n) { return document.importNode(n, true); }));
          var changed = 0;
          cur.querySelectorAll("tr[data-id]").forEach(function (tr) {
            if (before[tr.dataset.id] !== tr.dataset.version) { tr.classList.add("changed"); changed++; }
          });
          if (focused) {
            var again = cur.querySelector('a[href="' + CSS.escape(focused) + '"]');
            if (again) again.focus();
          }
          refreshTimes(cur);
          if (changed) announce(changed === 1 ? "1 ticket in the list was updated." : changed + " tickets in the list were updated.");
        })
        .catch(function () { /* keep the list as it is; the next event retries */ })
        .then(function () { busy = false; });
    }
    follow(after, function (ev) {
      pending = Math.max(pending, ev.position);
      if (!timer) timer = setTimeout(refresh, 250);
    });
  }

  // A ticket page: say that someone changed it, without touching what the
  // reader is typing; a link shows the latest version.
  function liveTicket(after) {
    var head = document.querySelector("[data-ticket]");
    if (!head) return;
    var id = head.dataset.ticket, version = Number(head.dataset.version), n = 0;
    var banner = document.getElementById("live-banner");
    follow(after, function (ev) {
      if (ev.ticket !== id || ev.version <= version) return;
      // A sentiment score follows every public text a moment later and
      // only annotates the ticket (the server applies forms over it): it
      // would hide who really changed the ticket, so it is not announced.
      if (ev.type === "ticket.sentiment_scored") return;
      n++;
      var msg = document.createElement("span");
      var who = document.createElement("strong");
      who.textContent = ev.actor || "someone";
      // The summary starts with the actor ("bob commented"): say it once.
      var what = ev.summary || "";
      if (ev.actor && what.indexOf(ev.actor + " ") === 0) what = what.slice(ev.actor.length + 1);
      msg.append("Updated by ", who, " just now: ", what + ".");
      if (n > 1) msg.append(" (" + n + " changes since you opened this page.)");
      var link = document.createElement("a");
      link.href = window.location.pathname;
      link.className = "btn btn-small";
      link.textContent = "Show the latest version";
      banner.replaceChildren(msg, link);
      banner.hidden = false;
    });
  }

  document.addEventListener("DOMContentLoaded", function () {
    refreshTimes();
    setInterval(refreshTimes, 60000);
    var live = document.body.dataset.live, after = Number(document.body.dataset.after || 0);
    if (live === "list") liveList(after);
    if (live === "ticket") liveTicket(after);
  });
})();
