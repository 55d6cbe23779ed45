// Live regions: elements with data-live="message attempt" (the kinds of event they
// show) and optional data-live-app / data-live-msg / data-live-endpoint (only events
// about that one). On a matching server-sent event the page is fetched again and each
// live region is swapped for its fresh copy, so filters and layout stay server-side.
(function () {
  "use strict";
  const regions = () => Array.from(document.querySelectorAll("[data-live][id]"));
  if (!regions().length || !window.EventSource) return;

  const state = document.getElementById("live-state");
  const show = (name, text) => {
    document.body.dataset.live = name;
    if (state) state.textContent = text;
  };
  const scopes = [["liveApp", "app"], ["liveMsg", "msg"], ["liveEndpoint", "endpoint"]];
  const wants = (el, kind, event) =>
    kind === "burst" ||
    (el.dataset.live.split(" ").includes(kind) &&
      scopes.every(([attr, field]) => !el.dataset[attr] || el.dataset[attr] === event[field]));

  let timer = null;
  let busy = false;
  let again = false;

  async function refresh() {
    if (busy) { again = true; return; }
    busy = true;
    try {
      const response = await fetch(location.href, { credentials: "same-origin", headers: { "X-Hookline-Live": "1" } });
      if (response.redirected) {  // the session ended: the page answered with the login form
        source.close();
        show("ended", "Logged out: reload to log in again");
        return;
      }
      if (response.ok) {
        const fresh = new DOMParser().parseFromString(await response.text(), "text/html");
        for (const el of regions()) {
          const next = fresh.getElementById(el.id);
          if (!next || next.innerHTML === el.innerHTML) continue;
          // A region holding the keyboard focus waits until focus leaves it, so
          // nobody is thrown out of what they are reading or about to press.
          if (el.contains(document.activeElement)) el.addEventListener("focusout", schedule, { once: true });
          else el.replaceWith(next);
        }
        document.body.dataset.refreshed = String(Date.now());
        if (document.body.dataset.live === "error") show("on", "Live");
      }
    } catch (err) {
      show("error", "Live updates paused");
    } finally {
      busy = false;
      if (again) { again = false; schedule(); }
    }
  }

  // At most one refresh a second however busy the installation is, plus one more
  // after the last event: the server caches the overview's figures for two seconds.
  const MIN_GAP_MS = 1000;
  const SETTLE_MS = 2500;
  let lastRefresh = 0;
  let settle = null;

  function schedule() {
    if (!timer) {
      const wait = Math.max(300, lastRefresh + MIN_GAP_MS - Date.now());
      timer = setTimeout(() => { timer = null; lastRefresh = Date.now(); refresh(); }, wait);
    }
  }

  function onEvent() {
    schedule();
    clearTimeout(settle);
    settle = setTimeout(schedule, SETTLE_MS);
  }

  // The render time lets the server tell this page about rows it took in between the
  // page's render and this subscription (announced only to the pages listening then).
  const since = document.body.dataset.renderedAt;
  const source = new EventSource("/ui/live" + (since ? "?since=" + encodeURIComponent(since) : ""));
  source.onopen = () => show("on", "Live");
  source.onerror = () => show("reconnecting", "Reconnecting…");
  for (const kind of ["message", "attempt", "burst"]) {
    source.addEventListener(kind, (e) => {
      const event = JSON.parse(e.data);
      if (regions().some((el) => wants(el, kind, event))) onEvent();
    });
  }
})();
