// An audit board's printed link (and its QR code) is /board/signin/<slug>#<passphrase>: the
// passphrase rides in the URL's fragment, which a browser never sends to a server, so it
// appears in no request line, access log or proxy log. This script, on the sign-in page the
// link opens, takes it from the fragment, removes it from the address bar and the history,
// and posts it with the page's form (its CSRF token and the board's slug). The server then
// checks that the passphrase is this board's (the slug names one county's board of one
// round). No inline handlers and no eval: the page's CSP allows only script from /static.
"use strict";
(() => {
  const secret = decodeURIComponent(window.location.hash.replace(/^#/, "")).trim();
  if (!secret) return;
  history.replaceState(null, "", window.location.pathname + window.location.search);
  const start = () => {
    const form = document.querySelector("form.board-signin");
    if (!form || !form.querySelector("input[name=slug]")) return;
    form.querySelector("input[name=passphrase]").value = secret;
    form.submit();
  };
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();
