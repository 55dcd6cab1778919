// The "not started yet" page reloads itself when doors open, so a person who opened the
// link early does not have to do anything.

const notice = document.querySelector("[data-reload-in]");
const seconds = Number(notice?.dataset.reloadIn);
if (Number.isFinite(seconds) && seconds > 0) {
  // setTimeout overflows past ~24.8 days; a page left open that long reloads and re-arms.
  const delay = Math.min(seconds * 1000, 2 ** 31 - 1);
  setTimeout(() => location.reload(), delay);
}
