// The presenter page: camera and microphone, screen sharing, the online count, ending.

import { Call, readConfig, translator } from "./call.js";
import { bindChat } from "./chat.js";
import { bindRecordButton, bindRecording } from "./recording.js";
import { Stage } from "./stage.js";
import { announcer, bindMicButton, setToggle, showView } from "./ui.js";

const config = readConfig();
const t = translator(config.messages);
const $ = (id) => document.getElementById(id);

const views = ["lobby", "call", "ended", "failed"].map($);
const statusRegion = $("status");
const mediaButton = $("media-button");
const micButton = $("mic-button");
const screenButton = $("screen-button");
const endDialog = $("end-dialog");
const selfView = $("self-view");
const screenView = $("screen-view");
const screenPreview = $("screen-preview");

const call = new Call({
  join: config.join,
  role: "host",
  // The token came in the presenter's link; it is never written into the page.
  token: new URLSearchParams(location.search).get("token"),
  channel: "presenter",
  sessionId: config.session_id,
});
window.kohtaamoCall = call;
// Group sessions have no Record button (they are not recorded); the badge still works.
if ($("record-button")) bindRecordButton(call, $("record-button"), t);
else bindRecording(call, t);

const numbers = new Map();
const stage = new Stage({
  stage: $("stage"),
  waiting: null,
  soundButton: null,
  t,
  labelFor: (participant) => {
    if (!numbers.has(participant)) numbers.set(participant, numbers.size + 1);
    return t("call.participant", { n: numbers.get(participant) });
  },
});

function show(id, focusId) {
  showView(views, id, focusId ? $(focusId) : null);
  // In the studio nothing leads away from the page (a click on the site name would end the
  // broadcast for everyone watching).
  document.body.classList.toggle("in-studio", id === "call");
}

const announce = announcer(statusRegion, t);
bindChat({ call, t, labelFor: (id) => stage.labelFor(id), host: true, announce });

function setButton(button, on, onKey, offKey) {
  setToggle(button, on, t, onKey, offKey);
}

call.addEventListener("status", (event) => announce(event.detail.key, event.detail.params));
call.addEventListener("participants", (event) => {
  $("online-now").textContent = String(event.detail.online_now ?? 0);
  updateRoster(event.detail.participants || []);
});
call.addEventListener("remotes", (event) => stage.update(event.detail.remotes, call.roster));
call.addEventListener("ended", () => {
  stage.clear();
  updateRoster([]);
  announce("status.ended");
  show("ended", "ended-heading");
});
call.addEventListener("failed", (event) => {
  const key = `error.${event.detail.code}`;
  $("failed-heading").textContent = t(key);
  announce(key);
  show("failed", "failed-heading");
});

$("join-button").addEventListener("click", () => {
  show("call", "studio-heading");
  call.start();
});

mediaButton.addEventListener("click", async () => {
  if (mediaButton.dataset.on === "true") {
    call.removeLocal(["audio", "camera"]);
    selfView.srcObject = null;
    $("self-preview").hidden = true;
    setButton(mediaButton, false, "host.start_media", "host.stop_media");
    micButton.hidden = true;
    announce("status.camera_off");
    return;
  }
  mediaButton.disabled = true;
  try {
    const stream = await navigator.mediaDevices.getUserMedia({
      audio: true,
      video: { width: { ideal: 1280 }, height: { ideal: 720 } },
    });
    const camera = stream.getVideoTracks()[0];
    call.addLocal({ audio: stream.getAudioTracks()[0], camera });
    call.setMuted("audio", false);
    selfView.srcObject = new MediaStream([camera]);
    $("self-preview").hidden = false;
    setButton(mediaButton, true, "host.start_media", "host.stop_media");
    setButton(micButton, true, "call.mic_on", "call.mic_off");
    micButton.hidden = false;
    announce("status.camera_on");
  } catch (error) {
    announce("status.media_denied");
  } finally {
    mediaButton.disabled = false;
  }
});

// Shown only while the camera and microphone are on, so this only mutes and unmutes.
bindMicButton({ button: micButton, getCall: () => call, t, announce });

function stopSharing() {
  call.removeLocal(["screen"]);
  screenView.srcObject = null;
  screenPreview.hidden = true;
  setButton(screenButton, false, "host.share_screen", "host.stop_share");
  announce("status.screen_off");
}

screenButton.addEventListener("click", async () => {
  if (screenButton.dataset.on === "true") {
    stopSharing();
    return;
  }
  screenButton.disabled = true;
  try {
    const stream = await navigator.mediaDevices.getDisplayMedia({ video: true, audio: false });
    const track = stream.getVideoTracks()[0];
    // The browser's own "Stop sharing" bar ends the track: follow it.
    track.addEventListener("ended", () => {
      if (call.local.screen === track) stopSharing();
    });
    if ("contentHint" in track) track.contentHint = "detail";
    call.addLocal({ screen: track });
    screenView.srcObject = new MediaStream([track]);
    screenPreview.hidden = false;
    setButton(screenButton, true, "host.share_screen", "host.stop_share");
    announce("status.screen_on");
  } catch (error) {
    announce("status.media_denied");
  } finally {
    screenButton.disabled = false;
  }
});

$("end-button").addEventListener("click", () => endDialog.showModal());
endDialog.addEventListener("close", () => {
  if (endDialog.returnValue === "end") call.endSession();
  endDialog.returnValue = "";
});

// -- moderation (groups): the participant list with mute, camera and remove -------------------
const roster = $("roster");
const removeDialog = $("remove-dialog");
const rosterItems = new Map(); // participant id -> {item, state}
let removing = null; // the participant the remove dialog asks about

function nameOf(id) {
  return stage.labelFor(id);
}

function moderate(id, action, doneKey) {
  if (call.send({ type: "moderate", participant: id, action })) {
    announce(doneKey, { name: nameOf(id) });
  }
}

function actionButton(textKey, labelKey, id, danger, onClick) {
  const button = document.createElement("button");
  button.type = "button";
  button.className = `button ${danger ? "button-danger" : "button-secondary"}`;
  button.textContent = t(textKey);
  // The accessible name says whom it acts on: there are several of these buttons.
  button.setAttribute("aria-label", t(labelKey, { name: nameOf(id) }));
  button.dataset.action = textKey.slice(4);
  button.addEventListener("click", onClick);
  return button;
}

function rosterItem(id) {
  const item = document.createElement("li");
  item.className = "roster-item";
  item.dataset.participant = String(id);
  const name = document.createElement("span");
  name.className = "roster-name";
  name.textContent = nameOf(id);
  const state = document.createElement("span");
  state.className = "roster-state";
  const actions = document.createElement("span");
  actions.className = "roster-actions";
  actions.append(
    actionButton("mod.mute", "mod.mute_label", id, false, () => moderate(id, "mute-audio", "mod.muted_done")),
    actionButton("mod.camera", "mod.camera_label", id, false, () =>
      moderate(id, "mute-video", "mod.camera_done"),
    ),
    actionButton("mod.remove", "mod.remove_label", id, true, () => {
      removing = id;
      $("remove-dialog-text").textContent = t("mod.remove_confirm", { name: nameOf(id) });
      removeDialog.showModal();
    }),
  );
  item.append(name, state, actions);
  return { item, state };
}

function stateText(person) {
  const parts = [];
  const publishing = person.publishing || [];
  const micOn = publishing.includes("audio") && !person.muted?.audio;
  parts.push(t(micOn ? "mod.mic_on" : "mod.mic_off"));
  if (publishing.includes("video") && !person.muted?.video) parts.push(t("mod.camera_on"));
  if ((person.muted_by_host || []).length) parts.push(t("mod.by_host"));
  return parts.join(", ");
}

// Entries are updated in place, so a focused button keeps its focus when the roster changes.
function updateRoster(participants) {
  if (!roster) return;
  const people = participants.filter((p) => p.role !== "host").sort((a, b) => a.id - b.id);
  const present = new Set(people.map((p) => p.id));
  for (const [id, entry] of rosterItems) {
    if (present.has(id)) continue;
    if (entry.item.contains(document.activeElement)) $("moderation-heading").focus();
    entry.item.remove();
    rosterItems.delete(id);
  }
  for (const person of people) {
    let entry = rosterItems.get(person.id);
    if (!entry) {
      entry = rosterItem(person.id);
      rosterItems.set(person.id, entry);
      roster.append(entry.item);
    }
    entry.state.textContent = stateText(person);
  }
  $("roster-empty").hidden = people.length > 0;
}

if (removeDialog) {
  removeDialog.addEventListener("close", () => {
    if (removeDialog.returnValue === "remove" && removing != null) {
      moderate(removing, "remove", "mod.removed_done");
      $("moderation-heading").focus();
    }
    removing = null;
    removeDialog.returnValue = "";
  });
}

window.addEventListener("pagehide", () => call.leave());
