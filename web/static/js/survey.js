// The satisfaction survey: five large smileys after a session, anonymous, skippable.
//
// Used by the join page (after leaving), the tablet page and the kiosk. A person's page
// sends its attendee key (one answer per participant); a kiosk sends its device token and
// may collect many answers from the room, one after another.

const SVG_NS = "http://www.w3.org/2000/svg";
const FACE_COLOURS = ["#c8102e", "#e8590c", "#f2c200", "#7cb518", "#1e8e3e"];
// Mouth control point: a frown for 1, flat for 3, a wide smile for 5.
const MOUTH_Y = [10.5, 13, 15.5, 18.5, 21];
const THANKS_MS = 2500;
let counter = 0;

function ensureStyles() {
  if (document.querySelector('link[data-survey-css]')) return;
  const link = document.createElement("link");
  link.rel = "stylesheet";
  link.href = "/static/survey.css";
  link.dataset.surveyCss = "";
  document.head.append(link);
}

function face(score) {
  const svg = document.createElementNS(SVG_NS, "svg");
  svg.setAttribute("viewBox", "0 0 24 24");
  svg.setAttribute("aria-hidden", "true");
  svg.setAttribute("focusable", "false");
  svg.classList.add("survey-svg");
  const parts = [
    ["circle", { cx: 12, cy: 12, r: 11, fill: FACE_COLOURS[score - 1], stroke: "#111", "stroke-width": 1 }],
    ["circle", { cx: 8.5, cy: 9.5, r: 1.4, fill: "#111" }],
    ["circle", { cx: 15.5, cy: 9.5, r: 1.4, fill: "#111" }],
    [
      "path",
      {
        d: `M7 15.5 Q12 ${MOUTH_Y[score - 1]} 17 15.5`,
        fill: "none",
        stroke: "#111",
        "stroke-width": 1.6,
        "stroke-linecap": "round",
      },
    ],
  ];
  for (const [name, attributes] of parts) {
    const element = document.createElementNS(SVG_NS, name);
    for (const [key, value] of Object.entries(attributes)) element.setAttribute(key, String(value));
    svg.append(element);
  }
  return svg;
}

/**
 * Show the survey in ``parent``. Options:
 *  sessionId, channel, t (translator) – required
 *  attendeeKey – a person's page: one answer per participant
 *  deviceToken – a kiosk: many answers, the smileys come back after each
 *  dismissAfterMs – a kiosk removes the survey after this long without an answer
 *  before – insert before this child of parent (default: at the end)
 *  focus – move focus to the question (pages whose whole view is the survey)
 *  onDone(reason) – "answered", "skipped", "dismissed"
 * Returns {element, close()}.
 */
export function offerSurvey({
  parent,
  sessionId,
  channel,
  t,
  attendeeKey = null,
  deviceToken = null,
  dismissAfterMs = 0,
  before = null,
  focus = false,
  onDone = () => {},
}) {
  ensureStyles();
  counter += 1;
  const id = `survey-${counter}`;
  const shared = Boolean(deviceToken);
  const box = document.createElement("div");
  box.className = "survey";
  box.setAttribute("role", "region");
  box.setAttribute("aria-labelledby", `${id}-question`);
  box.dataset.sessionId = sessionId;

  const question = document.createElement("h2");
  question.id = `${id}-question`;
  question.className = "survey-question";
  question.tabIndex = -1;
  question.textContent = t("survey.question");
  const hint = document.createElement("p");
  hint.className = "survey-hint";
  hint.textContent = t("survey.anonymous");

  const faces = document.createElement("div");
  faces.className = "survey-faces";
  faces.setAttribute("role", "group");
  faces.setAttribute("aria-labelledby", `${id}-question`);
  const buttons = [];
  for (let score = 1; score <= 5; score += 1) {
    const button = document.createElement("button");
    button.type = "button";
    button.className = `survey-face survey-face-${score}`;
    button.dataset.score = String(score);
    const label = document.createElement("span");
    label.className = "survey-label";
    label.textContent = t(`survey.score.${score}`);
    button.append(face(score), label);
    button.addEventListener("click", () => answer(score));
    buttons.push(button);
    faces.append(button);
  }
  // Arrow keys move between the faces (Tab still walks through them too).
  faces.addEventListener("keydown", (event) => {
    const index = buttons.indexOf(document.activeElement);
    if (index < 0) return;
    let next = null;
    if (event.key === "ArrowRight" || event.key === "ArrowDown") next = Math.min(index + 1, 4);
    if (event.key === "ArrowLeft" || event.key === "ArrowUp") next = Math.max(index - 1, 0);
    if (event.key === "Home") next = 0;
    if (event.key === "End") next = 4;
    if (next !== null) {
      event.preventDefault();
      buttons[next].focus();
    }
  });

  const skip = document.createElement("button");
  skip.type = "button";
  skip.className = "button button-secondary survey-skip";
  skip.textContent = t("survey.skip");
  skip.addEventListener("click", () => close("skipped"));

  const result = document.createElement("p");
  result.className = "survey-result";
  result.setAttribute("role", "status");
  result.setAttribute("aria-live", "polite");

  box.append(question, hint, faces, skip, result);
  parent.insertBefore(box, before && before.parentNode === parent ? before : null);
  if (focus) question.focus();

  let closed = false;
  let dismissTimer = null;
  let thanksTimer = null;
  function armDismiss() {
    clearTimeout(dismissTimer);
    if (dismissAfterMs > 0) dismissTimer = setTimeout(() => close("dismissed"), dismissAfterMs);
  }
  armDismiss();

  function setBusy(busy) {
    for (const button of buttons) button.disabled = busy;
  }

  async function answer(score) {
    if (closed) return;
    setBusy(true);
    const headers = { "Content-Type": "application/json" };
    if (deviceToken) headers.Authorization = `Bearer ${deviceToken}`;
    const body = { score, channel };
    if (attendeeKey && !deviceToken) body.attendee_key = attendeeKey;
    let status = 0;
    try {
      const response = await fetch(`/api/sessions/${encodeURIComponent(sessionId)}/survey`, {
        method: "POST",
        headers,
        body: JSON.stringify(body),
      });
      status = response.status;
    } catch (error) {
      status = 0;
    }
    if (closed) return;
    box.dataset.lastStatus = String(status);
    if (status === 201) {
      box.dataset.answers = String(Number(box.dataset.answers || 0) + 1);
      result.textContent = t("survey.thanks");
    } else if (status === 409) {
      result.textContent = t("survey.already");
    } else if (status === 429 && shared) {
      setBusy(false); // a stuck button on a kiosk: ignore quietly
      return;
    } else {
      result.textContent = t("survey.failed");
      setBusy(false);
      return;
    }
    if (shared) {
      // A room of people: thank this one, then let the next person choose.
      armDismiss();
      clearTimeout(thanksTimer);
      thanksTimer = setTimeout(() => {
        if (closed) return;
        result.textContent = t("survey.next_person");
        setBusy(false);
      }, THANKS_MS);
    } else {
      faces.hidden = true;
      hint.hidden = true;
      skip.hidden = true;
      box.dataset.done = "true";
      onDone("answered");
    }
  }

  function close(reason = "closed") {
    if (closed) return;
    closed = true;
    clearTimeout(dismissTimer);
    clearTimeout(thanksTimer);
    box.remove();
    onDone(reason);
  }

  return { element: box, close };
}
