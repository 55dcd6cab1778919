// Small pieces both pages use: switching views, the status region, toggle buttons.

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
