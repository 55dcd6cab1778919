// The signaling client and the one RTCPeerConnection of a page (docs/signaling.md).
//
// The server is always the offerer: this module answers offers, puts local tracks on the
// transceivers the server marks "send", and tells the page which remote track belongs to
// which participant. The page modules (join.js, host.js) only draw and handle buttons.

const PING_INTERVAL_MS = 5000;
const ICE_GATHERING_CAP_MS = 3000;
const BACKOFF_MS = [1000, 2000, 4000, 8000, 10000];
// A network blip leaves a WebSocket open on this side long after the server gave up on it
// (the server drops a socket after 15 s without a message), and a connection attempt made
// while the network is down can hang for minutes: give up on either and start afresh.
const CONNECT_TIMEOUT_MS = 10000;
const SILENT_AFTER_MS = 16000; // the server answers every ping (5 s): this is 3 lost
// Media that has not connected this long after its peer connection was made never will on
// this network (UDP blocked, TURN refused): say so instead of "connecting" forever.
const MEDIA_CONNECT_TIMEOUT_MS = 20000;

// Errors after which reconnecting cannot help: show the message and stop.
const FATAL_ERRORS = new Set([
  "unknown_session",
  "join_code_required",
  "join_code_invalid",
  "token_invalid",
  "host_token_required",
  "session_full",
  "session_ended",
  "not_started",
  "replaced",
  "removed", // the host removed this page: it must not come back by itself
]);

// The server closes a removed participant's socket with this code (after a "removed" message).
const CLOSE_REMOVED = 4003;

// The protocol calls the camera slot "video"; the page calls it "camera" to tell it from the
// screen share, which is video too.
export function slotName(slot) {
  return slot === "video" ? "camera" : slot;
}

const PUBLISH_NAME = { audio: "audio", camera: "video", screen: "screen" };
// Publishing order (the server bundles everything on one transport, so order is cosmetic).
const SLOT_ORDER = ["camera", "screen", "audio"];

export function readConfig() {
  const element = document.getElementById("kohtaamo-config");
  return JSON.parse(element.textContent);
}

// A plural message comes as {one: ..., other: ...} (the page language's CLDR categories);
// params.count picks the form, as on the server.
export function pluralText(text, params, lang = document.documentElement.lang) {
  if (typeof text === "string") return text;
  const category = new Intl.PluralRules(lang).select(Number(params.count));
  return text[category] ?? text.other;
}

export function translator(messages) {
  return (id, params = {}) => {
    const text = pluralText(messages[id] ?? messages["error.generic"] ?? id, params);
    return text.replace(/\{(\w+)\}/g, (whole, name) => (name in params ? String(params[name]) : whole));
  };
}

// 24 random bytes are 32 base64url characters; the key is for this session only.
export function attendeeKey(sessionId) {
  const storageKey = `kohtaamo:attendee:${sessionId}`;
  let key = null;
  try {
    key = sessionStorage.getItem(storageKey);
  } catch (error) {
    key = null; // storage disabled: a key per page load is still correct, just less sticky
  }
  if (!key || !/^[A-Za-z0-9_-]{16,64}$/.test(key)) {
    const bytes = crypto.getRandomValues(new Uint8Array(24));
    key = btoa(String.fromCharCode(...bytes)).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
    try {
      sessionStorage.setItem(storageKey, key);
    } catch (error) {
      /* see above */
    }
  }
  return key;
}

export function deviceChannel(override) {
  const allowed = ["tablet", "browser", "kiosk", "room-link"]; // "presenter" is the host page's
  const fromUrl = new URLSearchParams(location.search).get("channel");
  if (fromUrl && allowed.includes(fromUrl)) return fromUrl;
  if (override && allowed.includes(override)) return override;
  const touch = navigator.maxTouchPoints > 0 || matchMedia("(pointer: coarse)").matches;
  return touch ? "tablet" : "browser";
}

// All DTLS fingerprints of an SDP (aiortc lists sha-256, -384 and -512).
function fingerprints(sdp) {
  return new Set([...(sdp || "").matchAll(/^a=fingerprint:(.+?)\s*$/gm)].map((m) => m[1].toLowerCase()));
}

function waitForIceGathering(pc, capMs) {
  if (pc.iceGatheringState === "complete") return Promise.resolve();
  return new Promise((resolve) => {
    const done = () => {
      clearTimeout(timer);
      pc.removeEventListener("icegatheringstatechange", onChange);
      resolve();
    };
    const onChange = () => {
      if (pc.iceGatheringState === "complete") done();
    };
    const timer = setTimeout(done, capMs);
    pc.addEventListener("icegatheringstatechange", onChange);
  });
}

/**
 * Events (CustomEvent, detail in parentheses):
 *  status ({key, params}) – something to announce in the live region
 *  joined (the joined message) · remotes ({remotes}) · participants (the roster message)
 *  ended () · failed ({code}) – a fatal error · left ()
 *  moderated ({action}) – the host muted this page's microphone or camera (already applied)
 *  chat, chat-history, chat-deleted (the message as sent) – see chat.js
 */
export class Call extends EventTarget {
  constructor({ join, role = "participant", token = null, channel, sessionId, tier = null }) {
    super();
    this.join = join;
    // What a broadcast viewer receives: "auto" (full picture, lighter one on a poor link),
    // "low", "audio" or "high"; kept across reconnects. See docs/signaling.md.
    this.tier = tier;
    this.role = role;
    this.token = token;
    this.channel = channel;
    this.sessionId = sessionId;
    this.attendeeKey = attendeeKey(sessionId);
    this.ws = null;
    this.pc = null;
    this.iceServers = [];
    this.joinedInfo = null;
    this.trackMap = [];
    this.roster = null;
    this.local = { audio: null, camera: null, screen: null };
    this.muted = { audio: false, video: false };
    this.stopped = false;
    this.attempt = 0;
    this.reconnecting = false;
    this.pingTimer = null;
    this.reconnectTimer = null;
    this.connectTimer = null;
    this.lastHeard = 0;
    this.mediaInterrupted = false;
    // A problem to keep showing while reconnecting (the network blocks media, the server is
    // full): a status key, or null.
    this.mediaProblem = null;
    this.mediaTimer = null;
    this.connectedPeers = new WeakSet();
    this.offerChain = Promise.resolve();
    this.watchedTracks = new WeakSet();
    this.remoteFingerprints = new Set();
  }

  emit(type, detail = {}) {
    this.dispatchEvent(new CustomEvent(type, { detail }));
  }

  status(key, params = {}) {
    this.emit("status", { key, params });
  }

  /** Change what this viewer receives, at once and without a new offer. */
  setTier(tier) {
    this.tier = tier;
    if (this.joinedInfo) this.send({ type: "tier", tier });
  }

  // -- the WebSocket ---------------------------------------------------------------------
  start() {
    this.stopped = false;
    this.attempt = 0;
    this.status("status.connecting");
    if (!this.onOnline) {
      // The browser says the network is back: do not sit out the rest of the back-off.
      this.onOnline = () => {
        if (!this.stopped && this.reconnecting && !this.ws) {
          clearTimeout(this.reconnectTimer);
          this.connect();
        }
      };
      window.addEventListener("online", this.onOnline);
    }
    this.connect();
  }

  connect() {
    const scheme = location.protocol === "https:" ? "wss:" : "ws:";
    const ws = new WebSocket(`${scheme}//${location.host}/ws`);
    this.ws = ws;
    clearTimeout(this.connectTimer);
    this.connectTimer = setTimeout(() => {
      if (this.ws === ws && ws.readyState === WebSocket.CONNECTING) this.restart("connect-timeout");
    }, CONNECT_TIMEOUT_MS);
    ws.addEventListener("open", () => {
      if (this.ws !== ws) return;
      clearTimeout(this.connectTimer);
      this.lastHeard = Date.now();
      const message = { type: "join", channel: this.channel, attendee_key: this.attendeeKey };
      Object.assign(message, this.join);
      if (this.role !== "participant") message.role = this.role;
      if (this.token) message.token = this.token;
      if (this.tier) message.tier = this.tier;
      this.send(message);
      this.pingTimer = setInterval(() => {
        if (Date.now() - this.lastHeard > SILENT_AFTER_MS) this.restart("silent");
        else this.send({ type: "ping" });
      }, PING_INTERVAL_MS);
    });
    ws.addEventListener("message", (event) => {
      if (this.ws !== ws) return;
      this.lastHeard = Date.now();
      let message;
      try {
        message = JSON.parse(event.data);
      } catch (error) {
        return;
      }
      this.handle(message);
    });
    ws.addEventListener("close", (event) => {
      if (this.ws !== ws) return;
      this.ws = null;
      clearTimeout(this.connectTimer);
      clearInterval(this.pingTimer);
      this.pingTimer = null;
      if (event.code === CLOSE_REMOVED) {
        this.removed(); // even if the "removed" message itself never arrived
        return;
      }
      if (!this.stopped) this.scheduleReconnect();
    });
  }

  /**
   * Drop the socket (and with it the server's side of the call) and join again with the
   * same attendee key, so the server continues the same participant (docs/signaling.md).
   */
  restart(why) {
    if (this.stopped) return;
    console.warn("kohtaamo: reconnecting:", why);
    const ws = this.ws;
    this.ws = null;
    clearTimeout(this.connectTimer);
    clearInterval(this.pingTimer);
    this.pingTimer = null;
    if (ws) {
      try {
        ws.close(4000, why);
      } catch (error) {
        /* already closing */
      }
    }
    this.scheduleReconnect();
  }

  send(message) {
    if (this.ws && this.ws.readyState === WebSocket.OPEN) {
      this.ws.send(JSON.stringify(message));
      return true;
    }
    return false;
  }

  scheduleReconnect() {
    const delay = BACKOFF_MS[Math.min(this.attempt, BACKOFF_MS.length - 1)];
    this.attempt += 1;
    this.reconnecting = true;
    this.status(this.mediaProblem || "status.reconnecting");
    clearTimeout(this.reconnectTimer);
    this.reconnectTimer = setTimeout(() => {
      if (!this.stopped) this.connect();
    }, delay);
  }

  handle(message) {
    switch (message.type) {
      case "joined":
        this.onJoined(message);
        break;
      case "offer":
        // One negotiation at a time, in order: the server queues them the same way.
        this.offerChain = this.offerChain
          .then(() => this.onOffer(message))
          .catch((error) => console.error("kohtaamo: offer failed", error));
        break;
      case "tracks":
        // In the chain: a map sent after an offer must not be overwritten by that offer's.
        this.offerChain = this.offerChain.then(() => {
          this.trackMap = message.tracks || [];
          this.emitRemotes();
        });
        break;
      case "participants":
        this.roster = message;
        this.emit("participants", message);
        this.emitRemotes();
        break;
      case "error":
        this.onError(message);
        break;
      case "ended":
        this.finish("ended");
        break;
      case "moderated":
        this.onModerated(message);
        break;
      case "removed":
        this.removed();
        break;
      case "recording":
        this.emit("recording", message);
        break;
      case "chat":
      case "chat-history":
      case "chat-deleted":
        this.emit(message.type, message);
        break;
      default:
        break; // "pong" and anything newer than this page
    }
  }

  onJoined(message) {
    this.joinedInfo = message;
    this.iceServers = message.ice_servers || [];
    this.attempt = 0;
    if (!this.mediaProblem) this.status(this.reconnecting ? "status.reconnected" : "status.connected");
    this.reconnecting = false;
    this.mediaInterrupted = false;
    this.emit("joined", message);
    // A new connection starts with nothing published: ask again for what this page sends.
    if (this.publishing().length) {
      this.send({ type: "publish", tracks: this.publishing() });
      if (this.muted.audio || this.muted.video) this.send({ type: "mute", ...this.muted });
    }
  }

  // The server has already stopped forwarding; do the same here, so the page's buttons tell
  // the truth and the camera light goes out. The person may turn them on again.
  onModerated(message) {
    if (message.action === "mute-audio") {
      this.setMuted("audio", true);
    } else if (message.action === "mute-video") {
      this.removeLocal(["camera"]);
    } else {
      return;
    }
    this.emit("moderated", { action: message.action });
  }

  // Removed by the host: stop for good (no reconnect), and say so.
  removed() {
    if (this.stopped) return;
    this.stop();
    this.emit("failed", { code: "removed" });
  }

  onError(message) {
    const code = message.code || "generic";
    console.warn("kohtaamo: server error", code, message.message);
    // The server closes the socket next (1013); the back-off brings the page back.
    if (code === "media_ports_exhausted" || code === "server_busy") {
      this.mediaProblem = `error.${code}`;
    }
    // The server gave up on this page's media (it closes the socket next, 4002): the same
    // as the page's own media timer finding nothing gets through.
    if (code === "media_timeout") this.mediaProblem = "status.media_blocked";
    if (FATAL_ERRORS.has(code)) {
      if (code === "session_ended") {
        this.finish("ended");
      } else {
        this.stop();
        this.emit("failed", { code });
      }
      return;
    }
    this.status(`error.${code}`);
  }

  // -- the peer connection -----------------------------------------------------------------
  newPeerConnection() {
    const pc = new RTCPeerConnection({ iceServers: this.iceServers });
    pc.addEventListener("track", () => this.emitRemotes());
    pc.addEventListener("connectionstatechange", () => this.onMediaState(pc));
    // For support staff: a TURN server refusing the credentials shows up here (401).
    pc.addEventListener("icecandidateerror", (event) =>
      console.warn("kohtaamo: ICE server error", event.url, event.errorCode, event.errorText),
    );
    clearTimeout(this.mediaTimer);
    this.mediaTimer = setTimeout(() => this.mediaBlocked(pc, "media-timeout"), MEDIA_CONNECT_TIMEOUT_MS);
    return pc;
  }

  // Media never connected on this peer connection: this network lets nothing through (or
  // the TURN server refused us). Say so, keep saying it, and keep trying.
  mediaBlocked(pc, why) {
    if (this.pc !== pc || this.stopped || this.connectedPeers.has(pc)) return;
    this.mediaProblem = "status.media_blocked";
    this.status(this.mediaProblem);
    if (!this.reconnecting) this.restart(why);
  }

  // The media path can break while the WebSocket still looks open (Wi-Fi gone for a few
  // seconds): say so at once, and if the browser gives the connection up ("failed", ~15 s
  // in Chromium; it cannot come back without a new negotiation) join again.
  onMediaState(pc) {
    if (this.pc !== pc || this.stopped) return;
    const state = pc.connectionState;
    if (state === "disconnected") {
      if (!this.mediaInterrupted && !this.reconnecting) this.status("status.reconnecting");
      this.mediaInterrupted = true;
    } else if (state === "connected") {
      this.connectedPeers.add(pc);
      clearTimeout(this.mediaTimer);
      if (this.mediaProblem) this.status("status.connected");
      else if (this.mediaInterrupted && !this.reconnecting) this.status("status.reconnected");
      this.mediaProblem = null;
      this.mediaInterrupted = false;
    } else if (state === "failed") {
      if (!this.connectedPeers.has(pc)) {
        this.mediaBlocked(pc, "media-failed");
        return;
      }
      this.mediaInterrupted = true;
      if (!this.reconnecting) this.restart("media-failed");
    }
  }

  async onOffer(message) {
    // The server makes a new peer connection for each WebSocket; a new DTLS certificate
    // tells us so. Renegotiations of the same one keep ours. (Compare with the offers as
    // sent: Chrome rewrites pc.remoteDescription and may keep another fingerprint.)
    const offered = fingerprints(message.sdp);
    if (this.pc && ![...offered].some((f) => this.remoteFingerprints.has(f))) {
      this.pc.close();
      this.pc = null;
    }
    if (!this.pc) this.pc = this.newPeerConnection();
    this.remoteFingerprints = offered;
    const pc = this.pc;
    await pc.setRemoteDescription({ type: "offer", sdp: message.sdp });
    this.trackMap = message.tracks || [];
    const byMid = new Map(pc.getTransceivers().map((t) => [t.mid, t]));
    for (const entry of this.trackMap) {
      const transceiver = byMid.get(entry.mid);
      if (!transceiver) continue;
      if (entry.direction === "send") {
        transceiver.direction = "sendonly";
        await transceiver.sender.replaceTrack(this.local[slotName(entry.slot)] || null);
      } else {
        transceiver.direction = "recvonly";
      }
    }
    await pc.setLocalDescription(await pc.createAnswer());
    await waitForIceGathering(pc, ICE_GATHERING_CAP_MS);
    if (this.pc !== pc) return;
    this.send({ type: "answer", sdp: pc.localDescription.sdp });
    this.emitRemotes();
  }

  // Remote media grouped per participant, for the page to lay out.
  emitRemotes() {
    if (!this.pc) {
      this.emit("remotes", { remotes: [] });
      return;
    }
    const byMid = new Map(this.pc.getTransceivers().map((t) => [t.mid, t]));
    const publishingOf = new Map();
    for (const person of this.roster?.participants || []) {
      publishingOf.set(person.id, new Set((person.publishing || []).map(slotName)));
    }
    const remotes = [];
    for (const entry of this.trackMap) {
      if (entry.direction !== "recv") continue;
      const transceiver = byMid.get(entry.mid);
      const track = transceiver?.receiver?.track;
      if (!track) continue;
      if (!this.watchedTracks.has(track)) {
        // A remote track is muted until packets flow: redraw when that changes.
        this.watchedTracks.add(track);
        track.addEventListener("unmute", () => this.emitRemotes());
        track.addEventListener("mute", () => this.emitRemotes());
      }
      const slot = slotName(entry.slot) || (entry.kind === "audio" ? "audio" : "camera");
      // In a group, no participant means an idle transceiver; in a broadcast it means the
      // program (a WHIP encoder has no roster entry).
      let announced;
      if (entry.participant == null) announced = !this.isGroup();
      else if (!publishingOf.has(entry.participant)) announced = true;
      else announced = publishingOf.get(entry.participant).has(slot);
      remotes.push({
        mid: entry.mid,
        kind: entry.kind,
        slot,
        participant: entry.participant,
        track,
        active: announced && !track.muted,
      });
    }
    this.emit("remotes", { remotes });
  }

  isGroup() {
    return this.joinedInfo?.session?.mode === "group";
  }

  // -- local media --------------------------------------------------------------------------
  publishing() {
    return SLOT_ORDER.filter((slot) => this.local[slot]).map((slot) => PUBLISH_NAME[slot]);
  }

  senderFor(slot) {
    if (!this.pc) return null;
    const byMid = new Map(this.pc.getTransceivers().map((t) => [t.mid, t]));
    for (const entry of this.trackMap) {
      if (entry.direction === "send" && slotName(entry.slot) === slot) {
        return byMid.get(entry.mid)?.sender || null;
      }
    }
    return null;
  }

  /** Start sending these local tracks ({audio, camera, screen}); the server then offers. */
  addLocal(tracks) {
    const names = [];
    for (const slot of SLOT_ORDER) {
      const track = tracks[slot];
      if (!track) continue;
      const old = this.local[slot];
      this.local[slot] = track;
      if (old && old !== track) old.stop();
      const sender = this.senderFor(slot);
      if (sender) sender.replaceTrack(track).catch(() => {});
      names.push(PUBLISH_NAME[slot]);
    }
    if (names.length) this.send({ type: "publish", tracks: names });
  }

  /** Stop sending and release the device (the camera light goes off). */
  removeLocal(slots) {
    const names = [];
    for (const slot of slots) {
      const track = this.local[slot];
      if (!track) continue;
      this.local[slot] = null;
      track.stop();
      const sender = this.senderFor(slot);
      if (sender) sender.replaceTrack(null).catch(() => {});
      names.push(PUBLISH_NAME[slot]);
    }
    if (names.length) this.send({ type: "unpublish", tracks: names });
  }

  setMuted(kind, muted) {
    this.muted[kind] = muted;
    const track = kind === "audio" ? this.local.audio : this.local.camera;
    if (track) track.enabled = !muted;
    this.send({ type: "mute", audio: this.muted.audio, video: this.muted.video });
  }

  // -- the end ----------------------------------------------------------------------------
  stop() {
    this.stopped = true;
    clearTimeout(this.reconnectTimer);
    clearTimeout(this.mediaTimer);
    clearTimeout(this.connectTimer);
    if (this.onOnline) window.removeEventListener("online", this.onOnline);
    this.onOnline = null;
    clearInterval(this.pingTimer);
    this.pingTimer = null;
    if (this.ws) {
      const ws = this.ws;
      this.ws = null;
      try {
        ws.close(1000, "bye");
      } catch (error) {
        /* already closing */
      }
    }
    if (this.pc) {
      this.pc.close();
      this.pc = null;
    }
    for (const slot of Object.keys(this.local)) {
      if (this.local[slot]) this.local[slot].stop();
      this.local[slot] = null;
    }
    this.trackMap = [];
    this.roster = null;
  }

  /** Say goodbye (attendance closes at once), then close everything. */
  leave() {
    if (this.stopped) return;
    this.send({ type: "leave" });
    this.stop();
    this.emit("left");
  }

  endSession() {
    this.send({ type: "end" });
  }

  finish(reason) {
    if (this.stopped && reason !== "ended") return;
    this.stop();
    this.emit(reason);
  }
}
