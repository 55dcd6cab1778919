// Measures one page at the current window size (tests/test_page_matrix.py): horizontal
// overflow, interactive targets under the minimum size, primary controls outside the first
// screen, and the document's height. Called with [primarySelectors, minTargetPx].
([primary, minTarget]) => {
  window.scrollTo(0, 0);
  const doc = document.documentElement;
  const W = doc.clientWidth, H = window.innerHeight;
  const name = (el) => {
    const id = el.id ? `#${el.id}` : "";
    const cls = typeof el.className === "string" && el.className ? `.${el.className.trim().split(/\s+/).join(".")}` : "";
    const text = (el.getAttribute("aria-label") || el.textContent || el.value || "").trim().replace(/\s+/g, " ").slice(0, 40);
    return `<${el.tagName.toLowerCase()}${id}${cls}> "${text}"`;
  };
  const shown = (el) => el.checkVisibility({ checkOpacity: true, checkVisibilityCSS: true });
  const result = { overflow: doc.scrollWidth - W, height: doc.scrollHeight, H, W, wide: [], small: [], outside: [] };
  if (result.overflow > 0) {
    for (const el of document.body.querySelectorAll("*")) {
      const r = el.getBoundingClientRect();
      if (r.width > 0 && r.right > W + 0.5 && shown(el)) result.wide.push(`${name(el)} right edge ${Math.round(r.right)}`);
      if (result.wide.length >= 5) break;
    }
  }
  const interactive = 'a[href], button, input:not([type="hidden"]), select, textarea, summary, ' +
    '[role="button"], [role="switch"], [role="link"], [tabindex]:not([tabindex="-1"])';
  for (const el of document.querySelectorAll(interactive)) {
    if (!shown(el)) continue;
    let r = el.getBoundingClientRect();
    if (r.width <= 1 && r.height <= 1) continue; // visually hidden: not a touch target
    if (el.matches('input[type="checkbox"], input[type="radio"]') && el.closest("label")) {
      r = el.closest("label").getBoundingClientRect();
    }
    if (r.width + 0.01 < minTarget || r.height + 0.01 < minTarget) {
      result.small.push(`${name(el)} ${Math.round(r.width)}x${Math.round(r.height)}`);
    }
  }
  for (const selector of primary) {
    const el = document.querySelector(selector);
    if (!el || !shown(el)) {
      result.outside.push(`${selector} is not shown`);
      continue;
    }
    const r = el.getBoundingClientRect();
    if (r.top < -0.5 || r.left < -0.5 || r.bottom > H + 0.5 || r.right > W + 0.5) {
      result.outside.push(`${selector} at ${Math.round(r.left)},${Math.round(r.top)}–${Math.round(r.right)},${Math.round(r.bottom)}`);
    }
  }
  return result;
}
