// What the kiosk and tablet pages share: the device token, the device API, heartbeats,
// the screen wake lock and time formatting.

const TOKEN_KEY = "kohtaamo:device-token";

/** How often the programme is fetched, and how long to wait after the server refused. */
export const SCHEDULE_EVERY_MS = 60_000;
export const REFUSED_RETRY_MS = 120_000;
/** Error codes that mean this device may not be used (as opposed to "try again"). */
export const DEVICE_ERRORS = new Set(["device_revoked", "device_token_invalid"]);
/** The views both device pages have, in page order. */
export const DEVICE_VIEWS = ["not-enrolled", "refused", "programme", "call", "after"];

/** The message key that explains a refusal to the person in front of the screen. */
export function refusalKey(code) {
  return DEVICE_ERRORS.has(code) ? `error.${code}` : "error.device_token_invalid";
}
const TOKEN_SHAPE = /^kd_[A-Za-z0-9_-]{16,200}$/;

/**
 * The enrolment link carries the token in the fragment (never sent to the server): keep
 * it in local storage and clear the address bar, so it is neither shown nor bookmarked.
 */
export function takeDeviceToken() {
  const params = new URLSearchParams(location.hash.slice(1));
  const fromLink = params.get("device");
  if (fromLink !== null) {
    history.replaceState(null, "", location.pathname + location.search);
    if (TOKEN_SHAPE.test(fromLink)) {
      try {
        localStorage.setItem(TOKEN_KEY, fromLink);
      } catch (error) {
        /* storage disabled: the token works for this page load only */
      }
      return fromLink;
    }
  }
  try {
    const stored = localStorage.getItem(TOKEN_KEY);
    return stored && TOKEN_SHAPE.test(stored) ? stored : null;
  } catch (error) {
    return null;
  }
}

/** Device API calls: {status, data}; status 0 when the server could not be reached. */
export async function deviceFetch(token, path, { method = "GET", body = null } = {}) {
  const headers = { Authorization: `Bearer ${token}` };
  if (body !== null) headers["Content-Type"] = "application/json";
  try {
    const response = await fetch(path, {
      method,
      headers,
      body: body === null ? null : JSON.stringify(body),
      cache: "no-store",
    });
    let data = null;
    try {
      data = await response.json();
    } catch (error) {
      data = null;
    }
    return { status: response.status, data };
  } catch (error) {
    return { status: 0, data: null };
  }
}

/** 401 and 403 from the device API mean the token is unknown or revoked. */
export function isRefusal(status) {
  return status === 401 || status === 403;
}

/** Keeps the screen on while wanted; the browser drops the lock when the page is hidden. */
export class WakeLock {
  constructor() {
    this.sentinel = null;
    this.wanted = false;
    document.addEventListener("visibilitychange", () => {
      if (document.visibilityState === "visible" && this.wanted) this.acquire();
    });
  }

  async acquire() {
    this.wanted = true;
    if (this.sentinel || !("wakeLock" in navigator) || document.visibilityState !== "visible") return;
    try {
      this.sentinel = await navigator.wakeLock.request("screen");
      this.sentinel.addEventListener("release", () => {
        this.sentinel = null;
      });
    } catch (error) {
      this.sentinel = null; // not allowed (policy, battery saver): the power policy must cover it
    }
  }

  release() {
    this.wanted = false;
    const sentinel = this.sentinel;
    this.sentinel = null;
    if (sentinel) sentinel.release().catch(() => {});
  }

  get held() {
    return Boolean(this.sentinel);
  }
}

/** Times in the city's time zone, whatever the device's own setting. */
export function timeFormatter(lang) {
  const locale = lang === "en" ? "en-GB" : "fi-FI";
  // Finnish style "9.30", not "09.30": the hour without a leading zero.
  const time = new Intl.DateTimeFormat(locale, { hour: "numeric", minute: "2-digit", timeZone: "Europe/Helsinki" });
  const day = new Intl.DateTimeFormat(locale, { weekday: "long", day: "numeric", month: "numeric", timeZone: "Europe/Helsinki" });
  const date = new Intl.DateTimeFormat(locale, { weekday: "long", day: "numeric", month: "long", timeZone: "Europe/Helsinki" });
  const dayKey = new Intl.DateTimeFormat("en-CA", { year: "numeric", month: "2-digit", day: "2-digit", timeZone: "Europe/Helsinki" });
  return {
    time: (value) => time.format(new Date(value)),
    day: (value) => day.format(new Date(value)),
    date: (value) => date.format(new Date(value)),
    dayKey: (value) => dayKey.format(new Date(value)),
  };
}

let waitingForGesture = false;

/** Fullscreen when the browser allows it (ChromeOS kiosk mode is full-screen anyway). */
export function goFullscreen() {
  if (document.fullscreenElement || !document.documentElement.requestFullscreen) return;
  document.documentElement.requestFullscreen({ navigationUI: "hide" }).catch(() => {
    // Without a user gesture this is refused: try again on the next touch.
    if (waitingForGesture) return;
    waitingForGesture = true;
    document.addEventListener(
      "pointerdown",
      () => {
        waitingForGesture = false;
        goFullscreen();
      },
      { once: true },
    );
  });
}
