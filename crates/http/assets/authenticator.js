// The web authenticator: a Mobile ID phone in the browser, speaking the device API
// (docs/device-api.md) like the command-line phone.
//
// Keys are made here with WebCrypto and never leave the browser:
// - the device key (ECDSA P-256, not extractable) signs every API call;
// - the signing key (ECDSA P-256) is certified by the server from a CSR made here, then
//   kept only sealed: AES-256-GCM under HKDF(PBKDF2(PIN, salt) ‖ share), where the share
//   is released by the server for the right PIN proof only. A copy of this browser's
//   storage therefore cannot test a PIN: every try goes to the server, which counts it.
//
// The page's texts come from the server in the page's language (data-t-* attributes on
// #app); this script only shows and hides the page's sections and fills in values.
"use strict";

const enc = new TextEncoder();
const subtle = crypto.subtle;
const EC = { name: "ECDSA", namedCurve: "P-256" };
const SIGN = { name: "ECDSA", hash: "SHA-256" };
const PIN_ITERATIONS = 100000;
const WAIT_SECONDS = 25;
const HISTORY_LIMIT = 50;

// ---- bytes ----

function concat(...parts) {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) { out.set(p, at); at += p.length; }
  return out;
}
function b64(bytes) {
  let s = "";
  for (const b of bytes) s += String.fromCharCode(b);
  return btoa(s);
}
function unb64(text) { return Uint8Array.from(atob(text), (c) => c.charCodeAt(0)); }
function hex(bytes) { return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join(""); }
function random(n) { return crypto.getRandomValues(new Uint8Array(n)); }
function equal(a, b) { return a.length === b.length && a.every((x, i) => x === b[i]); }
async function sha256(bytes) { return new Uint8Array(await subtle.digest("SHA-256", bytes)); }

// ---- DER, the little the phone writes: CSRs, signed attributes, ECDSA signatures ----

function tlv(tag, content) {
  const n = content.length;
  let length;
  if (n < 0x80) length = [n];
  else {
    const octets = [];
    for (let v = n; v > 0; v = Math.floor(v / 256)) octets.unshift(v & 0xff);
    length = [0x80 | octets.length, ...octets];
  }
  return concat(new Uint8Array([tag, ...length]), content);
}
const seq = (...items) => tlv(0x30, concat(...items));
function setOf(items) {
  // DER sorts the members of a SET OF by their encodings.
  const sorted = [...items].sort((a, b) => {
    for (let i = 0; i < Math.min(a.length, b.length); i++) if (a[i] !== b[i]) return a[i] - b[i];
    return a.length - b.length;
  });
  return tlv(0x31, concat(...sorted));
}
function oid(dotted) {
  // BigInt: a UUID arc (2.25.…) is far beyond 2^53.
  const [a, b, ...rest] = dotted.split(".").map(BigInt);
  const out = [Number(40n * a + b)];
  for (const arc of rest) {
    const chunk = [Number(arc & 0x7fn)];
    for (let v = arc >> 7n; v > 0n; v >>= 7n) chunk.unshift(0x80 | Number(v & 0x7fn));
    out.push(...chunk);
  }
  return tlv(0x06, new Uint8Array(out));
}
const octets = (bytes) => tlv(0x04, bytes);
function unsignedInteger(bytes) {
  let i = 0;
  while (i < bytes.length - 1 && bytes[i] === 0) i++;
  const body = bytes.slice(i);
  return tlv(0x02, body[0] & 0x80 ? concat(new Uint8Array([0]), body) : body);
}
function integer(n) {
  const bytes = [];
  for (let v = n; v > 0; v = Math.floor(v / 256)) bytes.unshift(v & 0xff);
  return unsignedInteger(new Uint8Array(bytes.length ? bytes : [0]));
}
// Reads the element at `at`: its tag, its whole encoding, and where its content lies.
function element(bytes, at) {
  let length = bytes[at + 1];
  let start = at + 2;
  if (length & 0x80) {
    const n = length & 0x7f;
    length = 0;
    for (let i = 0; i < n; i++) length = length * 256 + bytes[start + i];
    start += n;
  }
  return { tag: bytes[at], start, end: start + length, raw: bytes.slice(at, start + length) };
}
function children(bytes, parent) {
  const out = [];
  for (let at = parent.start; at < parent.end; at = out[out.length - 1].end) out.push(element(bytes, at));
  return out;
}
// A certificate's TBS fields from the serial number on: serial, signature algorithm,
// issuer, validity, subject, subject public key info, ...
function certificateFields(cert) {
  const tbs = children(cert, children(cert, element(cert, 0))[0]);
  return tbs[0].tag === 0xa0 ? tbs.slice(1) : tbs;
}
// WebCrypto signs ECDSA as r ‖ s; the device API and CMS want the DER SEQUENCE { r, s }.
function derSignature(raw) {
  const half = raw.length / 2;
  return seq(unsignedInteger(raw.slice(0, half)), unsignedInteger(raw.slice(half)));
}

const OID = {
  contentType: "1.2.840.113549.1.9.3",
  data: "1.2.840.113549.1.7.1",
  randomNonce: "1.2.840.113549.1.9.25.3",
  messageDigest: "1.2.840.113549.1.9.4",
  signingCertificateV2: "1.2.840.113549.1.9.16.2.47",
  // Our document commitment (docs/document-signing.md): a UUID-based OID.
  documentCommitment: "2.25.113982034376036651149324885401143823180",
  commonName: "2.5.4.3",
  ecdsaWithSha256: "1.2.840.10045.4.3.2",
};

// The CMS signed attributes the server asks the signing key to sign: the phone builds
// them itself from what it shows, and signs only if they are the same bytes.
function signedAttributes(digest, nonce) {
  const attribute = (type, value) => seq(oid(type), setOf([value]));
  return setOf([
    attribute(OID.contentType, oid(OID.data)),
    attribute(OID.randomNonce, octets(nonce)),
    attribute(OID.messageDigest, octets(digest)),
  ]);
}

// A PDF signature's attributes (docs/document-signing.md): besides those above, the
// certificate the signature names and the document shown (name, length, SHA-256). The
// messageDigest is of the revision the server wrote, which the phone never sees.
async function pdfSignedAttributes(revisionDigest, nonce, cert, document) {
  const attribute = (type, value) => seq(oid(type), setOf([value]));
  const [serial, , issuer] = certificateFields(cert);
  const certId = seq(octets(await sha256(cert)), seq(seq(tlv(0xa4, issuer.raw)), serial.raw));
  const commitment = seq(tlv(0x0c, enc.encode(document.name)), integer(document.length), octets(document.sha256));
  return setOf([
    attribute(OID.contentType, oid(OID.data)),
    attribute(OID.messageDigest, octets(revisionDigest)),
    attribute(OID.randomNonce, octets(nonce)),
    attribute(OID.signingCertificateV2, seq(seq(certId))),
    attribute(OID.documentCommitment, commitment),
  ]);
}
function messageDigestOf(attributes) {
  const wanted = oid(OID.messageDigest);
  for (const attribute of children(attributes, element(attributes, 0))) {
    const [type, values] = children(attributes, attribute);
    if (equal(type.raw, wanted)) {
      const value = children(attributes, values)[0];
      return attributes.slice(value.start, value.end);
    }
  }
  return new Uint8Array(0);
}
// The document's attributes the server prepared must be exactly those of the document
// shown; the certificate offered must certify this key (checked on the signature).
async function checkedDocumentSignature(request, content, signingKey, prepared) {
  const cert = unb64(request.signing_certificate);
  const toBeSigned = unb64(prepared);
  const document = { name: request.document_name, length: request.document_length, sha256: content.digest };
  const expected = await pdfSignedAttributes(messageDigestOf(toBeSigned), unb64(request.nonce), cert, document);
  if (!equal(expected, toBeSigned)) return null;
  const raw = new Uint8Array(await subtle.sign(SIGN, signingKey, toBeSigned));
  const certified = await subtle.importKey("spki", certificateFields(cert)[5].raw, EC, false, ["verify"]);
  return (await subtle.verify(SIGN, certified, raw, toBeSigned)) ? derSignature(raw) : null;
}

async function certificationRequest(keyPair) {
  const spki = new Uint8Array(await subtle.exportKey("spki", keyPair.publicKey));
  const subject = seq(setOf([seq(oid(OID.commonName), tlv(0x0c, enc.encode("Mobile ID web authenticator")))]));
  const info = seq(tlv(0x02, new Uint8Array([0])), subject, spki, new Uint8Array([0xa0, 0x00]));
  const signature = derSignature(new Uint8Array(await subtle.sign(SIGN, keyPair.privateKey, info)));
  return seq(info, seq(oid(OID.ecdsaWithSha256)), tlv(0x03, concat(new Uint8Array([0]), signature)));
}

// ---- the PIN, enforced by the server ----

async function pinKey(pin, salt) {
  const base = await subtle.importKey("raw", enc.encode(pin), "PBKDF2", false, ["deriveBits"]);
  const bits = await subtle.deriveBits({ name: "PBKDF2", hash: "SHA-256", salt, iterations: PIN_ITERATIONS }, base, 256);
  return new Uint8Array(bits);
}
async function hmac(key, message) {
  const k = await subtle.importKey("raw", key, { name: "HMAC", hash: "SHA-256" }, false, ["sign"]);
  return new Uint8Array(await subtle.sign("HMAC", k, message));
}
const pinProof = (key) => hmac(key, enc.encode("mobileid pin proof v1"));
async function keyEncryptionKey(key, share) {
  const base = await subtle.importKey("raw", concat(key, share), "HKDF", false, ["deriveKey"]);
  return subtle.deriveKey(
    { name: "HKDF", hash: "SHA-256", salt: new Uint8Array(0), info: enc.encode("mobileid signing key v1") },
    base, { name: "AES-GCM", length: 256 }, false, ["encrypt", "decrypt"]);
}
// version 2 ‖ salt(16) ‖ nonce(12) ‖ AES-256-GCM(pkcs8), the header as associated data:
// the layout of the command-line phone's state file.
async function seal(key, salt, share, pkcs8) {
  const header = concat(new Uint8Array([2]), salt);
  const nonce = random(12);
  const kek = await keyEncryptionKey(key, share);
  const sealed = await subtle.encrypt({ name: "AES-GCM", iv: nonce, additionalData: header }, kek, pkcs8);
  return concat(header, nonce, new Uint8Array(sealed));
}
async function unseal(key, share, sealed) {
  const header = sealed.slice(0, 17);
  const kek = await keyEncryptionKey(key, share);
  const pkcs8 = await subtle.decrypt({ name: "AES-GCM", iv: sealed.slice(17, 29), additionalData: header }, kek, sealed.slice(29));
  return subtle.importKey("pkcs8", pkcs8, EC, false, ["sign"]);
}

// ---- storage: one record in IndexedDB (CryptoKeys are kept as objects, so the
// non-extractable device key stays non-extractable) ----

function database() {
  return new Promise((resolve, reject) => {
    const open = indexedDB.open("mobileid-authenticator", 1);
    open.onupgradeneeded = () => open.result.createObjectStore("phone");
    open.onsuccess = () => resolve(open.result);
    open.onerror = () => reject(open.error);
  });
}
async function stored() {
  const db = await database();
  return new Promise((resolve, reject) => {
    const get = db.transaction("phone").objectStore("phone").get("state");
    get.onsuccess = () => resolve(get.result || null);
    get.onerror = () => reject(get.error);
  });
}
async function forget() {
  const db = await database();
  return new Promise((resolve, reject) => {
    const tx = db.transaction("phone", "readwrite");
    tx.objectStore("phone").delete("state");
    tx.oncomplete = () => resolve();
    tx.onerror = () => reject(tx.error);
  });
}
async function store(state) {
  const db = await database();
  return new Promise((resolve, reject) => {
    const tx = db.transaction("phone", "readwrite");
    tx.objectStore("phone").put(state, "state");
    tx.oncomplete = () => resolve();
    tx.onerror = () => reject(tx.error);
  });
}

// ---- the device API ----

class ApiError extends Error {
  constructor(status, body) { super(body && body.message ? body.message : `HTTP ${status}`); this.status = status; this.body = body; }
}

async function call(deviceKey, deviceId, method, path, payload) {
  const body = payload === undefined ? new Uint8Array(0) : enc.encode(JSON.stringify(payload));
  const ts = Date.now();
  const nonce = hex(random(16));
  const canonical = enc.encode(`${method}\n${path}\n${ts}\n${nonce}\n${hex(await sha256(body))}`);
  const signature = derSignature(new Uint8Array(await subtle.sign(SIGN, deviceKey, canonical)));
  const headers = { Authorization: `MobileID-Device id=${deviceId},ts=${ts},nonce=${nonce},sig=${b64(signature)}` };
  if (payload !== undefined) headers["Content-Type"] = "application/json";
  const response = await fetch(path, { method, headers, body: payload === undefined ? undefined : body, cache: "no-store" });
  const text = await response.text();
  const answer = text ? JSON.parse(text) : null;
  if (!response.ok) throw new ApiError(response.status, answer);
  return answer;
}

// ---- what the phone shows: exactly what is signed ----

// The bytes the signing key's signature covers, and the text shown for them.
async function shownContent(request) {
  if (request.kind === "document") {
    const digest = unb64(request.digest);
    return { digest, kind: "document", name: request.document_name, hash: hex(digest) };
  }
  if (request.kind === "txn_approval" || request.mime_type === "application/vnd.mobileid.txn-approval") {
    const approval = JSON.parse(request.data);
    const rows = approval.dtbd.map((row) => `{"key":${JSON.stringify(row.key)},"value":${JSON.stringify(row.value)}}`);
    const signed = `{"format_version":1,"content_string":${JSON.stringify(`[${rows.join(",")}]`)}}`;
    const lines = [approval.type, ...approval.dtbd.map((row) => `${row.key}: ${row.value}`)];
    return { digest: await sha256(enc.encode(signed)), kind: "text", text: lines.join("\n") };
  }
  return { digest: await sha256(enc.encode(request.data)), kind: "text", text: request.data };
}

// ---- the page ----

const app = document.getElementById("app");
const t = (key, values = {}) => (app.dataset[`t${key}`] || key).replace(/\{(\w+)\}/g, (_, k) => values[k] ?? "");
const $ = (id) => document.getElementById(id);
let phone = null;
let current = null;
const seen = new Set();

function show(section) {
  for (const s of ["activate", "home", "blocked"]) $(s).hidden = s !== section;
}
function say(element, text, problem = false) {
  element.textContent = text;
  element.classList.toggle("problem", problem);
}
function setOnline(online) {
  $("offline").hidden = online;
  // "Ready" only while requests can arrive.
  $("waiting").hidden = !online || Boolean(current);
}

async function activate(event) {
  event.preventDefault();
  const form = event.target;
  const code = form.code.value.trim();
  const pin = form.pin.value;
  const message = $("activate-message");
  if (!/^\d{6}$/.test(pin)) return say(message, t("Pinformat"), true);
  if (pin !== form.pin2.value) return say(message, t("Pinmismatch"), true);
  form.querySelector("button").disabled = true;
  say(message, t("Activating"));
  try {
    const device = await subtle.generateKey(EC, false, ["sign", "verify"]);
    const signing = await subtle.generateKey(EC, true, ["sign", "verify"]);
    const salt = random(16);
    const key = await pinKey(pin, salt);
    const answer = await call(device.privateKey, "new", "POST", "/device/v1/activate", {
      code,
      csr: b64(await certificationRequest(signing)),
      device_key: b64(new Uint8Array(await subtle.exportKey("spki", device.publicKey))),
      pin_proof: b64(await pinProof(key)),
    });
    const pkcs8 = new Uint8Array(await subtle.exportKey("pkcs8", signing.privateKey));
    const share = unb64(answer.pin_share);
    // Escrowed encryption keys, where the operator issues them: sealed as the signing key.
    const encryptionKeys = [];
    for (const escrowed of answer.encryption_keys || []) {
      const keyBytes = unb64(escrowed.private_key);
      encryptionKeys.push({ certificate: escrowed.certificate, sealed_key: await seal(key, salt, share, keyBytes) });
      keyBytes.fill(0);
    }
    phone = {
      device_id: answer.device_id,
      msisdn: answer.msisdn,
      serial_number: answer.serial_number,
      certificate: answer.certificate,
      chain: answer.chain,
      device_key: device.privateKey,
      sealed_signing_key: await seal(key, salt, share, pkcs8),
      encryption_keys: encryptionKeys,
      blocked: false,
      history: [],
    };
    pkcs8.fill(0);
    await store(phone);
    history.replaceState(null, "", location.pathname);
    home();
  } catch (error) {
    const why = error instanceof ApiError
      ? (error.status === 403 ? t("Coderefused") : error.status === 429 ? t("Toomany") : error.message)
      : t("Offline");
    say(message, why, true);
  } finally {
    form.querySelector("button").disabled = false;
  }
}

function home() {
  show("home");
  $("serial").textContent = phone.serial_number;
  $("msisdn").textContent = `+${phone.msisdn}`;
  renderHistory();
  listen();
}

function blocked() {
  phone.blocked = true;
  store(phone);
  show("blocked");
}

async function listen() {
  while (phone && !phone.blocked) {
    try {
      const inbox = await call(phone.device_key, phone.device_id, "GET", `/device/v1/inbox?wait=${WAIT_SECONDS}`);
      setOnline(true);
      for (const request of inbox.requests) {
        if (!seen.has(request.transaction_id) && !current) await present(request);
      }
    } catch (error) {
      if (error instanceof ApiError && error.status === 401) return blocked();
      console.warn(`inbox: ${error}`);
      setOnline(false);
      await new Promise((resolve) => setTimeout(resolve, 3000));
    }
    if (current) await new Promise((resolve) => { current.done = resolve; });
  }
}

async function present(request) {
  seen.add(request.transaction_id);
  const content = await shownContent(request);
  // A document's attributes are prepared after the approval; anything else is checked now.
  const honest = request.kind === "document"
    ? request.to_be_signed === "" && !!request.signing_certificate && Number.isSafeInteger(request.document_length)
    : equal(signedAttributes(content.digest, unb64(request.nonce)), unb64(request.to_be_signed));
  if (!honest) {
    // The server asks to sign something other than what would be shown: refuse it.
    await call(phone.device_key, phone.device_id, "POST", `/device/v1/transactions/${request.transaction_id}/decline`, {}).catch(() => {});
    remember(request, content, "mismatch");
    return;
  }
  current = { request, content };
  const card = $("request-form");
  $("request-text").textContent = content.kind === "document"
    ? t("Document", { name: content.name, hash: content.hash })
    : content.text;
  const choices = $("choices");
  choices.replaceChildren();
  choices.hidden = !request.choices;
  for (const code of request.choices || []) {
    const label = document.createElement("label");
    label.className = "choice";
    const input = document.createElement("input");
    Object.assign(input, { type: "radio", name: "choice", value: code, required: true });
    label.append(input, ` ${code}`);
    choices.append(label);
  }
  $("choices-legend").hidden = !request.choices;
  say($("request-message"), "");
  card.hidden = false;
  $("waiting").hidden = true;
  card.querySelector("input[name=pin]").value = "";
  $("request-heading").focus();
  if (navigator.vibrate) navigator.vibrate(200);
}

function finish(outcome) {
  remember(current.request, current.content, outcome);
  const done = current.done;
  current = null;
  $("request-form").hidden = true;
  $("waiting").hidden = false;
  if (done) done();
}

async function approve(event) {
  event.preventDefault();
  const form = event.target;
  const message = $("request-message");
  const pin = form.pin.value;
  const choice = form.choice ? (form.querySelector("input[name=choice]:checked") || {}).value : undefined;
  if (current.request.choices && !choice) return say(message, t("Pickcode"), true);
  for (const button of form.querySelectorAll("button")) button.disabled = true;
  say(message, t("Signing"));
  try {
    const salt = phone.sealed_signing_key.slice(1, 17);
    const key = await pinKey(pin, salt);
    const unlock = await call(phone.device_key, phone.device_id, "POST", "/device/v1/pin/unlock", { pin_proof: b64(await pinProof(key)) });
    if (!unlock.share) {
      form.pin.value = "";
      return say(message, t("Wrongpin", { left: unlock.attempts_left }), true);
    }
    const signingKey = await unseal(key, unb64(unlock.share), phone.sealed_signing_key);
    const id = current.request.transaction_id;
    let signature;
    if (current.request.kind === "document") {
      const prepared = await call(phone.device_key, phone.device_id, "POST", `/device/v1/transactions/${id}/prepare`, {});
      signature = await checkedDocumentSignature(current.request, current.content, signingKey, prepared.to_be_signed);
      if (!signature) {
        await call(phone.device_key, phone.device_id, "POST", `/device/v1/transactions/${id}/decline`, {}).catch(() => {});
        return finish("mismatch");
      }
    } else {
      signature = derSignature(new Uint8Array(await subtle.sign(SIGN, signingKey, unb64(current.request.to_be_signed))));
    }
    const body = { signature: b64(signature) };
    if (choice) body.choice = choice;
    await call(phone.device_key, phone.device_id, "POST", `/device/v1/transactions/${id}/approve`, body);
    finish("approved");
  } catch (error) {
    if (error instanceof ApiError && error.status === 403) { finish("blocked"); return blocked(); }
    if (error instanceof ApiError && error.status === 409) return finish("expired");
    if (error instanceof ApiError && error.status === 400 && current.request.choices) return finish("declined");
    say(message, error instanceof ApiError ? error.message : t("Offline"), true);
  } finally {
    for (const button of form.querySelectorAll("button")) button.disabled = false;
  }
}

async function decline() {
  try {
    await call(phone.device_key, phone.device_id, "POST", `/device/v1/transactions/${current.request.transaction_id}/decline`, {});
    finish("declined");
  } catch (error) {
    if (error instanceof ApiError && error.status === 409) return finish("expired");
    say($("request-message"), error instanceof ApiError ? error.message : t("Offline"), true);
  }
}

function remember(request, content, outcome) {
  const what = content.kind === "document" ? content.name : content.text.split("\n")[0];
  phone.history.unshift({ at: Date.now(), requester: request.requester || "", what, outcome });
  phone.history.length = Math.min(phone.history.length, HISTORY_LIMIT);
  store(phone);
  renderHistory();
}

function renderHistory() {
  const list = $("history");
  list.replaceChildren();
  for (const entry of phone.history) {
    const item = document.createElement("li");
    const when = document.createElement("time");
    when.dateTime = new Date(entry.at).toISOString();
    when.textContent = new Date(entry.at).toLocaleString(document.documentElement.lang);
    const what = document.createElement("span");
    what.className = "what";
    what.textContent = entry.requester ? `${entry.requester}: ${entry.what}` : entry.what;
    const outcome = document.createElement("span");
    outcome.className = `outcome ${entry.outcome}`;
    outcome.textContent = t(`Outcome${entry.outcome}`);
    item.append(when, what, outcome);
    list.append(item);
  }
  $("history-empty").hidden = phone.history.length > 0;
}

async function start() {
  if ("serviceWorker" in navigator) navigator.serviceWorker.register(app.dataset.worker, { scope: app.dataset.scope }).catch((error) => { app.dataset.workerError = String(error); });
  addEventListener("online", () => setOnline(true));
  addEventListener("offline", () => setOnline(false));
  setOnline(navigator.onLine);
  $("activate-form").addEventListener("submit", activate);
  $("request-form").addEventListener("submit", approve);
  $("decline").addEventListener("click", decline);
  $("reset").addEventListener("click", async () => {
    phone = null;
    seen.clear();
    await forget();
    show("activate");
    $("activate-heading").focus();
  });
  const code = new URLSearchParams(location.hash.slice(1)).get("code");
  if (code) $("activate-form").code.value = code;
  phone = await stored();
  if (!phone) return show("activate");
  if (phone.blocked) return show("blocked");
  home();
}

start();
