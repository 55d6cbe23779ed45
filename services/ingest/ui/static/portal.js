// The app portal's entry (/ui/portal#key=<token>): the token never reaches a server log,
// since browsers do not send a URL's fragment; it is posted here, traded for a session
// cookie, and the fragment is dropped from the address bar and history.
(function () {
  "use strict";
  const state = document.getElementById("portal-state");
  const key = new URLSearchParams(window.location.hash.slice(1)).get("key");
  history.replaceState(null, "", window.location.pathname);
  if (!key) {
    state.textContent = "This link has no access key. Ask for a new link.";
    return;
  }
  fetch("/ui/portal/session", {
    method: "POST",
    headers: { "Content-Type": "application/x-www-form-urlencoded" },
    body: new URLSearchParams({ key: key }),
    credentials: "same-origin",
  })
    .then((response) => response.json().then((answer) => ({ ok: response.ok, answer })))
    .then(({ ok, answer }) => {
      if (ok) window.location.assign(answer.next);
      else state.textContent = answer.detail || "This link does not work any more.";
    })
    .catch(() => { state.textContent = "Could not reach Hookline. Try again."; });
})();
