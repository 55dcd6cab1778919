// The home-care tablet: this week's sessions as large cards, one tap joins. Camera off
// unless turned on; "sound only" for weak connections. The person is an online participant.

import { Call, readConfig, translator } from "./call.js";
import { bindRecording } from "./recording.js";
import {
  DEVICE_ERRORS,
  DEVICE_VIEWS,
  REFUSED_RETRY_MS,
  SCHEDULE_EVERY_MS,
  WakeLock,
  deviceFetch,
  isRefusal,
  refusalKey,
  takeDeviceToken,
  timeFormatter,
} from "./device.js";
import { Stage } from "./stage.js";
import { offerSurvey } from "./survey.js";
import {
  announcer,
  bindCameraButton,
  bindMicButton,
  resetMediaButtons,
  showModeration,
  showView,
} from "./ui.js";

const config = readConfig();
const t = translator(config.messages);
const $ = (id) => document.getElementById(id);
const format = timeFormatter(config.lang);

const OFFLINE_RETRY_MS = 10_000;
const DOORS_OPEN_MS = 30 * 60 * 1000; // the server opens a session's doors this long before
const SETTINGS_KEY = "kohtaamo:tablet-settings";

const views = DEVICE_VIEWS.map($);
const announce = announcer($("status"), t);
const wakeLock = new WakeLock();
const micButton = $("mic-button");
const cameraButton = $("camera-button");
const selfView = $("self-view");

const tablet = {
  token: takeDeviceToken(),
  mode: "starting",
  sessions: [],
  call: null,
  item: null,
  settings: loadSettings(),
  refusal: null,
};
window.kohtaamoTablet = tablet;

const stage = new Stage({
  stage: $("stage"),
  waiting: $("waiting"),
  soundButton: $("sound-button"),
  t,
  labelFor: (participant) => {
    const person = tablet.call?.roster?.participants?.find((p) => p.id === participant);
    if (participant == null || person?.role === "host") {
      return t(tablet.item?.mode === "group" ? "call.leader" : "call.presenter");
    }
    return t("call.participant", { n: participant });
  },
});

function loadSettings() {
  try {
    const saved = JSON.parse(localStorage.getItem(SETTINGS_KEY) || "{}");
    return { camera: saved.camera === true, audioOnly: saved.audioOnly === true };
  } catch (error) {
    return { camera: false, audioOnly: false };
  }
}

function saveSettings() {
  try {
    localStorage.setItem(SETTINGS_KEY, JSON.stringify(tablet.settings));
  } catch (error) {
    /* the choice lasts for this visit only */
  }
}

function show(id, focusId) {
  tablet.mode = id;
  showView(views, id, focusId ? $(focusId) : null);
  document.body.classList.toggle("in-call", id === "call");
}

// -- switches ----------------------------------------------------------------------------------
function renderSwitch(button, on) {
  button.setAttribute("aria-checked", String(on));
  button.querySelector(".switch-state").textContent = t(on ? "tablet.switch_on" : "tablet.switch_off");
}

function renderSwitches() {
  renderSwitch($("camera-switch"), tablet.settings.camera && !tablet.settings.audioOnly);
  renderSwitch($("audio-only-switch"), tablet.settings.audioOnly);
  $("camera-switch").disabled = tablet.settings.audioOnly; // no picture either way
}

$("camera-switch").addEventListener("click", () => {
  tablet.settings.camera = !tablet.settings.camera;
  saveSettings();
  renderSwitches();
});
$("audio-only-switch").addEventListener("click", () => {
  tablet.settings.audioOnly = !tablet.settings.audioOnly;
  saveSettings();
  renderSwitches();
});

// -- the schedule --------------------------------------------------------------------------------
let scheduleTimer = null;

async function refreshSchedule() {
  clearTimeout(scheduleTimer);
  const { status, data } = await deviceFetch(tablet.token, `/api/device/schedule?days=${config.days}`);
  if (status === 200 && data) {
    tablet.refusal = null;
    tablet.sessions = data.sessions || [];
    if (tablet.mode === "refused" || tablet.mode === "starting") show("programme");
    renderCards();
    scheduleTimer = setTimeout(refreshSchedule, SCHEDULE_EVERY_MS);
  } else if (isRefusal(status)) {
    refuse(data?.error?.code || "device_token_invalid");
    scheduleTimer = setTimeout(refreshSchedule, REFUSED_RETRY_MS);
  } else {
    if (tablet.mode === "starting") show("programme");
    if (!tablet.call) announce("kiosk.offline");
    scheduleTimer = setTimeout(refreshSchedule, OFFLINE_RETRY_MS);
  }
}

function refuse(code) {
  tablet.refusal = code;
  if (tablet.call) {
    tablet.call.stop();
    tablet.call = null;
    stage.clear();
  }
  wakeLock.release();
  $("refused-reason").textContent = t(refusalKey(code));
  if (tablet.mode !== "refused") show("refused", "refused-heading");
}

// The home screen: the tablet's own groups of today first, large; then the join-code field;
// the rest of the programme folded away under one summary.
function isToday(item) {
  return format.dayKey(item.starts_at) === format.dayKey(Date.now());
}

function whenText(item) {
  const day = isToday(item) ? t("tablet.today") : format.day(item.starts_at);
  return `${day} ${format.time(item.starts_at)}–${format.time(item.ends_at)}`;
}

function overran(item) {
  return Date.now() > Date.parse(item.ends_at);
}

function stateText(item) {
  // A cancelled one stays on the screen, with the reason, rather than silently vanishing.
  if (item.status === "cancelled") return t("tablet.cancelled", { reason: item.cancel_reason || "–" });
  // The server keeps a group open for a while after its scheduled end (an overrun).
  if (item.live && overran(item)) return t("tablet.overran", { time: format.time(item.ends_at) });
  if (item.live) return t("tablet.live");
  if (item.phase === "open") return t("tablet.open");
  return t("tablet.not_yet_at", { time: format.time(Date.parse(item.starts_at) - DOORS_OPEN_MS) });
}

/** One session as a card; only a session open now gets a (large) join button. */
function card(item, own) {
  const li = document.createElement("li");
  li.className = own ? "card card-own" : "card";
  li.dataset.sessionId = item.id;
  li.dataset.phase = item.phase;
  li.dataset.status = item.status || "scheduled";
  const title = document.createElement(own ? "h2" : "h3");
  title.className = "card-title";
  title.id = `title-${item.id}`;
  title.textContent = item.title;
  const time = document.createElement("p");
  time.className = "card-when";
  time.textContent = whenText(item);
  const badge = document.createElement("p");
  badge.className = item.placement === "invited" ? "card-badge card-invited" : "card-badge";
  badge.textContent = item.placement === "invited" ? t("tablet.invited") : item.venue_name;
  const state = document.createElement("p");
  state.className = "card-state";
  state.textContent = stateText(item);
  li.append(title, time, badge, state);
  if (item.phase === "open") {
    const button = document.createElement("button");
    button.type = "button";
    button.className = "button card-join";
    button.textContent = t("tablet.join");
    // Several "Liity" buttons: the name says which (it starts with the visible word).
    button.setAttribute("aria-label", t("tablet.join_label", { title: item.title }));
    button.addEventListener("click", () => join(item));
    li.append(button);
  }
  return li;
}

function renderCards() {
  const current = tablet.sessions.filter(
    (item) => item.phase !== "ended" || (item.status === "cancelled" && !overran(item)),
  );
  // Running now first, then the day's next ones; those past their scheduled end last.
  const own = current
    .filter((item) => item.placement === "invited" && isToday(item))
    .sort((a, b) => Number(overran(a)) - Number(overran(b)));
  const later = current.filter((item) => item.placement === "invited" && !isToday(item));
  const rest = current.filter((item) => !own.includes(item));
  $("own-sessions").replaceChildren(...own.map((item) => card(item, true)));
  $("no-own").hidden = own.length > 0;
  const next = later[0];
  $("own-next").hidden = !next;
  $("own-next").textContent = next ? t("tablet.own_next", { title: next.title, when: whenText(next) }) : "";
  $("sessions").replaceChildren(...rest.map((item) => card(item, false)));
  $("no-sessions").hidden = rest.length > 0;
  $("more-label").textContent = t("tablet.more_count", { n: rest.length });
  $("today-label").textContent = format.date(Date.now());
}

// -- a join code (given by a nurse or the library) ----------------------------------------------
function normaliseCode(text) {
  return text.toUpperCase().replace(/[^A-Z0-9]/g, "");
}

$("code-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  const feedback = $("tablet-code-feedback");
  const code = normaliseCode($("tablet-code").value);
  if (!code) {
    feedback.textContent = t("tablet.code_empty");
    $("tablet-code").focus();
    return;
  }
  feedback.textContent = t("tablet.code_checking");
  let response = null;
  try {
    response = await fetch(`/api/join-codes/${encodeURIComponent(code)}`, { cache: "no-store" });
  } catch (error) {
    response = null;
  }
  if (!response) {
    feedback.textContent = t("kiosk.offline");
    return;
  }
  if (response.status === 404) {
    feedback.textContent = t("tablet.code_unknown");
    $("tablet-code").focus();
    return;
  }
  const data = response.ok ? await response.json().catch(() => null) : null;
  const item = data?.session;
  if (!item) {
    feedback.textContent = t("error.generic");
    return;
  }
  if (item.status === "cancelled") {
    feedback.textContent = t("tablet.cancelled", { reason: item.cancel_reason || "–" });
  } else if (item.online === false) {
    feedback.textContent = t("tablet.code_in_person", { title: item.title });
  } else if (item.phase === "ended") {
    feedback.textContent = t("tablet.code_ended", { title: item.title });
  } else if (item.phase !== "open") {
    feedback.textContent = t("tablet.code_not_yet", { title: item.title, when: whenText(item) });
  } else {
    feedback.textContent = "";
    $("tablet-code").value = "";
    join(item, code);
  }
});

// -- the call ------------------------------------------------------------------------------------
function resetControls() {
  resetMediaButtons(micButton, cameraButton, selfView, t);
}

function join(item, code = null) {
  const audioOnly = tablet.settings.audioOnly;
  // With a code the session need not be on this tablet's list (the code is the invitation);
  // the person is still an online participant on channel "tablet".
  const joinFields = code ? { code } : { session: item.id, device_token: tablet.token };
  if (audioOnly) joinFields.tier = "audio"; // the server then sends no video at all
  const call = new Call({ join: joinFields, channel: "tablet", sessionId: item.id });
  bindRecording(call, t);
  tablet.call = call;
  tablet.item = item;
  tablet.audioOnly = audioOnly;
  $("call-heading").textContent = item.title;
  $("waiting").textContent = t(item.mode === "group" ? "call.waiting_group" : "call.waiting");
  $("audio-only-note").hidden = !audioOnly;
  resetControls();
  show("call", "call-heading");
  wakeLock.acquire();

  call.addEventListener("status", (event) => {
    const code = event.detail.key.startsWith("error.") ? event.detail.key.slice(6) : null;
    if (code && DEVICE_ERRORS.has(code)) refuse(code);
    else if (code === "device_not_allowed") {
      // No longer invited (or the session changed): this join cannot work, stop trying.
      call.stop();
      after(event.detail.key, event.detail.key, false);
    } else announce(event.detail.key, event.detail.params);
  });
  call.addEventListener("joined", (event) => {
    const mayPublish = Boolean(event.detail.may_publish);
    micButton.hidden = !mayPublish;
    cameraButton.hidden = !mayPublish || audioOnly;
    if (mayPublish && tablet.settings.camera && !audioOnly && !call.local.camera) startCamera();
  });
  call.addEventListener("remotes", (event) => {
    // Sound only: even if the server still sends video, none is drawn (or decoded into view).
    const remotes = audioOnly ? event.detail.remotes.filter((r) => r.kind === "audio") : event.detail.remotes;
    stage.update(remotes, call.roster);
  });
  showModeration({ call, micButton, cameraButton, selfView, t, announce });
  call.addEventListener("ended", () => after("status.ended", "ended.heading"));
  call.addEventListener("failed", (event) => after(`error.${event.detail.code}`, `error.${event.detail.code}`, false));
  call.start();
}

function after(statusKey, headingKey, survey = true) {
  const call = tablet.call;
  const item = tablet.item;
  tablet.call = null;
  stage.clear();
  resetControls();
  wakeLock.release();
  announce(statusKey);
  $("after-heading").textContent = t(headingKey);
  $("survey-slot").replaceChildren();
  show("after", "after-heading");
  if (survey && call?.joinedInfo && item) {
    offerSurvey({
      parent: $("survey-slot"),
      sessionId: item.id,
      channel: "tablet",
      attendeeKey: call.attendeeKey,
      t,
    });
  }
  refreshSchedule();
}

$("leave-button").addEventListener("click", () => {
  if (!tablet.call) return;
  tablet.call.leave();
  after("status.left", "left.heading");
});
$("back-button").addEventListener("click", () => {
  show("programme", "programme-heading");
  renderCards();
});
// The date in the header stays right past midnight.
setInterval(() => {
  $("today-label").textContent = format.date(Date.now());
}, 60_000);

bindMicButton({ button: micButton, getCall: () => tablet.call, t, announce });
const startCamera = bindCameraButton({
  button: cameraButton,
  selfView,
  getCall: () => tablet.call,
  t,
  announce,
  frameRate: 20,
});

// -- heartbeat and start -------------------------------------------------------------------------
async function sendHeartbeat() {
  if (!tablet.token || tablet.refusal) return;
  // The server keeps only "last seen" for tablets (privacy); the state is for the log.
  const state = tablet.call ? "playing" : "idle";
  const { status, data } = await deviceFetch(tablet.token, "/api/device/heartbeat", {
    method: "POST",
    body: { state, session_id: null, detail: null },
  });
  if (isRefusal(status)) refuse(data?.error?.code || "device_token_invalid");
}

// The page's shell stays available when the server is not (see kiosk-sw.js).
if ("serviceWorker" in navigator) {
  navigator.serviceWorker.register("/kiosk-sw.js", { scope: "/tablet" }).catch(() => {});
}

renderSwitches();
$("today-label").textContent = format.date(Date.now());
if (!tablet.token) {
  show("not-enrolled", "not-enrolled-heading");
} else {
  show("programme");
  refreshSchedule();
  sendHeartbeat();
  setInterval(sendHeartbeat, config.heartbeat_seconds * 1000);
  window.addEventListener("online", () => refreshSchedule());
  document.addEventListener("visibilitychange", () => {
    if (document.visibilityState === "visible" && !tablet.call) refreshSchedule();
  });
  window.addEventListener("pagehide", () => tablet.call?.leave());
}
