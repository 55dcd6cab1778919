// The join page: one big button, then the stream, with large microphone, camera and leave
// buttons. Camera and microphone stay off until the person turns them on.

import { Call, deviceChannel, readConfig, translator } from "./call.js";
import { bindChat } from "./chat.js";
import { bindRecording } from "./recording.js";
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

const views = ["lobby", "call", "left", "ended", "failed"].map($).filter(Boolean);
const statusRegion = $("status");
const micButton = $("mic-button");
const cameraButton = $("camera-button");
const selfView = $("self-view");
const audioOnlyButton = $("audio-only-button");
const lowerQualityButton = $("lower-quality-button");

const call = new Call({
  join: config.join,
  role: "participant",
  channel: deviceChannel(config.channel),
  sessionId: config.session_id,
  tier: "auto",
});
window.kohtaamoCall = call; // for the browser tests and for support staff debugging
bindRecording(call, t);


const participantNumbers = new Map();
function labelFor(participant) {
  const person = call.roster?.participants?.find((p) => p.id === participant);
  if (participant == null || person?.role === "host") {
    return t(config.mode === "group" ? "call.leader" : "call.presenter");
  }
  if (!participantNumbers.has(participant)) participantNumbers.set(participant, participantNumbers.size + 1);
  return t("call.participant", { n: participantNumbers.get(participant) });
}

const stage = new Stage({
  stage: $("stage"),
  waiting: $("waiting"),
  soundButton: $("sound-button"),
  t,
  labelFor,
});

function show(id, focusId) {
  showView(views, id, focusId ? $(focusId) : null);
}

const announce = announcer(statusRegion, t);
bindChat({ call, t, labelFor, announce });

function resetControls() {
  resetMediaButtons(micButton, cameraButton, selfView, t);
  audioOnlyButton.hidden = lowerQualityButton.hidden = true;
}

call.addEventListener("status", (event) => announce(event.detail.key, event.detail.params));
call.addEventListener("joined", (event) => {
  const mayPublish = Boolean(event.detail.may_publish);
  micButton.hidden = cameraButton.hidden = !mayPublish;
  // A broadcast viewer on a weak link: one tap for audio only, or a lighter picture.
  const viewer = !mayPublish && event.detail.session?.mode === "broadcast";
  audioOnlyButton.hidden = lowerQualityButton.hidden = !viewer;
});

function pressed(button) {
  return button.getAttribute("aria-pressed") === "true";
}

function chooseTier() {
  const tier = pressed(audioOnlyButton) ? "audio" : pressed(lowerQualityButton) ? "low" : "auto";
  call.setTier(tier);
  lowerQualityButton.disabled = pressed(audioOnlyButton);
}

audioOnlyButton.addEventListener("click", () => {
  const on = !pressed(audioOnlyButton);
  audioOnlyButton.setAttribute("aria-pressed", String(on));
  chooseTier();
  announce(on ? "status.audio_only_on" : "status.audio_only_off");
});

lowerQualityButton.addEventListener("click", () => {
  const on = !pressed(lowerQualityButton);
  lowerQualityButton.setAttribute("aria-pressed", String(on));
  chooseTier();
  announce(on ? "status.lower_quality_on" : "status.lower_quality_off");
});
call.addEventListener("remotes", (event) => stage.update(event.detail.remotes, call.roster));
// The smileys once, after leaving or the end, and only if this page really took part.
let surveyOffered = false;
function survey(sectionId, before) {
  if (surveyOffered || !call.joinedInfo) return;
  surveyOffered = true;
  const options = { sessionId: config.session_id, channel: call.channel, t };
  offerSurvey({ ...options, parent: $(sectionId), before, attendeeKey: call.attendeeKey });
}

call.addEventListener("ended", () => {
  stage.clear();
  resetControls();
  announce("status.ended");
  show("ended", "ended-heading");
  survey("ended", $("ended").querySelector("p:last-of-type"));
});
call.addEventListener("failed", (event) => {
  stage.clear();
  resetControls();
  const key = `error.${event.detail.code}`;
  $("failed-heading").textContent = t(key);
  announce(key);
  show("failed", "failed-heading");
});

function join() {
  show("call", "call-heading");
  call.start();
}

$("join-button").addEventListener("click", join);
$("rejoin-button").addEventListener("click", join);

$("leave-button").addEventListener("click", () => {
  call.leave();
  stage.clear();
  resetControls();
  announce("status.left");
  show("left", "left-heading");
  survey("left", $("rejoin-button"));
});

bindMicButton({ button: micButton, getCall: () => call, t, announce });
showModeration({ call, micButton, cameraButton, selfView, t, announce });
bindCameraButton({ button: cameraButton, selfView, getCall: () => call, t, announce, frameRate: 24 });

// Closing the tab or navigating away: say goodbye so attendance closes at once.
window.addEventListener("pagehide", () => call.leave());
