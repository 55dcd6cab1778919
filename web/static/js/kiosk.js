// The kiosk page: a room's screen that nobody operates. It shows today's programme, joins
// the session held in or shown in its room a few minutes before the start, leaves at the
// end, shows the smileys, and recovers by itself from network loss, server restarts and
// sleep. Room staff use the big +/- buttons for the in-person headcount.

import { Call, readConfig, translator } from "./call.js";
import { bindRecording } from "./recording.js";
import {
  DEVICE_ERRORS,
  DEVICE_VIEWS,
  REFUSED_RETRY_MS,
  SCHEDULE_EVERY_MS,
  WakeLock,
  deviceFetch,
  goFullscreen,
  isRefusal,
  refusalKey,
  takeDeviceToken,
  timeFormatter,
} from "./device.js";
import { Stage } from "./stage.js";
import { offerSurvey } from "./survey.js";
import { announcer, showView } from "./ui.js";

const config = readConfig();
const t = translator(config.messages);
const $ = (id) => document.getElementById(id);
const format = timeFormatter(config.lang);

const OFFLINE_BACKOFF_MS = [2000, 5000, 10000, 20000, 30000, 60000];
const RETRY_FAILED_JOIN_MS = 30_000;
const HEADCOUNT_DEBOUNCE_MS = 800;
const SLEEP_GAP_MS = 20_000; // a tick this late means the machine slept
// Placements the kiosk joins by itself; "venue" (a kiosk without a room) only lists them.
const AUTO_JOIN = new Set(["host-room", "receiving-room"]);

const views = DEVICE_VIEWS.map($);
const announce = announcer($("status"), t);
const wakeLock = new WakeLock();
const stage = new Stage({ stage: $("stage"), waiting: $("waiting"), soundButton: $("sound-button"), t, labelFor });

// Everything the page knows; also what the browser tests and support staff look at.
const kiosk = {
  token: takeDeviceToken(),
  mode: "starting",
  device: null,
  sessions: [],
  skewMs: 0,
  current: null, // {item, call, joined, publishing}
  joins: 0,
  finished: new Set(),
  retryAt: new Map(),
  offline: 0,
  survey: null,
  refusal: null,
};
window.kohtaamoKiosk = kiosk;

function now() {
  return Date.now() + kiosk.skewMs;
}

function show(id, focusId) {
  kiosk.mode = id;
  showView(views, id, focusId ? $(focusId) : null);
  document.body.classList.toggle("in-call", id === "call");
}

function labelFor(participant) {
  const person = kiosk.current?.call.roster?.participants?.find((p) => p.id === participant);
  if (participant == null || person?.role === "host") {
    return t(kiosk.current?.item.mode === "group" ? "call.leader" : "call.presenter");
  }
  return t("call.participant", { n: participant });
}

// -- the schedule ------------------------------------------------------------------------------
let scheduleTimer = null;

function scheduleRefresh(delay) {
  clearTimeout(scheduleTimer);
  scheduleTimer = setTimeout(refreshSchedule, delay);
}

async function refreshSchedule() {
  clearTimeout(scheduleTimer);
  const { status, data } = await deviceFetch(kiosk.token, "/api/device/schedule?days=1");
  if (status === 200 && data) {
    if (kiosk.offline && !kiosk.current) $("status").textContent = "";
    kiosk.offline = 0;
    kiosk.device = data.device;
    kiosk.sessions = data.sessions || [];
    const serverNow = Date.parse(data.now);
    if (!Number.isNaN(serverNow)) kiosk.skewMs = serverNow - Date.now();
    if (kiosk.mode === "refused" || kiosk.mode === "starting") show("programme");
    kiosk.refusal = null;
    renderProgramme();
    tick();
    scheduleRefresh(SCHEDULE_EVERY_MS);
  } else if (isRefusal(status)) {
    refuse(data?.error?.code || "device_token_invalid");
  } else {
    // Network down or server restarting: keep the programme we have, try again soon.
    const delay = OFFLINE_BACKOFF_MS[Math.min(kiosk.offline, OFFLINE_BACKOFF_MS.length - 1)];
    kiosk.offline += 1;
    if (kiosk.mode === "starting") show("programme");
    if (!kiosk.current) announce("kiosk.offline");
    scheduleRefresh(delay);
  }
}

function refuse(code) {
  kiosk.refusal = code;
  if (kiosk.current) {
    kiosk.current.call.stop();
    stage.clear();
    kiosk.current = null;
  }
  closeSurvey();
  wakeLock.release();
  $("refused-reason").textContent = t(refusalKey(code));
  if (kiosk.mode !== "refused") show("refused", "refused-heading");
  scheduleRefresh(REFUSED_RETRY_MS);
}

function renderProgramme() {
  const device = kiosk.device;
  $("place").textContent = device ? [device.venue_name, device.room_name].filter(Boolean).join(" · ") : "";
  const list = $("sessions");
  list.replaceChildren();
  for (const item of kiosk.sessions) {
    const li = document.createElement("li");
    li.className = "programme-item";
    li.dataset.sessionId = item.id;
    const when = document.createElement("span");
    when.className = "programme-time";
    when.textContent = `${format.time(item.starts_at)}–${format.time(item.ends_at)}`;
    const title = document.createElement("span");
    title.className = "programme-title";
    title.textContent = item.title;
    const where = document.createElement("span");
    where.className = "programme-place";
    where.textContent = t(`kiosk.placement.${item.placement}`);
    li.append(when, title, where);
    if (kiosk.current?.item.id === item.id) li.setAttribute("aria-current", "true");
    list.append(li);
  }
  $("no-sessions").hidden = kiosk.sessions.length > 0;
  const next = kiosk.sessions.find(
    (s) => AUTO_JOIN.has(s.placement) && Date.parse(s.ends_at) > now() && !kiosk.finished.has(s.id),
  );
  const joinsAt = next ? format.time(Date.parse(next.starts_at) - config.lead_seconds * 1000) : "";
  $("next-up").textContent = next
    ? `${t("kiosk.next", { title: next.title })}\n${t("kiosk.joins_at", { time: joinsAt })}`
    : "";
}

// -- the clock: join, leave ---------------------------------------------------------------------
let lastTick = Date.now();

function tick() {
  const wall = Date.now();
  const slept = wall - lastTick > SLEEP_GAP_MS;
  lastTick = wall;
  $("clock").textContent = format.time(now());
  if (slept) wokeUp();
  if (!kiosk.token || kiosk.refusal) return;
  const current = kiosk.current;
  if (current && now() >= Date.parse(current.item.ends_at)) {
    finish("end");
    return;
  }
  const lead = config.lead_seconds * 1000;
  const target = kiosk.sessions.find(
    (s) =>
      AUTO_JOIN.has(s.placement) &&
      !kiosk.finished.has(s.id) &&
      now() >= Date.parse(s.starts_at) - lead &&
      now() < Date.parse(s.ends_at) &&
      !((kiosk.retryAt.get(s.id) ?? 0) > now()),
  );
  if (current && target && target.id !== current.item.id && !current.joined) {
    // Still trying to join one that is not the first due: move on to the right one.
    finish("switch");
  }
  if (!kiosk.current && target) join(target);
}

function wokeUp() {
  // Timers stood still while the machine slept: the socket is probably dead without
  // knowing it. Close it so the call reconnects now, and fetch the schedule again.
  const call = kiosk.current?.call;
  if (call?.ws) call.ws.close();
  refreshSchedule();
}

function join(item) {
  closeSurvey();
  const call = new Call({
    join: { session: item.id, device_token: kiosk.token },
    channel: kiosk.device?.kind === "room-link" ? "room-link" : "kiosk",
    sessionId: item.id,
  });
  bindRecording(call, t);
  const current = { item, call, joined: false, publishing: false };
  kiosk.current = current;
  $("call-heading").textContent = item.title;
  $("waiting").textContent = t(item.mode === "group" ? "call.waiting_group" : "call.waiting");
  setupHeadcount(item);
  show("call");
  announce("kiosk.joining", { title: item.title });
  goFullscreen();
  wakeLock.acquire();

  call.addEventListener("status", (event) => {
    const key = event.detail.key;
    const code = key.startsWith("error.") ? key.slice(6) : null;
    if (code && DEVICE_ERRORS.has(code)) {
      refuse(code);
      return;
    }
    if (code === "device_not_allowed") {
      // The schedule changed under us (the room was moved): stop and look again.
      retryLater(item.id);
      return;
    }
    announce(key, event.detail.params);
  });
  call.addEventListener("joined", () => {
    current.joined = true;
    kiosk.joins += 1;
    sendHeartbeat();
  });
  call.addEventListener("joined", (event) => maybePublish(current, event.detail), { once: true });
  call.addEventListener("remotes", (event) => stage.update(event.detail.remotes, call.roster));
  call.addEventListener("ended", () => {
    if (kiosk.current === current) finish("ended");
  });
  call.addEventListener("failed", (event) => {
    if (kiosk.current !== current) return;
    const code = event.detail.code;
    if (DEVICE_ERRORS.has(code)) refuse(code);
    else retryLater(item.id);
  });
  call.start();
  renderProgramme();
  sendHeartbeat();
}

function retryLater(sessionId) {
  if (kiosk.current) {
    kiosk.current.call.stop();
    kiosk.current = null;
  }
  stage.clear();
  wakeLock.release();
  kiosk.retryAt.set(sessionId, now() + RETRY_FAILED_JOIN_MS);
  show("programme");
  renderProgramme();
}

// In its own room a kiosk of a group session sends the room's camera and microphone, so
// the people online see and hear the room (?camera=0 turns that off).
async function maybePublish(current, joined) {
  if (!joined.may_publish || current.item.placement !== "host-room" || !config.publish_room) return;
  try {
    const stream = await navigator.mediaDevices.getUserMedia({
      audio: { echoCancellation: true, noiseSuppression: true },
      video: { width: { ideal: 1280 }, height: { ideal: 720 }, frameRate: { ideal: 24 } },
    });
    if (kiosk.current !== current) {
      for (const track of stream.getTracks()) track.stop();
      return;
    }
    current.call.addLocal({ audio: stream.getAudioTracks()[0], camera: stream.getVideoTracks()[0] });
    current.publishing = true;
    $("self-view").srcObject = new MediaStream(stream.getVideoTracks());
    $("self-view").hidden = false;
  } catch (error) {
    announce("status.media_denied");
  }
}

function finish(reason) {
  const current = kiosk.current;
  if (!current) return;
  kiosk.current = null;
  if (reason === "switch") current.call.stop();
  else current.call.leave();
  stage.clear();
  $("self-view").srcObject = null;
  $("self-view").hidden = true;
  wakeLock.release();
  if (reason === "switch") return;
  kiosk.finished.add(current.item.id);
  sendHeartbeat();
  if (!current.joined) {
    show("programme");
    renderProgramme();
    return;
  }
  show("after", "after-heading");
  announce("status.ended");
  kiosk.survey = offerSurvey({
    parent: $("survey-slot"),
    sessionId: current.item.id,
    channel: current.call.channel,
    deviceToken: kiosk.token,
    t,
    focus: true,
    dismissAfterMs: config.survey_seconds * 1000,
    onDone: (why) => {
      if (why === "answered") return; // a kiosk keeps the smileys up for the next person
      kiosk.survey = null;
      if (kiosk.mode === "after") {
        show("programme");
        renderProgramme();
      }
    },
  });
}

function closeSurvey() {
  const survey = kiosk.survey;
  kiosk.survey = null;
  if (survey) survey.close();
}

// -- headcount ---------------------------------------------------------------------------------
const headcount = { venue: null, sessionId: null, timer: null, sent: null };
const field = $("headcount-value");
const feedback = $("headcount-feedback");

function headcountKey() {
  return `kohtaamo:headcount:${headcount.sessionId}:${headcount.venue}`;
}

function setupHeadcount(item) {
  clearTimeout(headcount.timer);
  headcount.venue = item.headcount_venue;
  headcount.sessionId = item.id;
  headcount.sent = null;
  $("headcount").hidden = !item.headcount_venue;
  feedback.textContent = "";
  let value = 0;
  try {
    value = Number(localStorage.getItem(headcountKey()) || 0);
  } catch (error) {
    value = 0;
  }
  field.value = String(Number.isInteger(value) && value >= 0 ? value : 0);
}

function readField() {
  const value = Number(field.value);
  return Number.isInteger(value) && value >= 0 ? value : null;
}

function step(delta) {
  const value = Math.max(0, (readField() ?? 0) + delta);
  field.value = String(value);
  feedback.textContent = t("kiosk.headcount_saving");
  clearTimeout(headcount.timer);
  // Several quick presses become one recorded count, not one audit row per press.
  headcount.timer = setTimeout(() => saveHeadcount(), HEADCOUNT_DEBOUNCE_MS);
}

// The server's own message is for developers (English); the room is told in its language.
function headcountRefusal(status) {
  if (status === 0) return t("kiosk.headcount_offline");
  if (status === 409) return t("kiosk.headcount_not_now");
  if (status === 400) return t("kiosk.headcount_too_many");
  return t("kiosk.headcount_refused");
}

async function saveHeadcount() {
  clearTimeout(headcount.timer);
  const count = readField();
  if (count === null || !headcount.venue) {
    feedback.textContent = t("kiosk.headcount_failed", { reason: t("kiosk.headcount_invalid") });
    return;
  }
  const sessionId = headcount.sessionId;
  feedback.textContent = t("kiosk.headcount_saving");
  const { status, data } = await deviceFetch(
    kiosk.token,
    `/api/sessions/${encodeURIComponent(sessionId)}/headcount`,
    { method: "POST", body: { venue: headcount.venue, count } },
  );
  if (sessionId !== headcount.sessionId) return;
  if (status === 201) {
    headcount.sent = count;
    try {
      localStorage.setItem(headcountKey(), String(count));
    } catch (error) {
      /* the count is on the server anyway */
    }
    feedback.dataset.state = "saved";
    feedback.textContent = t("kiosk.headcount_saved", { count: data.headcount.count });
  } else {
    feedback.dataset.state = "error";
    feedback.textContent = t("kiosk.headcount_failed", { reason: headcountRefusal(status) });
    if (isRefusal(status) && DEVICE_ERRORS.has(data?.error?.code)) refuse(data.error.code);
  }
}

$("headcount-minus").addEventListener("click", () => step(-1));
$("headcount-plus").addEventListener("click", () => step(1));
$("headcount").addEventListener("submit", (event) => {
  event.preventDefault();
  saveHeadcount();
});

// -- heartbeat ---------------------------------------------------------------------------------
function deviceState() {
  const current = kiosk.current;
  if (current) {
    if (!current.joined || current.call.reconnecting) return ["joining", current.item.id];
    return [current.publishing ? "publishing" : "playing", current.item.id];
  }
  if (kiosk.offline) return ["error", null];
  const upcoming = kiosk.sessions.some((s) => AUTO_JOIN.has(s.placement) && Date.parse(s.ends_at) > now());
  return [upcoming ? "waiting" : "idle", null];
}

async function sendHeartbeat() {
  if (!kiosk.token || kiosk.refusal) return;
  const [state, sessionId] = deviceState();
  const detail = kiosk.current?.call.reconnecting ? "reconnecting" : null;
  const { status, data } = await deviceFetch(kiosk.token, "/api/device/heartbeat", {
    method: "POST",
    body: { state, session_id: sessionId, detail },
  });
  if (isRefusal(status)) refuse(data?.error?.code || "device_token_invalid");
}

// -- start ---------------------------------------------------------------------------------------
function hurry() {
  // Back online or awake: do not wait for the backoff timers.
  refreshSchedule();
  const call = kiosk.current?.call;
  if (call && call.reconnecting && !call.ws && !call.stopped) {
    clearTimeout(call.reconnectTimer);
    call.connect();
  }
}

$("fullscreen-button").addEventListener("click", () => goFullscreen());

// The page's shell stays available when the server is not (see kiosk-sw.js).
if ("serviceWorker" in navigator) {
  navigator.serviceWorker.register("/kiosk-sw.js", { scope: "/kiosk" }).catch(() => {});
}

if (!kiosk.token) {
  show("not-enrolled", "not-enrolled-heading");
} else {
  show("programme");
  refreshSchedule();
  setInterval(tick, 1000);
  setInterval(sendHeartbeat, config.heartbeat_seconds * 1000);
  sendHeartbeat();
  window.addEventListener("online", hurry);
  document.addEventListener("visibilitychange", () => {
    if (document.visibilityState === "visible") hurry();
  });
  // Closing or reloading the page: say goodbye so the device's interval closes at once.
  window.addEventListener("pagehide", () => kiosk.current?.call.leave());
}
