// The live pages' event streams end by design (after Settings.live_lifetime, so that the
// route's role check runs again) and the browser reconnects by itself. EventSource reports
// that routine end as an "error" (readyState CONNECTING), which htmx's SSE extension logs on
// the console as an error. This gives the extension (htmx.createEventSource, read when the
// extension loads: this file is loaded between htmx and the extension) an EventSource that
// hands it only the errors that are not a reconnection: a stream refused or closed for good
// (readyState CLOSED), which the extension logs and retries as before. No inline script.
"use strict";
(() => {
  if (!window.htmx || !window.EventSource) return;
  htmx.createEventSource = (url) => {
    const source = new EventSource(url, { withCredentials: true });
    let handler = null;
    Object.defineProperty(source, "onerror", {
      get: () => handler,
      set: (fn) => { handler = fn; },
    });
    source.addEventListener("error", (event) => {
      if (source.readyState !== EventSource.CONNECTING && handler) handler(event);
    });
    return source;
  };
})();
