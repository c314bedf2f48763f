// The county page's upload form, resumable. Without this script the form sends the file
// whole (routes/uploads.py streams it to disk); with it, the file goes through the resumable
// API (docs/server.md, "Uploads") in pieces:
//   POST /api/county/X/uploads {kind, filename, size, sha256}   declares it (or an upload of
//                                                                the same file still
//                                                                receiving is resumed),
//   PUT  /api/county/X/uploads/ID  Content-Range: bytes S-E/N     one piece at a time, S being
//                                                                the offset the server has.
// After a piece fails (a dropped connection, a server restart) or a page reload (choose the
// same file again and submit), it asks the server for the offset it holds (GET ...) and goes
// on from there. It computes the file's SHA-256 as it sends, over the same bytes in the same
// order as the server hashes them, and compares it with the one the county typed and the
// one the server computed: the server refuses an upload whose digest is not the typed one.
// No inline handler and no eval: the page's CSP allows only script from /static.
"use strict";
(() => {
  const PIECE = 8 << 20; // bytes per PUT (a form's data-chunk changes it)
  const TRIES = 8; // failed pieces in a row before giving up (the upload stays resumable)

  // ---------------------------------------------------------------- SHA-256 (FIPS 180-4),
  // incremental: Web Crypto's digest() takes the whole file at once, which a large export
  // cannot be.
  const K = new Uint32Array([
    0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
    0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
    0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
    0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
    0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
    0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
    0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
    0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2]);
  const ror = (x, n) => (x >>> n) | (x << (32 - n));

  class Sha256 {
    constructor() {
      this.h = new Uint32Array([0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a,
        0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19]);
      this.w = new Uint32Array(64);
      this.buf = new Uint8Array(64);
      this.held = 0; // bytes in buf
      this.length = 0; // bytes hashed so far
    }

    update(data) {
      let i = 0;
      this.length += data.length;
      if (this.held) {
        i = Math.min(64 - this.held, data.length);
        this.buf.set(data.subarray(0, i), this.held);
        this.held += i;
        if (this.held < 64) return;
        this.block(this.buf, 0);
        this.held = 0;
      }
      for (; i + 64 <= data.length; i += 64) this.block(data, i);
      this.buf.set(data.subarray(i), 0);
      this.held = data.length - i;
    }

    block(p, o) {
      const w = this.w;
      for (let t = 0; t < 16; t++, o += 4) {
        w[t] = (p[o] << 24) | (p[o + 1] << 16) | (p[o + 2] << 8) | p[o + 3];
      }
      for (let t = 16; t < 64; t++) {
        const x = w[t - 15], y = w[t - 2];
        w[t] = w[t - 16] + (ror(x, 7) ^ ror(x, 18) ^ (x >>> 3)) + w[t - 7]
          + (ror(y, 17) ^ ror(y, 19) ^ (y >>> 10));
      }
      let [a, b, c, d, e, f, g, h] = this.h;
      for (let t = 0; t < 64; t++) {
        const t1 = (h + (ror(e, 6) ^ ror(e, 11) ^ ror(e, 25)) + ((e & f) ^ (~e & g))
          + K[t] + w[t]) >>> 0;
        const t2 = ((ror(a, 2) ^ ror(a, 13) ^ ror(a, 22)) + ((a & b) ^ (a & c) ^ (b & c))) >>> 0;
        h = g; g = f; f = e; e = (d + t1) >>> 0;
        d = c; c = b; b = a; a = (t1 + t2) >>> 0;
      }
      const s = this.h;
      s[0] += a; s[1] += b; s[2] += c; s[3] += d; s[4] += e; s[5] += f; s[6] += g; s[7] += h;
    }

    hex() {
      const bits = this.length * 8;
      const pad = new Uint8Array((this.held < 56 ? 56 : 120) - this.held + 8);
      pad[0] = 0x80;
      const view = new DataView(pad.buffer);
      view.setUint32(pad.length - 8, Math.floor(bits / 0x100000000));
      view.setUint32(pad.length - 4, bits >>> 0);
      this.update(pad);
      return Array.from(this.h, (x) => x.toString(16).padStart(8, "0")).join("");
    }
  }

  // ---------------------------------------------------------------- the transfer
  class Refused extends Error {}

  const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
  const read = async (file, start, end) => new Uint8Array(await file.slice(start, end).arrayBuffer());

  async function api(url, csrf, init = {}) {
    const r = await fetch(url, { credentials: "same-origin", ...init,
      headers: { "X-CSRF-Token": csrf, ...(init.headers || {}) } });
    let body = null;
    try { body = await r.json(); } catch (e) { body = null; }
    return { status: r.status, body };
  }

  const detail = (res) => (res.body && typeof res.body.detail === "string" ? res.body.detail
    : `the server answered ${res.status}`);

  // an upload of this very file (kind, name, size, typed SHA-256) still receiving
  async function resumable(base, csrf, want) {
    const res = await api(base, csrf);
    if (res.status !== 200 || !Array.isArray(res.body)) return null;
    return res.body.find((u) => u.status === "receiving" && u.kind === want.kind
      && u.filename === want.filename && u.size === want.size
      && u.declared_sha256 === want.sha256) || null;
  }

  async function send(form, say) {
    const file = form.elements.file.files[0];
    const csrf = form.elements.csrf.value;
    const typed = form.elements.sha256.value.trim().toLowerCase();
    const base = "/api" + new URL(form.action, location.href).pathname;
    const piece = Number(form.dataset.chunk) || PIECE;
    const want = { kind: form.elements.kind.value, filename: file.name, size: file.size,
      sha256: typed };
    let up = await resumable(base, csrf, want);
    if (up) {
      say(`Resuming upload ${up.id} at ${up.received.toLocaleString()} bytes.`);
    } else {
      const res = await api(base, csrf, { method: "POST", body: JSON.stringify(want),
        headers: { "Content-Type": "application/json" } });
      if (res.status !== 201) throw new Refused(detail(res));
      up = res.body;
    }
    const url = `${base}/${up.id}`;
    let hash = new Sha256();
    let hashed = 0; // the hash covers the file's bytes [0, hashed)
    const hashTo = async (offset) => {
      if (offset < hashed) { hash = new Sha256(); hashed = 0; }
      while (hashed < offset) {
        const end = Math.min(offset, hashed + piece);
        hash.update(await read(file, hashed, end));
        hashed = end;
      }
    };
    let offset = up.received;
    let failures = 0;
    while (offset < file.size) {
      await hashTo(offset);
      const end = Math.min(file.size, offset + piece);
      const bytes = await read(file, offset, end);
      let res = null;
      try {
        res = await api(url, csrf, { method: "PUT", body: bytes,
          headers: { "Content-Range": `bytes ${offset}-${end - 1}/${file.size}`,
            "Content-Type": "application/octet-stream" } });
      } catch (e) {
        res = null; // the connection failed: ask the server what it has
      }
      if (res && res.status === 200 && res.body.received === end) {
        hash.update(bytes);
        hashed = offset = end;
        failures = 0;
        up = res.body;
        say(`Sent ${end.toLocaleString()} of ${file.size.toLocaleString()} bytes.`);
        continue;
      }
      if (res && res.status >= 400 && res.status < 500 && res.status !== 409) {
        throw new Refused(detail(res)); // refused, not cut off: sending again will not help
      }
      failures += 1;
      if (failures > TRIES) {
        throw new Refused(`the transfer keeps failing (${res ? detail(res) : "no connection"});`
          + " submit the same file again later to resume");
      }
      say(`A piece did not arrive; asking the server where to resume (try ${failures}).`);
      await sleep(Math.min(8000, 250 * 2 ** failures));
      let now = null;
      try { now = await api(url, csrf); } catch (e) { now = null; }
      if (now && now.status === 200) {
        up = now.body;
        if (up.status !== "receiving") break;
        offset = up.received;
      }
    }
    await hashTo(file.size);
    const local = hash.hex();
    if (up.status === "receiving") { // the last piece's answer was lost: read the verdict
      const now = await api(url, csrf);
      if (now.status === 200) up = now.body;
    }
    return { up, local, typed };
  }

  function attach(form) {
    if (!window.fetch || !window.Blob || !Blob.prototype.slice || !window.DataView) return;
    const status = document.createElement("p");
    status.className = "upload-status";
    status.setAttribute("role", "status");
    status.setAttribute("aria-live", "polite");
    form.after(status);
    const say = (text) => { status.textContent = text; };
    let busy = false;
    form.addEventListener("submit", async (event) => {
      const file = form.elements.file.files[0];
      if (!file || file.size === 0) return; // the plain form says why
      event.preventDefault();
      if (busy) return;
      busy = true;
      const button = form.querySelector("button[type=submit]");
      button.disabled = true;
      status.dataset.state = "sending";
      try {
        const { up, local, typed } = await send(form, say);
        const same = local === typed && up.sha256 === local;
        status.dataset.state = up.status === "verified" && same ? "verified" : "refused";
        status.dataset.sha256 = local;
        say(`Upload ${up.id}: ${up.status}. SHA-256 of your file ${local}`
          + `${local === typed ? ", as you typed" : `, not ${typed} as you typed`}`
          + `${up.sha256 ? `; the server's ${up.sha256}` : ""}.${up.message ? " " + up.message : ""}`);
        if (status.dataset.state === "verified") { // the county page, as the form's answer
          const page = new URL(form.action, location.href).pathname.replace(/\/uploads$/, "");
          window.location.assign(`${page}?uploaded=${up.id}#uploads`); // a new load, not a scroll
        }
      } catch (e) {
        status.dataset.state = "failed";
        say(e instanceof Refused ? `Not uploaded: ${e.message}` : `Not uploaded: ${e}`);
      } finally {
        busy = false;
        button.disabled = false;
      }
    });
  }

  window.tallyproofUpload = { Sha256 };
  const start = () => document.querySelectorAll("form.upload").forEach(attach);
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();
