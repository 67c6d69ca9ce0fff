// thumbflow gallery: uploads through PUT /objects/{key}, then polls
// GET /status/{key} and draws each object's stages until they settle.
// Plain JS, no build step; served by the gateway (components/gateway/src/gallery.rs).
"use strict";

/** The stages of the status record, in pipeline order, and their labels. */
const STAGES = [
  { name: "gateway", label: "Received" },
  { name: "normalizer", label: "Normalized" },
  { name: "thumbnailer", label: "Thumbnailed" },
  { name: "notifier", label: "Notified" },
];
const POLL_MS = 500;
/** Stop polling an object whose record has not changed for this long. */
const IDLE_STOP_MS = 120000;
const MAX_REMEMBERED = 200;
const UPLOAD_CONCURRENCY = 3;
const STORE_OBJECTS = "thumbflow.gallery.objects";
const STORE_TOKEN = "thumbflow.gallery.token";

const $ = (selector, root = document) => root.querySelector(selector);
/** key -> entry: { key, bucket, card, preview, uploadMs, uploadError, status, timer, ... } */
const entries = new Map();

// ---------------------------------------------------------------- storage

function storageGet(name) {
  try {
    return window.localStorage.getItem(name);
  } catch {
    return null; // storage disabled: the page still works for this visit
  }
}

function storageSet(name, value) {
  try {
    if (value === null) window.localStorage.removeItem(name);
    else window.localStorage.setItem(name, value);
  } catch {
    /* storage disabled or full: nothing is remembered */
  }
}

function remembered() {
  try {
    const list = JSON.parse(storageGet(STORE_OBJECTS) || "[]");
    return Array.isArray(list) ? list.filter((o) => o && typeof o.key === "string") : [];
  } catch {
    return [];
  }
}

function saveRemembered() {
  // Refused uploads and keys with no status are shown for this visit only.
  const list = [...entries.values()]
    .filter((e) => !e.uploadError && !e.missing)
    .map((e) => ({ key: e.key, bucket: e.bucket || null }));
  storageSet(STORE_OBJECTS, JSON.stringify(list.slice(0, MAX_REMEMBERED)));
}

/** The API token: what the token field holds now (typed, even if not saved yet), else the saved one. */
function token() {
  const field = document.getElementById("token");
  const typed = field ? field.value.trim() : "";
  return typed || storageGet(STORE_TOKEN) || "";
}

// ---------------------------------------------------------------- helpers

/** A key as a URL path: each segment percent-encoded, `/` kept. */
function encodeKey(key) {
  return key.split("/").map(encodeURIComponent).join("/");
}

function objectUrl(key, bucket, version) {
  const query = new URLSearchParams();
  if (bucket) query.set("bucket", bucket);
  if (version) query.set("v", version); // ignored by the gateway; defeats the image cache
  const q = query.toString();
  return `/objects/${encodeKey(key)}${q ? `?${q}` : ""}`;
}

function statusUrl(key, bucket) {
  return `/status/${encodeKey(key)}${bucket ? `?bucket=${encodeURIComponent(bucket)}` : ""}`;
}

/** Milliseconds since the epoch of an RFC 3339 time (nanoseconds cut to ms), or NaN. */
function parseTime(text) {
  const m = /^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(\.\d+)?(Z|[+-]\d\d:\d\d)$/i.exec(text || "");
  if (!m) return NaN;
  const fraction = m[2] ? m[2].slice(0, 4).padEnd(4, "0") : "";
  return Date.parse(m[1] + fraction + m[3]);
}

function clock(ms) {
  const d = new Date(ms);
  const pad = (n, w = 2) => String(n).padStart(w, "0");
  return `${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}.${pad(d.getMilliseconds(), 3)}`;
}

function duration(ms) {
  if (!Number.isFinite(ms)) return "";
  if (ms < 1000) return `${Math.max(0, Math.round(ms))} ms`;
  return `${(ms / 1000).toFixed(ms < 10000 ? 2 : 1)} s`;
}

function size(bytes) {
  if (!Number.isFinite(bytes)) return "";
  if (bytes < 1024) return `${bytes} B`;
  if (bytes < 1024 * 1024) return `${(bytes / 1024).toFixed(1)} KB`;
  return `${(bytes / 1024 / 1024).toFixed(1)} MB`;
}

/** A state as the page shows it; every dead-letter spelling is `dead`. */
function normalState(state) {
  const s = String(state || "").toLowerCase();
  return s.startsWith("dead") ? "dead" : s;
}

function say(text) {
  $("#message").textContent = text;
}

/** The object key a file is stored under: its name, made acceptable to the gateway. */
function keyForFile(file) {
  // eslint-disable-next-line no-control-regex
  let key = (file.name || "").replace(/[\u0000-\u001f\u007f]/g, "_").trim();
  if (key === "" || key === "." || key === "..") key = `upload-${Date.now()}`;
  return key;
}

// ---------------------------------------------------------------- the model

/**
 * What the page shows for an entry: one row per stage, the object's overall
 * state, whether it is settled (nothing more will happen without a retry or
 * a new upload), and its error.
 *
 * Stage records older than this upload's gateway record belong to an earlier
 * upload of the same key, so they are shown as pending, not as done.
 */
function derive(entry) {
  const stages = (entry.status && entry.status.stages) || {};
  const received = stages.gateway ? parseTime(stages.gateway.at) : NaN;
  const rows = [];
  let blocked = Boolean(entry.uploadError);
  let overall = "working";
  let settled = false;
  let error = null;
  let retryable = false;

  for (const { name, label } of STAGES) {
    let record = stages[name];
    if (record && name !== "gateway" && Number.isFinite(received) && parseTime(record.at) < received) {
      record = null; // from an earlier upload of this key
    }
    const row = { name, label, state: "pending", at: NaN, took: NaN, detail: "" };
    if (name === "gateway" && entry.uploadError) {
      row.state = "failed";
      row.detail = entry.uploadError;
      row.took = entry.uploadMs;
      error = error || `Upload refused: ${entry.uploadError}`;
    } else if (name === "gateway" && !record && entry.uploading) {
      row.state = "uploading";
    } else if (name === "gateway" && !record && Object.keys(stages).length > 0) {
      // Objects announced by a storage notification or POST /events never
      // pass the upload route; the other stages still report.
      row.state = "external";
      row.detail = "not uploaded through this gateway: it arrived as a storage event";
    } else if (record) {
      row.state = normalState(record.state);
      row.at = parseTime(record.at);
      row.detail = record.detail || "";
      row.retryable = record.retryable;
      // A stage's step is measured from the latest earlier stage recorded
      // before it: a stage records after publishing its event, so the next
      // stage can finish first (its step then starts from the one before).
      const before = rows.map((r) => r.at).filter((at) => at <= row.at);
      row.took = name === "gateway" ? entry.uploadMs : row.at - Math.max(...before);
      if (row.state === "failed" || row.state === "dead") {
        const what = row.state === "dead" ? "dead-lettered" : "failed";
        error = error || `${label} ${what}: ${row.detail || "no detail recorded"}`;
        if (row.state === "failed" && record.retryable === true) retryable = true;
      }
    } else if (blocked) {
      row.state = "skipped";
    }
    if (["failed", "dead", "ignored"].includes(row.state)) blocked = true;
    rows.push(row);
  }

  // A stage that has not reported yet is the one at work.
  if (!blocked) {
    const next = rows.find((r) => r.state === "pending");
    if (next && rows[0].state !== "uploading") next.state = "working";
  }

  const states = rows.map((r) => r.state);
  if (states.includes("dead")) overall = "dead";
  else if (states.includes("failed")) overall = retryable ? "retrying" : "failed";
  else if (states.includes("ignored")) overall = "ignored";
  else if (rows[rows.length - 1].state === "done") overall = "done";
  else if (entry.uploading) overall = "uploading";
  settled = ["dead", "failed", "ignored", "done"].includes(overall);

  const timed = rows.filter((r) => Number.isFinite(r.at));
  const first = timed[0];
  const last = timed.reduce((latest, r) => (latest && latest.at >= r.at ? latest : r), null);
  const total = first && last && first !== last ? last.at - first.at : NaN;
  return { rows, overall, settled, error, total, last };
}

const BADGES = {
  uploading: "uploading…",
  working: "in progress…",
  retrying: "failed, may retry",
  failed: "failed",
  dead: "dead-lettered",
  ignored: "ignored",
  done: "done",
  pending: "waiting",
};

// ---------------------------------------------------------------- the view

function createCard(entry) {
  const card = $("#card-template").content.firstElementChild.cloneNode(true);
  card.dataset.key = entry.key;
  $(".key", card).textContent = entry.key;
  const original = $(".original img", card);
  original.addEventListener("error", () => {
    original.hidden = true;
    $(".original figcaption", card).textContent = "original (no preview)";
  });
  original.addEventListener("load", () => {
    original.hidden = false;
  });
  const thumb = $(".thumbnail img", card);
  thumb.addEventListener("load", () => {
    thumb.hidden = false;
    $(".placeholder", card).hidden = true;
  });
  let retries = 0;
  thumb.addEventListener("error", () => {
    // Listed but not readable (yet): try a few times, then say so.
    const src = thumb.getAttribute("src");
    if (!src) return;
    if (retries >= 3) {
      $(".placeholder", card).textContent = "thumbnail listed but not readable";
      return;
    }
    retries += 1;
    setTimeout(() => {
      if (thumb.getAttribute("src") === src) thumb.src = `${src}&retry=${retries}`;
    }, 1000 * retries);
  });
  $(".refresh", card).addEventListener("click", () => watch(entry, true));
  $(".forget", card).addEventListener("click", () => forget(entry.key));
  entry.card = card;
  return card;
}

function render(entry) {
  const card = entry.card;
  const view = derive(entry);
  card.dataset.state = view.overall;
  card.classList.toggle("bad", ["failed", "dead", "retrying"].includes(view.overall));
  const badge = $(".badge", card);
  badge.textContent = BADGES[view.overall] || view.overall;
  badge.dataset.state = view.overall;

  const errorLine = $(".error", card);
  errorLine.hidden = !view.error;
  errorLine.textContent = view.error || "";

  const original = $(".original img", card);
  const originalSrc = entry.preview || (entry.status || entry.stored ? objectUrl(entry.key, entry.bucket) : "");
  if (originalSrc && original.getAttribute("src") !== originalSrc) {
    original.src = originalSrc;
    original.alt = `Original ${entry.key}`;
  }
  const link = $(".open-original", card);
  link.href = objectUrl(entry.key, entry.bucket);
  link.hidden = Boolean(entry.uploadError);

  renderThumbnail(entry, view);

  const timeline = $(".timeline", card);
  timeline.replaceChildren(...view.rows.map(renderRow));
  $(".total", card).textContent = Number.isFinite(view.total)
    ? `received to ${view.last.label.toLowerCase()}: ${duration(view.total)}`
    : "";
  return view;
}

function renderThumbnail(entry, view) {
  const card = entry.card;
  const img = $(".thumbnail img", card);
  const caption = $(".thumbnail figcaption", card);
  const placeholder = $(".placeholder", card);
  const row = view.rows.find((r) => r.name === "thumbnailer");
  const list = (entry.status && entry.status.thumbnails) || [];
  const thumb = row.state === "done" ? list.find((t) => t.recipe === "thumb") || list[0] : null;
  if (!thumb) {
    img.hidden = true;
    img.removeAttribute("src");
    placeholder.hidden = false;
    placeholder.textContent = ["failed", "dead", "skipped", "ignored"].includes(row.state)
      ? "no thumbnail"
      : "no thumbnail yet";
    caption.textContent = "thumbnail";
    return;
  }
  const src = objectUrl(thumb.key, entry.bucket, entry.status.stages.thumbnailer.at);
  if (img.getAttribute("src") !== src) {
    img.src = src;
    img.alt = `Thumbnail of ${entry.key}`;
    if (thumb.width && thumb.height) {
      img.width = thumb.width;
      img.height = thumb.height;
    }
  }
  const more = list.length > 1 ? ` (+${list.length - 1} more)` : "";
  caption.textContent = `${thumb.recipe} · ${thumb.width}×${thumb.height} · ${size(thumb.bytes)}${more}`;
}

function renderRow(row) {
  const li = document.createElement("li");
  li.className = "stage";
  li.dataset.stage = row.name;
  li.dataset.state = row.state;
  const head = document.createElement("div");
  head.className = "stage-head";
  const name = document.createElement("span");
  name.className = "stage-name";
  name.textContent = row.label;
  const state = document.createElement("span");
  state.className = "stage-state";
  state.textContent = row.state === "dead" ? "dead-lettered" : row.state;
  head.append(name, state);
  if (Number.isFinite(row.at)) {
    const time = document.createElement("time");
    time.dateTime = new Date(row.at).toISOString();
    time.textContent = clock(row.at);
    head.append(time);
  }
  if (Number.isFinite(row.took)) {
    const took = document.createElement("span");
    took.className = "took";
    took.textContent = row.name === "gateway" ? `upload ${duration(row.took)}` : `+${duration(row.took)}`;
    head.append(took);
  }
  li.append(head);
  if (row.detail) {
    const detail = document.createElement("p");
    detail.className = "detail";
    detail.textContent = row.detail;
    li.append(detail);
  }
  return li;
}

function updateEmpty() {
  $("#empty").hidden = entries.size > 0;
  $("#forget-all").hidden = entries.size === 0;
}

/** The entry for `key`, moved to the top of the grid (created when new). */
function entryFor(key, bucket) {
  let entry = entries.get(key);
  if (entry) {
    stop(entry);
    if (entry.preview) URL.revokeObjectURL(entry.preview);
    entry.card.remove();
    entries.delete(key);
  }
  entry = { key, bucket: bucket || null };
  entries.set(key, entry);
  // Newest first: re-insert so the Map's order is the grid's.
  const rest = [...entries.entries()].filter(([k]) => k !== key);
  entries.clear();
  entries.set(key, entry);
  for (const [k, v] of rest) entries.set(k, v);
  $("#grid").prepend(createCard(entry));
  updateEmpty();
  return entry;
}

function forget(key) {
  const entry = entries.get(key);
  if (!entry) return;
  stop(entry);
  if (entry.preview) URL.revokeObjectURL(entry.preview);
  entry.card.remove();
  entries.delete(key);
  saveRemembered();
  updateEmpty();
  say(`Forgot ${key} (the object itself is not deleted).`);
}

// ---------------------------------------------------------------- polling

function stop(entry) {
  clearTimeout(entry.timer);
  entry.timer = null;
  entry.watching = false;
}

/** Poll the entry's status until it settles (or stops changing). */
function watch(entry, userAsked = false) {
  stop(entry);
  entry.watching = true;
  entry.lastChange = Date.now();
  entry.lastText = null;
  if (userAsked) say(`Refreshing ${entry.key}…`);
  poll(entry);
}

async function poll(entry) {
  if (!entry.watching) return;
  let delay = POLL_MS;
  try {
    const response = await fetch(statusUrl(entry.key, entry.bucket), { cache: "no-store" });
    if (!entry.watching) return;
    if (response.status === 404) {
      // The gateway records its stage before it answers an upload, so no
      // status means no upload under this key (or a store that was reset).
      entry.missing = true;
      saveRemembered();
      entry.card.dataset.state = "missing";
      const error = $(".error", entry.card);
      error.hidden = false;
      error.textContent = `No status for ${entry.key}: nothing was uploaded under this key${entry.bucket ? ` in bucket ${entry.bucket}` : ""}.`;
      $(".badge", entry.card).textContent = "not found";
      stop(entry);
      return;
    } else if (!response.ok) {
      throw new Error(`GET status answered ${response.status}`);
    } else {
      const text = await response.text();
      if (text !== entry.lastText) {
        entry.lastText = text;
        entry.lastChange = Date.now();
        entry.status = JSON.parse(text);
        if (!entry.bucket && entry.status.bucket) entry.bucket = entry.status.bucket;
      }
    }
  } catch (e) {
    delay = POLL_MS * 4; // gateway unreachable: keep trying, more slowly
    say(`Could not read the status of ${entry.key}: ${e.message}`);
  }
  const view = render(entry);
  if (view.settled) {
    stop(entry);
    return;
  }
  if (Date.now() - entry.lastChange > IDLE_STOP_MS) {
    stop(entry);
    $(".total", entry.card).textContent = "No change for 2 minutes: stopped watching. Refresh to look again.";
    return;
  }
  entry.timer = setTimeout(() => poll(entry), delay);
}

// ---------------------------------------------------------------- uploads

async function upload(file) {
  const key = keyForFile(file);
  const entry = entryFor(key, null);
  entry.preview = URL.createObjectURL(file);
  entry.uploading = true;
  render(entry);
  const headers = { "Content-Type": file.type || "application/octet-stream" };
  const secret = token();
  if (secret) headers.Authorization = `Bearer ${secret}`;
  const started = performance.now();
  try {
    const response = await fetch(`/objects/${encodeKey(key)}`, { method: "PUT", headers, body: file });
    entry.uploadMs = performance.now() - started;
    const body = await response.json().catch(() => ({}));
    if (!response.ok) {
      let reason = body.error || response.statusText || "no reason given";
      if (response.status === 401) reason += " (enter the API token above and upload again)";
      entry.uploadError = `${response.status}: ${reason}`;
    } else {
      entry.stored = true;
      entry.bucket = body.bucket || null;
    }
  } catch (e) {
    entry.uploadMs = performance.now() - started;
    entry.uploadError = `gateway unreachable: ${e.message}`;
  }
  entry.uploading = false;
  saveRemembered();
  if (entry.uploadError) {
    render(entry);
    return false;
  }
  watch(entry);
  return true;
}

async function uploadAll(files) {
  const list = [...files];
  if (list.length === 0) return;
  say(`Uploading ${list.length} file${list.length === 1 ? "" : "s"}…`);
  let next = 0;
  let failed = 0;
  const worker = async () => {
    while (next < list.length) {
      const file = list[next++];
      if (!(await upload(file))) failed += 1;
    }
  };
  await Promise.all(Array.from({ length: Math.min(UPLOAD_CONCURRENCY, list.length) }, worker));
  say(
    failed === 0
      ? `Uploaded ${list.length} file${list.length === 1 ? "" : "s"}.`
      : `Uploaded ${list.length - failed} of ${list.length}; ${failed} refused (see the marked cards).`,
  );
}

// ---------------------------------------------------------------- wiring

function setUp() {
  const input = $("#files");
  input.addEventListener("change", () => {
    uploadAll(input.files).finally(() => {
      input.value = "";
    });
  });

  const drop = $("#drop");
  let depth = 0;
  const hasFiles = (event) => event.dataTransfer && [...event.dataTransfer.types].includes("Files");
  document.addEventListener("dragenter", (event) => {
    if (!hasFiles(event)) return;
    depth += 1;
    drop.classList.add("dragging");
  });
  document.addEventListener("dragleave", () => {
    depth = Math.max(0, depth - 1);
    if (depth === 0) drop.classList.remove("dragging");
  });
  document.addEventListener("dragover", (event) => {
    if (!hasFiles(event)) return;
    event.preventDefault(); // allow dropping anywhere on the page
    event.dataTransfer.dropEffect = "copy";
  });
  document.addEventListener("drop", (event) => {
    if (!hasFiles(event)) return;
    event.preventDefault();
    depth = 0;
    drop.classList.remove("dragging");
    uploadAll(event.dataTransfer.files);
  });

  $("#lookup").addEventListener("submit", (event) => {
    event.preventDefault();
    const field = $("#lookup-key");
    const key = field.value.trim().replace(/^\/+/, "");
    if (!key) return;
    const entry = entryFor(key, null);
    saveRemembered();
    watch(entry);
    field.value = "";
    say(`Looking up ${key}…`);
  });

  const tokenField = $("#token");
  tokenField.value = token();
  $("#token-form").addEventListener("submit", (event) => {
    event.preventDefault();
    storageSet(STORE_TOKEN, tokenField.value.trim() || null);
    say(tokenField.value.trim() ? "Token saved in this browser." : "Token cleared.");
  });
  $("#token-clear").addEventListener("click", () => {
    tokenField.value = "";
    storageSet(STORE_TOKEN, null);
    say("Token cleared.");
  });

  $("#forget-all").addEventListener("click", () => {
    for (const key of [...entries.keys()]) forget(key);
    say("Forgot every object (the objects themselves are not deleted).");
  });

  // Objects remembered from earlier visits, oldest first so the newest ends on top.
  for (const { key, bucket } of remembered().reverse()) {
    watch(entryFor(key, bucket));
  }
  updateEmpty();
}

setUp();
