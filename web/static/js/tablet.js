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
    if (participant == null || person?.role === "host") return t("call.presenter");
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

function renderCards() {
  const list = $("sessions");
  list.replaceChildren();
  const today = format.dayKey(Date.now());
  const current = tablet.sessions.filter((item) => item.phase !== "ended");
  for (const item of current) {
    const li = document.createElement("li");
    li.className = "card";
    li.dataset.sessionId = item.id;
    const day = format.dayKey(item.starts_at) === today ? t("tablet.today") : format.day(item.starts_at);
    const when = `${day} ${format.time(item.starts_at)}–${format.time(item.ends_at)}`;
    const button = document.createElement("button");
    button.type = "button";
    button.className = "card-button";
    button.setAttribute("aria-label", t("tablet.join_label", { title: item.title, when }));
    const title = document.createElement("span");
    title.className = "card-title";
    title.textContent = item.title;
    const time = document.createElement("span");
    time.className = "card-when";
    time.textContent = when;
    const state = document.createElement("span");
    state.className = "card-state";
    const canJoin = item.phase === "open";
    state.textContent = item.live ? t("tablet.live") : canJoin ? t("tablet.open") : t("tablet.not_yet");
    const badge = document.createElement("span");
    badge.className = "card-badge";
    badge.textContent = item.placement === "invited" ? t("kiosk.placement.invited") : item.venue_name;
    const action = document.createElement("span");
    action.className = "card-action";
    action.setAttribute("aria-hidden", "true");
    action.textContent = t("tablet.join");
    action.hidden = !canJoin;
    button.append(title, time, badge, state, action);
    button.disabled = !canJoin;
    button.addEventListener("click", () => join(item));
    li.append(button);
    list.append(li);
  }
  $("no-sessions").hidden = current.length > 0;
}

// -- the call ------------------------------------------------------------------------------------
function resetControls() {
  resetMediaButtons(micButton, cameraButton, selfView, t);
}

function join(item) {
  const audioOnly = tablet.settings.audioOnly;
  const joinFields = { session: item.id, device_token: tablet.token };
  if (audioOnly) joinFields.tier = "audio"; // the server then sends no video at all
  const call = new Call({ join: joinFields, channel: "tablet", sessionId: item.id });
  bindRecording(call, t);
  tablet.call = call;
  tablet.item = item;
  tablet.audioOnly = audioOnly;
  $("call-heading").textContent = item.title;
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
