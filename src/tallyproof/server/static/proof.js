// Checks a ballot's inclusion proof in the visitor's browser, trusting the server for
// nothing: it fetches /api/proof/{county}/{ballot} and re-does every step of
// tallyproof.state.statelog.verify_ballot_proof (docs/commitment.md, "The state log") with
// Web Crypto: RFC 9162 hashing (leaf = SHA-256(0x00 || data), node = SHA-256(0x01 || l || r))
// and its inclusion-proof algorithm (section 2.1.3.2), and Ed25519 signatures of the C2SP
// signed-note checkpoints, against the state checkpoint root shown on the page and the state
// key in the form (which the visitor can replace with one obtained elsewhere).
// No inline handlers and no eval: the page's CSP allows only script from /static.
"use strict";
(() => {
  const STATE_LEAF = 0x10, FORMAT_VERSION = 0x01, ALG_ED25519 = 0x01;
  const SIG_PREFIX = "\u2014 ";
  const enc = new TextEncoder();

  const hex = (bytes) => Array.from(bytes, (x) => x.toString(16).padStart(2, "0")).join("");
  function unhex(s) {
    if (typeof s !== "string" || !/^(?:[0-9a-f]{2})*$/.test(s)) throw new Error("not hex: " + s);
    const out = new Uint8Array(s.length / 2);
    for (let i = 0; i < out.length; i++) out[i] = parseInt(s.substr(2 * i, 2), 16);
    return out;
  }
  function unb64(s) {
    if (!/^[A-Za-z0-9+/]*={0,2}$/.test(s)) throw new Error("not base64");
    return Uint8Array.from(atob(s), (c) => c.charCodeAt(0));
  }
  function concat(...parts) {
    const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
    let at = 0;
    for (const p of parts) { out.set(p, at); at += p.length; }
    return out;
  }
  const equal = (a, b) => a.length === b.length && a.every((x, i) => x === b[i]);

  async function sha256(bytes) {
    return new Uint8Array(await crypto.subtle.digest("SHA-256", bytes));
  }
  const leafHash = (data) => sha256(concat(Uint8Array.of(0), data));
  const nodeHash = (l, r) => sha256(concat(Uint8Array.of(1), l, r));

  // RFC 9162 section 2.1.3.2: the root the audit path leads to, or null when the path does
  // not fit the index and size. Integer halving, not bit operators (those are 32-bit).
  async function rootFromInclusion(index, size, leaf, path) {
    if (!(index >= 0 && index < size)) return null;
    let fn = index, sn = size - 1, r = leaf;
    for (const p of path) {
      if (sn === 0) return null;
      if (fn % 2 === 1 || fn === sn) {
        r = await nodeHash(p, r);
        while (fn % 2 === 0 && fn !== 0) { fn = Math.floor(fn / 2); sn = Math.floor(sn / 2); }
      } else {
        r = await nodeHash(r, p);
      }
      fn = Math.floor(fn / 2); sn = Math.floor(sn / 2);
    }
    return sn === 0 ? r : null;
  }

  // C2SP signed note holding a tlog-checkpoint body (tallyproof.ledger.checkpoint.parse).
  function parseCheckpoint(text) {
    const cut = text.indexOf("\n\n");
    if (cut < 0 || !text.endsWith("\n")) throw new Error("not a signed note");
    const body = text.slice(0, cut + 1);
    const [origin, size, root] = body.split("\n");
    if (!origin || !/^(?:0|[1-9][0-9]*)$/.test(size)) throw new Error("malformed checkpoint");
    const sigs = text.slice(cut + 2).split("\n").slice(0, -1).map((line) => {
      const parts = line.split(" ");
      if (!line.startsWith(SIG_PREFIX) || parts.length !== 3) throw new Error("malformed signature line");
      const raw = unb64(parts[2]);
      if (raw.length !== 68) throw new Error("signature is not 4 + 64 bytes");
      return { name: parts[1], keyId: raw.slice(0, 4), signature: raw.slice(4) };
    });
    const rootBytes = unb64(root);
    if (rootBytes.length !== 32) throw new Error("checkpoint root is not 32 bytes");
    return { body, origin, size: Number(size), root: rootBytes, sigs };
  }

  // <name>+<key id hex>+<base64(0x01 || Ed25519 public key)>, the key id being the first 4
  // bytes of SHA-256(name || "\n" || 0x01 || key) (tallyproof.ledger.keys.parse_vkey).
  async function parseVkey(text) {
    const parts = text.trim().split("+");
    if (parts.length !== 3) throw new Error("not a verifier key (name+hash+key)");
    const [name, idHex, raw64] = parts;
    const raw = unb64(raw64), keyId = unhex(idHex);
    if (raw.length !== 33 || raw[0] !== ALG_ED25519) throw new Error("not an Ed25519 key");
    const want = (await sha256(concat(enc.encode(name + "\n"), raw))).slice(0, 4);
    if (!equal(want, keyId)) throw new Error("the key id does not match the name and key");
    return { name, keyId, publicKey: raw.slice(1) };
  }

  async function signedBy(cp, vkey) {
    let key;
    try {
      key = await crypto.subtle.importKey("raw", vkey.publicKey, { name: "Ed25519" }, false, ["verify"]);
    } catch (e) {
      throw new Error("this browser's Web Crypto has no Ed25519 (" + e.name + "): the signature " +
                      "cannot be checked here; use tallyproof verify");
    }
    for (const s of cp.sigs) {
      if (s.name === vkey.name && equal(s.keyId, vkey.keyId)) {
        return crypto.subtle.verify({ name: "Ed25519" }, key, s.signature, enc.encode(cp.body));
      }
    }
    return false;
  }

  // The state log leaf: 0x10, 0x01, then county, county key and county checkpoint, each a
  // big-endian uint32 length and UTF-8 bytes (tallyproof.state.statelog.StateLeaf).
  function decodeStateLeaf(data) {
    if (data[0] !== STATE_LEAF || data[1] !== FORMAT_VERSION) throw new Error("not a state log leaf");
    const dec = new TextDecoder("utf-8", { fatal: true }), out = [];
    let at = 2;
    for (let k = 0; k < 3; k++) {
      const n = new DataView(data.buffer, data.byteOffset + at, 4).getUint32(0);
      out.push(dec.decode(data.subarray(at + 4, at + 4 + n)));
      at += 4 + n;
    }
    if (at !== data.length) throw new Error("a state log leaf has trailing bytes");
    return { county: out[0], vkey: out[1], checkpoint: out[2] };
  }

  // Every step of verify_ballot_proof, each {ok, text, value}; stops at nothing, so the page
  // shows which step failed and which held.
  async function verifyBallotProof(proof, shownRoot, stateKeyText) {
    const steps = [];
    const step = (ok, text, value) => steps.push({ ok: Boolean(ok), text, value: value || "" });
    const cpf = proof.county_proof;
    const leafData = unhex(proof.state_leaf_data);
    const leaf = decodeStateLeaf(leafData);
    step(leaf.county === proof.county && leaf.checkpoint === cpf.checkpoint,
         "The state log's leaf names county " + leaf.county + " and holds the county checkpoint the ballot's proof ends in");
    const countyCp = parseCheckpoint(cpf.checkpoint);
    const countyKey = await parseVkey(leaf.vkey);
    step(await signedBy(countyCp, countyKey),
         "The county checkpoint is signed by the county key in that leaf (" + countyKey.name + ")", hex(countyKey.keyId));
    const countyRoot = await rootFromInclusion(cpf.leaf_index, cpf.tree_size, unhex(cpf.leaf_hash),
                                               cpf.audit_path.map(unhex));
    step(countyRoot !== null && countyCp.size === cpf.tree_size && equal(countyRoot, countyCp.root)
         && hex(countyCp.root) === cpf.root,
         "Ballot " + cpf.ballot_id + " is leaf " + cpf.leaf_index + " of the county log's " + cpf.tree_size +
         "; its " + cpf.audit_path.length + "-hash audit path leads to the county checkpoint's root",
         countyRoot ? hex(countyRoot) : "no root");
    const stateCp = parseCheckpoint(proof.state_checkpoint);
    const stateRoot = await rootFromInclusion(proof.state_leaf_index, proof.state_tree_size,
                                              await leafHash(leafData), proof.state_audit_path.map(unhex));
    step(stateRoot !== null && stateCp.size === proof.state_tree_size && equal(stateRoot, stateCp.root),
         "The county checkpoint is leaf " + proof.state_leaf_index + " of the state log's " +
         proof.state_tree_size + "; its audit path leads to the state checkpoint's root",
         stateRoot ? hex(stateRoot) : "no root");
    step(hex(stateCp.root) === shownRoot,
         "That root is the state checkpoint root shown on this page", shownRoot);
    const stateKey = await parseVkey(stateKeyText);
    step(await signedBy(stateCp, stateKey),
         "The state checkpoint is signed by the state key given above (" + stateKey.name + ")", hex(stateKey.keyId));
    return steps;
  }

  function show(form, steps, error) {
    const list = form.parentElement.querySelector(".proof-steps");
    const verdict = form.parentElement.querySelector(".proof-verdict");
    list.replaceChildren(...steps.map((s) => {
      const li = document.createElement("li");
      li.className = s.ok ? "pass" : "fail";
      li.dataset.value = s.value;
      const mark = document.createElement("span");
      mark.className = "status " + (s.ok ? "pass" : "fail");
      mark.textContent = s.ok ? "holds" : "fails";
      li.append(mark, " " + s.text);
      if (s.value) {
        const code = document.createElement("code");
        code.textContent = s.value;
        li.append(" ", code);
      }
      return li;
    }));
    const ok = !error && steps.length > 0 && steps.every((s) => s.ok);
    verdict.className = "proof-verdict status " + (ok ? "pass" : "fail");
    verdict.textContent = error ? error
      : ok ? "Verified in this browser: the ballot's record is in the state checkpoint."
        : "The proof does not verify.";
    verdict.hidden = false;
  }

  async function check(form) {
    form.parentElement.querySelector(".proof-verdict").hidden = true;  // until this check ends
    form.parentElement.querySelector(".proof-steps").replaceChildren();
    const data = new FormData(form);
    const county = String(data.get("county")), ballot = String(data.get("ballot"));
    if (!window.crypto || !crypto.subtle) {
      show(form, [], "This page is not in a secure context (HTTPS or localhost), so the browser " +
                     "offers no Web Crypto here; use tallyproof verify.");
      return;
    }
    const r = await fetch("/api/proof/" + encodeURIComponent(county) + "/" + encodeURIComponent(ballot),
                          { headers: { Accept: "application/json" } });
    const body = await r.json();
    if (!r.ok) { show(form, [], body.detail || "HTTP " + r.status); return; }
    try {
      const shown = document.getElementById("state-root");  // the root this page shows
      show(form, await verifyBallotProof(body.proof, shown ? shown.dataset.stateRoot : "",
                                         String(data.get("state_key"))));
    } catch (e) {
      show(form, [], "The proof does not verify: " + e.message);
    }
  }

  window.tallyproofProof = { rootFromInclusion, leafHash, nodeHash, parseCheckpoint, parseVkey,
                             decodeStateLeaf, verifyBallotProof, hex, unhex };
  document.addEventListener("submit", (ev) => {
    const form = ev.target;
    if (!(form instanceof HTMLFormElement) || !form.classList.contains("browser-proof")) return;
    ev.preventDefault();
    check(form).catch((e) => show(form, [], "The check could not run: " + e.message));
  });
})();
