// The notice board: re-read the entries when the server says the programme changed
// (GET /api/programme/events, Server-Sent Events), and when the clock alone changes them
// (doors open, a start or an end, midnight: the fragment's data-next-change). The page
// itself never reloads; EventSource reconnects by itself after a restart.

const config = JSON.parse(document.getElementById("kohtaamo-config").textContent);
const holder = document.getElementById("board-entries");
const board = { swaps: 0, events: 0 };
window.kohtaamoBoard = board;

let clockTimer = null;
let fetching = null;
let again = false;

function scheduleClock() {
  clearTimeout(clockTimer);
  const days = holder.querySelector("#programme-days");
  const next = Date.parse(days?.dataset.nextChange || "");
  if (Number.isNaN(next)) return;
  // setTimeout holds about 24 days; re-check at least hourly (a sleeping screen's clock drifts).
  const wait = Math.min(Math.max(next - Date.now() + 1000, 1000), 3600 * 1000);
  clockTimer = setTimeout(refresh, wait);
}

async function refresh() {
  if (fetching) {
    again = true; // one more read after this one: never miss the last change
    return;
  }
  fetching = (async () => {
    try {
      const response = await fetch(config.fragment_url, { cache: "no-store" });
      if (!response.ok) return;
      const html = await response.text();
      const doc = new DOMParser().parseFromString(html, "text/html");
      const days = doc.getElementById("programme-days");
      if (days) {
        holder.replaceChildren(document.adoptNode(days));
        board.swaps += 1;
      }
    } catch {
      // The server is away; the stream's reconnection brings the next read.
    } finally {
      fetching = null;
      scheduleClock();
      if (again) {
        again = false;
        refresh();
      }
    }
  })();
}

const events = new EventSource(config.events_url);
events.addEventListener("programme", () => {
  board.events += 1;
  refresh();
});
scheduleClock();
