// Laying out remote media: one tile per participant (camera + audio together), a shared
// screen large with cameras small beside it, audio elements that always play.

export class Stage {
  constructor({ stage, waiting, soundButton, t, labelFor }) {
    this.stage = stage;
    this.waiting = waiting;
    this.soundButton = soundButton;
    this.t = t;
    this.labelFor = labelFor;
    this.tiles = new Map(); // key -> {element, video, label}
    this.audios = new Map(); // mid -> {element, track}
    this.audioBox = document.createElement("div");
    this.audioBox.className = "audio-box";
    this.audioBox.hidden = true;
    stage.after(this.audioBox);
    this.blocked = new Set();
    if (soundButton) {
      soundButton.addEventListener("click", () => {
        for (const audio of this.blocked) audio.play().catch(() => {});
        this.blocked.clear();
        soundButton.hidden = true;
      });
    }
  }

  update(remotes, roster) {
    this.updateAudio(remotes.filter((r) => r.kind === "audio"));
    const mutedOf = new Map((roster?.participants || []).map((p) => [p.id, p.muted || {}]));
    const wanted = new Map();
    for (const remote of remotes) {
      if (remote.kind !== "video" || !remote.active) continue;
      const who = remote.participant ?? "program";
      const key = `${remote.slot === "screen" ? "screen" : "camera"}:${who}`;
      if (!wanted.has(key)) wanted.set(key, remote);
    }
    for (const [key, tile] of this.tiles) {
      if (!wanted.has(key)) {
        tile.video.srcObject = null;
        tile.element.remove();
        this.tiles.delete(key);
      }
    }
    for (const [key, remote] of wanted) {
      let tile = this.tiles.get(key);
      if (!tile) {
        tile = this.makeTile(remote);
        this.tiles.set(key, tile);
      }
      if (tile.track !== remote.track) {
        tile.track = remote.track;
        tile.video.srcObject = new MediaStream([remote.track]);
        tile.video.play().catch(() => {});
      }
      const screen = remote.slot === "screen";
      const label = screen ? this.t("call.screen") : this.labelFor(remote.participant);
      const muted = !screen && mutedOf.get(remote.participant)?.audio;
      tile.label.textContent = muted ? `${label} (${this.t("call.muted")})` : label;
      tile.video.setAttribute("aria-label", label);
      tile.video.dataset.participant = remote.participant ?? "";
      tile.video.dataset.mid = remote.mid;
    }
    const screens = [...this.tiles.keys()].filter((k) => k.startsWith("screen:"));
    const cameras = [...this.tiles.keys()].filter((k) => k.startsWith("camera:"));
    this.stage.dataset.layout = screens.length ? "screen" : "grid";
    this.stage.dataset.count = String(this.tiles.size);
    // The shared screen first and large; cameras follow (small beside it).
    for (const key of [...screens, ...cameras]) {
      const tile = this.tiles.get(key);
      tile.element.classList.toggle("tile-small", screens.length > 0 && key.startsWith("camera:"));
      this.stage.append(tile.element);
    }
    if (this.waiting) this.waiting.hidden = this.tiles.size > 0;
  }

  makeTile(remote) {
    const element = document.createElement("figure");
    element.className = remote.slot === "screen" ? "tile tile-screen" : "tile tile-camera";
    const video = document.createElement("video");
    video.autoplay = true;
    video.playsInline = true;
    video.muted = true; // sound comes from the participant's audio element
    video.dataset.slot = remote.slot === "screen" ? "screen" : "camera";
    const label = document.createElement("figcaption");
    element.append(video, label);
    return { element, video, label, track: null };
  }

  updateAudio(audioRemotes) {
    const wanted = new Map(audioRemotes.map((r) => [r.mid, r]));
    for (const [mid, entry] of this.audios) {
      if (!wanted.has(mid)) {
        entry.element.srcObject = null;
        entry.element.remove();
        this.audios.delete(mid);
      }
    }
    for (const [mid, remote] of wanted) {
      let entry = this.audios.get(mid);
      if (!entry) {
        const element = document.createElement("audio");
        element.autoplay = true;
        element.dataset.mid = mid;
        this.audioBox.append(element);
        entry = { element, track: null };
        this.audios.set(mid, entry);
      }
      if (entry.track !== remote.track) {
        entry.track = remote.track;
        entry.element.srcObject = new MediaStream([remote.track]);
        this.play(entry.element);
      }
    }
  }

  play(audio) {
    audio.play().catch(() => {
      // Autoplay refused (no tap yet on this page): one big button brings the sound.
      this.blocked.add(audio);
      if (this.soundButton) this.soundButton.hidden = false;
    });
  }

  clear() {
    this.update([], null);
  }
}
