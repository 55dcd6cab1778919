// The presenter page: camera and microphone, screen sharing, the online count, ending.

import { Call, readConfig, translator } from "./call.js";
import { bindRecordButton } from "./recording.js";
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
bindRecordButton(call, $("record-button"), t);

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
}

const announce = announcer(statusRegion, t);

function setButton(button, on, onKey, offKey) {
  setToggle(button, on, t, onKey, offKey);
}

call.addEventListener("status", (event) => announce(event.detail.key, event.detail.params));
call.addEventListener("participants", (event) => {
  $("online-now").textContent = String(event.detail.online_now ?? 0);
});
call.addEventListener("remotes", (event) => stage.update(event.detail.remotes, call.roster));
call.addEventListener("ended", () => {
  stage.clear();
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

window.addEventListener("pagehide", () => call.leave());
