// Small pieces the call pages share: views, the status region, toggle buttons, media buttons.

// Confirmations fade after a while; problems and "reconnecting" stay until replaced.
const TRANSIENT = new Set([
  "status.connected",
  "status.reconnected",
  "status.mic_on",
  "status.mic_off",
  "status.camera_on",
  "status.camera_off",
  "status.screen_on",
  "status.screen_off",
]);
const TRANSIENT_MS = 6000;

/** Returns announce(key, params): text into the aria-live region, in the page's language. */
export function announcer(region, t) {
  let timer = null;
  return (key, params = {}) => {
    const text = t(key, params);
    region.textContent = text;
    clearTimeout(timer);
    if (TRANSIENT.has(key)) {
      timer = setTimeout(() => {
        if (region.textContent === text) region.textContent = "";
      }, TRANSIENT_MS);
    }
  };
}

/** Show one of the page's views and move focus to it, so screen readers follow. */
export function showView(views, id, focusTarget) {
  for (const view of views) view.hidden = view.id !== id;
  document.body.classList.toggle("in-call", id === "call" && document.body.classList.contains("page-join"));
  if (focusTarget) focusTarget.focus();
}

/** A toggle button's label says what pressing it does ("Turn camera on"). */
export function setToggle(button, on, t, onKey, offKey) {
  button.dataset.on = String(on);
  button.querySelector(".control-label").textContent = t(on ? offKey : onKey);
}

/**
 * The microphone button of a call page (join, tablet, presenter). `getCall()` gives the
 * current call or null; the microphone is asked for only on the first "on", then muted
 * and unmuted, so turning it back on is instant.
 */
export function bindMicButton({ button, getCall, t, announce }) {
  button.addEventListener("click", async () => {
    const call = getCall();
    if (!call) return;
    if (button.dataset.on === "true") {
      call.setMuted("audio", true);
      setToggle(button, false, t, "call.mic_on", "call.mic_off");
      announce("status.mic_off");
      return;
    }
    if (!call.local.audio) {
      button.disabled = true;
      try {
        const stream = await navigator.mediaDevices.getUserMedia({ audio: true });
        call.addLocal({ audio: stream.getAudioTracks()[0] });
      } catch (error) {
        announce("status.media_denied");
        return;
      } finally {
        button.disabled = false;
      }
    }
    call.setMuted("audio", false);
    setToggle(button, true, t, "call.mic_on", "call.mic_off");
    announce("status.mic_on");
  });
}

/**
 * The participant's camera button (join and tablet pages). Off means off: the track is
 * removed, so the device is released and the camera light goes out. Returns start(), for
 * pages that turn the camera on by themselves.
 */
export function bindCameraButton({ button, selfView, getCall, t, announce, frameRate }) {
  async function start() {
    button.disabled = true;
    try {
      const stream = await navigator.mediaDevices.getUserMedia({
        video: { width: { ideal: 640 }, height: { ideal: 480 }, frameRate: { ideal: frameRate } },
      });
      const track = stream.getVideoTracks()[0];
      const call = getCall();
      if (!call) {
        track.stop(); // the call ended while the browser asked
        return;
      }
      call.addLocal({ camera: track });
      selfView.srcObject = new MediaStream([track]);
      selfView.hidden = false;
      setToggle(button, true, t, "call.camera_on", "call.camera_off");
      announce("status.camera_on");
    } catch (error) {
      announce("status.media_denied");
    } finally {
      button.disabled = false;
    }
  }

  button.addEventListener("click", () => {
    const call = getCall();
    if (!call) return;
    if (button.dataset.on === "true") {
      call.removeLocal(["camera"]);
      selfView.srcObject = null;
      selfView.hidden = true;
      setToggle(button, false, t, "call.camera_on", "call.camera_off");
      announce("status.camera_off");
    } else {
      start();
    }
  });
  return start;
}

/** Both buttons back to "off" and hidden, the self view empty: after a call. */
export function resetMediaButtons(micButton, cameraButton, selfView, t) {
  setToggle(micButton, false, t, "call.mic_on", "call.mic_off");
  setToggle(cameraButton, false, t, "call.camera_on", "call.camera_off");
  micButton.hidden = cameraButton.hidden = true;
  selfView.hidden = true;
  selfView.srcObject = null;
}

/**
 * When the host mutes this page's microphone or camera (the call has already turned it
 * off), make the buttons say so and tell the person politely, in the live region.
 */
export function showModeration({ call, micButton, cameraButton, selfView, t, announce }) {
  call.addEventListener("moderated", (event) => {
    if (event.detail.action === "mute-audio") {
      setToggle(micButton, false, t, "call.mic_on", "call.mic_off");
      announce("mod.you_muted_audio");
    } else if (event.detail.action === "mute-video") {
      setToggle(cameraButton, false, t, "call.camera_on", "call.camera_off");
      selfView.srcObject = null;
      selfView.hidden = true;
      announce("mod.you_muted_video");
    }
  });
}
