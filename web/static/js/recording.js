// While a broadcast is recorded every page says so: a persistent "● Tallennetaan" badge and a
// spoken announcement when recording starts and stops (docs/signaling.md: `recording`,
// `joined.recording`). The host page also gets the Record button (`record`).

let badge = null;
let region = null;
let recording = false;

function ensureElements(t) {
  if (badge) return;
  badge = document.createElement("p");
  badge.className = "recording-indicator";
  badge.hidden = true;
  const dot = document.createElement("span");
  dot.textContent = t("recording.on");
  const more = document.createElement("span");
  more.className = "visually-hidden";
  more.textContent = ` ${t("recording.on_long")}`;
  badge.append(dot, more);
  badge.title = t("recording.on_long");
  // Its own live region: the pages' status regions are rewritten by other announcements.
  region = document.createElement("div");
  region.className = "visually-hidden";
  region.setAttribute("role", "status");
  region.setAttribute("aria-live", "polite");
  document.body.prepend(badge);
  document.body.append(region);
}

function setRecording(on, t) {
  ensureElements(t);
  badge.hidden = !on;
  document.body.classList.toggle("is-recording", on);
  if (on !== recording) {
    region.textContent = t(on ? "recording.started" : "recording.stopped");
  }
  recording = on;
  document.dispatchEvent(new CustomEvent("kohtaamo-recording", { detail: { on } }));
}

/** Show the recording state of ``call``'s session on this page, for as long as it lasts. */
export function bindRecording(call, t) {
  ensureElements(t);
  call.addEventListener("joined", (event) => setRecording(Boolean(event.detail.recording), t));
  call.addEventListener("recording", (event) => setRecording(Boolean(event.detail.on), t));
  for (const name of ["ended", "left", "failed"]) {
    call.addEventListener(name, () => {
      if (recording) setRecording(false, t);
    });
  }
}

/** The host's Record button: a toggle button ("Tallenna", aria-pressed while recording; its
 * name stays the same, as toggle buttons' names should). The server's `recording` message,
 * not the click, changes its state. */
export function bindRecordButton(call, button, t) {
  bindRecording(call, t);
  button.setAttribute("aria-pressed", "false");
  button.title = t("recording.start");
  button.addEventListener("click", () => call.send({ type: "record", on: !recording }));
  document.addEventListener("kohtaamo-recording", (event) => {
    const on = event.detail.on;
    button.setAttribute("aria-pressed", String(on));
    button.title = t(on ? "recording.stop" : "recording.start");
  });
}
