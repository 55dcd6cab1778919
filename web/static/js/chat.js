// The session's text chat (docs/signaling.md, "Chat"): a log that screen readers read as
// messages arrive, one input (Enter sends), and on the host page a delete button per message.
// Nothing is kept anywhere: the server holds the last messages in memory for late joiners,
// and this page only draws what it is sent.

const PREVIEW_CHARS = 40;

function preview(text) {
  return text.length > PREVIEW_CHARS ? `${text.slice(0, PREVIEW_CHARS)}…` : text;
}

/**
 * Bind the chat panel of web/templates/_chat.html to ``call``.
 * ``labelFor(participant)`` names a participant as the rest of the page does ("Osallistuja 2");
 * ``host`` adds the delete buttons; ``announce(key, params)`` speaks in the page's status region.
 */
export function bindChat({ call, t, labelFor, host = false, announce = () => {} }) {
  const $ = (id) => document.getElementById(id);
  const panel = $("chat");
  if (!panel) return;
  const log = $("chat-log");
  const empty = $("chat-empty");
  const input = $("chat-input");
  const counter = $("chat-counter");
  const max = input.maxLength > 0 ? input.maxLength : 500;
  const items = new Map(); // message id -> element
  let pending = null; // the text sent and not yet seen coming back

  const mine = (from) => from.participant === call.joinedInfo?.participant;

  function sender(from) {
    if (mine(from)) return t("chat.you");
    if (from.role === "host") return t("chat.host");
    return labelFor(from.participant);
  }

  function clock(at) {
    const date = new Date(at);
    if (Number.isNaN(date.getTime())) return "";
    const lang = document.documentElement.lang || "fi";
    return date.toLocaleTimeString(lang, { hour: "2-digit", minute: "2-digit" });
  }

  function deleteButton(message, name) {
    const button = document.createElement("button");
    button.type = "button";
    button.className = "button button-danger chat-delete";
    button.textContent = t("chat.delete");
    // Several of these: the name says which message ("Poista viesti: Osallistuja 2: Hei…").
    button.setAttribute("aria-label", t("chat.delete_label", { name, text: preview(message.text) }));
    button.addEventListener("click", () => call.send({ type: "chat-delete", id: message.id }));
    return button;
  }

  function add(message) {
    if (items.has(message.id) || !message.from) return;
    const name = sender(message.from);
    const item = document.createElement("div");
    item.className = "chat-message";
    if (message.from.role === "host") item.classList.add("chat-message-host");
    item.dataset.id = String(message.id);
    const meta = document.createElement("p");
    meta.className = "chat-meta";
    const who = document.createElement("span");
    who.className = "chat-from";
    who.textContent = name;
    const when = document.createElement("time");
    when.dateTime = message.at || "";
    when.textContent = clock(message.at);
    meta.append(who, " ", when);
    const text = document.createElement("p");
    text.className = "chat-text";
    text.textContent = message.text;
    item.append(meta, text);
    if (host) item.append(deleteButton(message, name));
    log.append(item);
    items.set(message.id, item);
    empty.hidden = true;
    log.scrollTop = log.scrollHeight;
  }

  function remove(id) {
    const item = items.get(id);
    if (!item) return;
    const hadFocus = item.contains(document.activeElement);
    item.remove();
    items.delete(id);
    empty.hidden = items.size > 0;
    if (hadFocus) input.focus();
  }

  function updateCounter() {
    counter.textContent = t("chat.counter", { n: input.value.length, max });
  }

  // On every (re)join: what the server still holds. Messages already shown stay where they
  // are (a screen reader does not hear them again); deleted or forgotten ones go.
  call.addEventListener("chat-history", (event) => {
    const messages = event.detail.messages || [];
    const keep = new Set(messages.map((m) => m.id));
    for (const id of [...items.keys()]) if (!keep.has(id)) remove(id);
    log.setAttribute("aria-busy", "true");
    for (const message of messages) add(message);
    log.setAttribute("aria-busy", "false");
    panel.hidden = false;
  });
  call.addEventListener("chat", (event) => {
    const message = event.detail;
    add(message);
    if (pending !== null && mine(message.from) && message.text === pending) {
      if (input.value.trim() === pending) input.value = "";
      pending = null;
      updateCounter();
    }
  });
  call.addEventListener("chat-deleted", (event) => {
    const id = event.detail.id;
    if (host && items.has(id)) announce("chat.deleted");
    remove(id);
  });
  for (const name of ["ended", "left", "failed"]) {
    call.addEventListener(name, () => {
      pending = null;
    });
  }

  input.addEventListener("input", updateCounter);
  // Enter in the input submits the form; the text is cleared when it comes back from the
  // server, so a refused message (too many too fast) is not lost.
  $("chat-form").addEventListener("submit", (event) => {
    event.preventDefault();
    const text = input.value.trim();
    if (!text) {
      announce("chat.empty_text");
      input.focus();
      return;
    }
    if (call.send({ type: "chat", text })) {
      pending = text;
    } else {
      announce("chat.not_connected");
    }
    input.focus();
  });
  updateCounter();
}
