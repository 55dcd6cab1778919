// The staff dashboard: live figures from server-sent events, headcount forms.
//
// The page arrives complete from the server; this script keeps it current. EventSource
// reconnects by itself; after every (re)connection the whole day is fetched again from
// /api/staff/today, so nothing missed while disconnected stays wrong. The day is also re-read
// every minute and whenever an event names a session the page does not show: sessions are
// created by the command line too (another process, no event), and new ones are added to the
// list in place, without disturbing a card a person is typing in.

const config = JSON.parse(document.getElementById("kohtaamo-config").textContent);
const messages = config.messages;
// A plural message is {one: ..., other: ...}: params.count picks the form (Intl.PluralRules).
const plural = (text, params) =>
  typeof text === "string" ? text : (text[new Intl.PluralRules(config.lang).select(Number(params.count))] ?? text.other);
const t = (id, params = {}) =>
  plural(messages[id] ?? messages["error.generic"] ?? id, params).replace(/\{(\w+)\}/g, (whole, name) =>
    name in params ? String(params[name]) : whole,
  );
const $ = (id) => document.getElementById(id);
const langQuery = new URLSearchParams({ lang: config.lang });

const liveState = $("live-state");
const announcer = $("dash-announcer");
const announceToggle = $("announce-changes");
const changedNotice = $("dash-changed");
const sessionList = $("dash-sessions");
const emptyNote = $("dash-empty");

// -- showing figures ---------------------------------------------------------------------------
function phaseLabel(session) {
  return t(session.live ? "dash.phase.live" : `dash.phase.${session.phase}`);
}

function setText(element, value) {
  const text = String(value);
  if (element && element.textContent !== text) element.textContent = text;
}

/** Put a session's figures on its card; returns false when the card is not on the page. */
function showSession(session) {
  const card = document.getElementById(`session-${session.id}`);
  if (!card) return false;
  card.dataset.phase = session.phase;
  for (const field of ["in_person", "online_now", "total"]) {
    setText(card.querySelector(`[data-field="${field}"]`), session[field]);
  }
  setText(card.querySelector('[data-field="phase"]'), phaseLabel(session));
  for (const venue of session.venues ?? []) {
    const form = card.querySelector(`form[data-venue="${CSS.escape(venue.slug)}"]`);
    const input = form?.querySelector("input[name=count]");
    // Never overwrite what a person is typing or is about to save.
    if (!input || document.activeElement === input || form.dataset.dirty === "true") continue;
    input.value = venue.count ?? "";
  }
  return true;
}

// -- polite announcements ----------------------------------------------------------------------
// Changes are gathered and spoken once things have been quiet for a moment, one sentence per
// session, so a burst of joins does not flood a screen reader.
const ANNOUNCE_AFTER_MS = 2500;
const pendingAnnouncements = new Map(); // key -> sentence, in the order first queued
let announceTimer = null;

function queueSentence(key, sentence) {
  if (!announceToggle.checked) return;
  pendingAnnouncements.set(key, sentence);
  clearTimeout(announceTimer);
  announceTimer = setTimeout(() => {
    announcer.textContent = [...pendingAnnouncements.values()].join(" ");
    pendingAnnouncements.clear();
  }, ANNOUNCE_AFTER_MS);
}

function queueAnnouncement(session) {
  queueSentence(
    session.id,
    t("dash.announce", {
      title: session.title,
      in_person: session.in_person,
      online_now: session.online_now,
      total: session.total,
    }),
  );
}

// -- the day's list ----------------------------------------------------------------------------
function cards() {
  return [...sessionList.querySelectorAll(".dash-session")];
}

/** Whether a person is at work in this card: focus inside it, or a count typed but not saved. */
function inUse(card) {
  return card.contains(document.activeElement) || card.querySelector('form[data-dirty="true"]') !== null;
}

/** The cards of these sessions, rendered by the server from the page's own template. */
async function fetchCards(ids) {
  const query = new URLSearchParams({ lang: config.lang });
  for (const id of ids) query.append("id", id);
  const response = await fetch(`/staff/dashboard/cards?${query}`, { credentials: "same-origin" });
  if (!response.ok) return new Map();
  const template = document.createElement("template");
  template.innerHTML = await response.text();
  return new Map(
    [...template.content.querySelectorAll(".dash-session")].map((card) => [card.dataset.sessionId, card]),
  );
}

/** Add new sessions in the day's order and drop vanished ones; existing cards never move
 * (moving a node would take the focus from a person typing in it). */
async function mergeSessions(sessions) {
  const present = new Map(cards().map((card) => [card.dataset.sessionId, card]));
  const wanted = new Set(sessions.map((s) => s.id));
  const missing = sessions.filter((s) => !present.has(s.id));
  const fresh = missing.length ? await fetchCards(missing.map((s) => s.id)) : new Map();
  let previous = null;
  for (const session of sessions) {
    let card = document.getElementById(`session-${session.id}`);
    if (!card && fresh.has(session.id)) {
      card = fresh.get(session.id);
      if (previous) previous.after(card);
      else sessionList.prepend(card);
      for (const form of card.querySelectorAll(".headcount-form")) wireForm(form);
      queueSentence(`added:${session.id}`, t("dash.announce_added", { title: session.title, time: session.time_label }));
    }
    if (card) {
      showSession(session);
      previous = card;
    }
  }
  for (const [id, card] of present) {
    // A card someone is typing in stays until they are done; the next refresh takes it.
    if (wanted.has(id) || inUse(card)) continue;
    const title = card.querySelector('[data-field="title"]')?.textContent ?? "";
    card.remove();
    queueSentence(`removed:${id}`, t("dash.announce_removed", { title }));
  }
  emptyNote.hidden = cards().length > 0;
}

async function loadToday() {
  const response = await fetch(`/api/staff/today?${langQuery}`, { credentials: "same-origin" });
  if (response.status === 401) {
    window.location.assign(`/staff/login?next=${encodeURIComponent(location.pathname + location.search)}`);
    return;
  }
  if (!response.ok) return;
  const data = await response.json();
  if (data.date !== config.date) {
    // Another day: its heading and list are the reload's job, not a merge's.
    changedNotice.hidden = false;
    for (const session of data.sessions) showSession(session);
    return;
  }
  await mergeSessions(data.sessions);
  window.kohtaamoRefreshes = (window.kohtaamoRefreshes ?? 0) + 1; // for the browser tests
}

// One re-read at a time; asks made meanwhile are served by a single further one.
let refreshing = null;
let refreshAgain = false;

function refreshToday() {
  if (refreshing) {
    refreshAgain = true;
    return refreshing;
  }
  refreshing = loadToday().finally(() => {
    refreshing = null;
    if (refreshAgain) {
      refreshAgain = false;
      refreshToday().catch(() => {});
    }
  });
  return refreshing;
}

// -- the event stream --------------------------------------------------------------------------
function setLiveState(state) {
  liveState.dataset.state = state;
  setText(liveState, t(state === "on" ? "dash.live_on" : state === "lost" ? "dash.live_lost" : "dash.live_connecting"));
}

function connect() {
  const source = new EventSource(`/api/staff/events?${langQuery}`);
  source.addEventListener("open", () => {
    setLiveState("on");
    refreshToday().catch(() => {});
  });
  source.addEventListener("error", () => {
    // EventSource retries by itself unless the server refused it outright (e.g. 401).
    setLiveState("lost");
    if (source.readyState === EventSource.CLOSED) {
      setTimeout(() => {
        refreshToday()
          .catch(() => {})
          .finally(connect);
      }, 5000);
    }
  });
  source.addEventListener("attendance", (event) => {
    const session = JSON.parse(event.data);
    if (showSession(session)) {
      queueAnnouncement(session);
    } else if (session.today) {
      refreshToday().catch(() => {}); // a session this page has not seen yet
    }
  });
  window.kohtaamoEvents = source; // for the browser tests and for support staff
}

// -- headcount forms ---------------------------------------------------------------------------
function parseCount(text) {
  const trimmed = text.trim();
  return /^\d+$/.test(trimmed) ? Number.parseInt(trimmed, 10) : /^-\d+$/.test(trimmed) ? -1 : null;
}

function validate(form, input) {
  const count = parseCount(input.value);
  const capacity = form.dataset.capacity ? Number(form.dataset.capacity) : null;
  if (count === null) return { error: t("dash.error.whole") };
  if (count < 0) return { error: t("dash.error.negative") };
  if (capacity !== null && count > capacity) return { error: t("dash.error.capacity", { count: capacity }) };
  if (count > 5000) return { error: t("dash.error.absurd") };
  return { count };
}

function showError(form, input, text) {
  const error = form.querySelector(".field-error");
  error.textContent = text;
  input.setAttribute("aria-invalid", text ? "true" : "false");
  if (!text) input.removeAttribute("aria-invalid");
}

function serverError(body, status) {
  const code = body?.error?.code;
  if (code === "headcount_wrong_venue") return t("dash.error.wrong_venue");
  if (code === "csrf_failed") return t("dash.error.csrf");
  if (code === "login_required" || status === 401) return t("dash.error.login");
  if (code === "headcount_invalid") {
    const message = body.error.message ?? "";
    if (/negative/.test(message)) return t("dash.error.negative");
    if (/capacity of (\d+)/.test(message)) {
      return t("dash.error.capacity", { count: message.match(/capacity of (\d+)/)[1] });
    }
    if (/believable/.test(message)) return t("dash.error.absurd");
    return t("dash.error.whole");
  }
  return t("error.generic");
}

async function save(form) {
  const input = form.querySelector("input[name=count]");
  const status = form.querySelector(".field-status");
  const checked = validate(form, input);
  if (checked.error) {
    showError(form, input, checked.error);
    status.textContent = "";
    return;
  }
  showError(form, input, "");
  if (form.dataset.busy === "true") {
    form.dataset.again = "true"; // save the newest value when this request is done
    return;
  }
  form.dataset.busy = "true";
  status.textContent = t("dash.saving");
  const venueName = form.dataset.venueName;
  try {
    const response = await fetch(`/api/sessions/${encodeURIComponent(form.dataset.sessionId)}/headcount`, {
      method: "POST",
      credentials: "same-origin",
      headers: { "Content-Type": "application/json", "X-CSRF-Token": config.csrf_token },
      body: JSON.stringify({ venue: form.dataset.venue, count: checked.count }),
    });
    const body = await response.json().catch(() => null);
    if (response.ok) {
      form.dataset.dirty = "false";
      status.textContent = t("dash.saved", { venue: venueName, count: checked.count });
      const card = document.getElementById(`session-${form.dataset.sessionId}`);
      // The event stream brings the same figures; this only saves a round trip's wait.
      if (card && typeof body?.in_person === "number") {
        setText(card.querySelector('[data-field="in_person"]'), body.in_person);
      }
    } else {
      status.textContent = "";
      showError(form, input, serverError(body, response.status));
    }
  } catch {
    status.textContent = "";
    showError(form, input, t("dash.error.network"));
  } finally {
    form.dataset.busy = "false";
    if (form.dataset.again === "true") {
      form.dataset.again = "false";
      save(form);
    }
  }
}

const STEP_SAVE_AFTER_MS = 700;

/** Give a headcount form its save, typing and −/+ behaviour (once). */
function wireForm(form) {
  if (form.dataset.wired === "true") return;
  form.dataset.wired = "true";
  const input = form.querySelector("input[name=count]");
  let stepTimer = null;
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    clearTimeout(stepTimer);
    save(form);
  });
  input.addEventListener("input", () => {
    form.dataset.dirty = "true";
    if (input.getAttribute("aria-invalid")) showError(form, input, "");
  });
  for (const button of form.querySelectorAll("button[data-step]")) {
    button.addEventListener("click", () => {
      const current = parseCount(input.value) ?? 0;
      input.value = String(Math.max(0, current + Number(button.dataset.step)));
      form.dataset.dirty = "true";
      showError(form, input, "");
      // Several quick presses are saved once, with the final number.
      clearTimeout(stepTimer);
      stepTimer = setTimeout(() => save(form), STEP_SAVE_AFTER_MS);
    });
  }
}

for (const form of document.querySelectorAll(".headcount-form")) wireForm(form);

// Phases (upcoming → live → ended) change with the clock, and sessions created by the command
// line send no event: re-read the day every refresh_seconds (60 s; /staff?refresh=N).
setInterval(() => refreshToday().catch(() => {}), (config.refresh_seconds ?? 60) * 1000);
setLiveState("connecting");
connect();
