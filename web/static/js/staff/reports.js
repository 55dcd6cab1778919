// The reports page: fetch the attendance report, show it as a table, draw two charts
// (Chart.js, vendored in /static/vendor/chartjs/) and give each chart's data as a table too.
//
// The report's columns are read from the JSON itself, so a measure added on the server
// shows up here without a change; known columns get a translated heading.

const config = JSON.parse(document.getElementById("kohtaamo-config").textContent);
const messages = config.messages;
const choice = config.choice;
// A plural message is {one: ..., other: ...}: params.count picks the form (Intl.PluralRules).
const plural = (text, params) =>
  typeof text === "string" ? text : (text[new Intl.PluralRules(config.lang).select(Number(params.count))] ?? text.other);
const t = (id, params = {}) =>
  plural(messages[id] ?? messages["error.generic"] ?? id, params).replace(/\{(\w+)\}/g, (whole, name) =>
    name in params ? String(params[name]) : whole,
  );
const $ = (id) => document.getElementById(id);
const locale = config.lang === "en" ? "en-GB" : "fi-FI";
const numberFormat = new Intl.NumberFormat(locale, { maximumFractionDigits: 2 });
const status = $("report-status");

// -- reading the report generically --------------------------------------------------------------
/** The rows, whatever the envelope: a list, or an object with rows/groups. */
function rowsOf(data) {
  if (Array.isArray(data)) return data;
  for (const key of ["rows", "groups", "data", "items"]) {
    if (Array.isArray(data?.[key])) return data[key];
  }
  return [];
}

/** Nested objects (e.g. per_1000: {total: …}) become columns "per_1000.total". */
function flatten(row, prefix = "", out = {}) {
  for (const [key, value] of Object.entries(row ?? {})) {
    const name = prefix ? `${prefix}.${key}` : key;
    if (value !== null && typeof value === "object" && !Array.isArray(value)) {
      flatten(value, name, out);
    } else {
      out[name] = value;
    }
  }
  return out;
}

function columnsOf(rows) {
  const columns = [];
  for (const row of rows) {
    for (const key of Object.keys(row)) if (!columns.includes(key)) columns.push(key);
  }
  // With a readable label, the machine key is noise in the table.
  if (columns.includes("label")) return ["label", ...columns.filter((c) => c !== "key" && c !== "label")];
  return columns;
}

/** A column heading as a person reads it: the CSV's (lower-case) name, capitalised. */
function heading(column) {
  const text = rawHeading(column);
  return text.charAt(0).toLocaleUpperCase(locale) + text.slice(1);
}

function rawHeading(column) {
  const known = messages[`reports.page.${column}`] ?? messages[`reports.col.${column}`];
  if (known) return known;
  const [base, sub] = column.split(".");
  if (sub && messages[`reports.col.${sub}_${base}`]) return messages[`reports.col.${sub}_${base}`];
  if (sub && messages[`reports.col.${base}`] && messages[`reports.col.${sub}`]) {
    return `${messages[`reports.col.${sub}`]} (${messages[`reports.col.${base}`]})`;
  }
  return column;
}

function display(value) {
  if (value === null || value === undefined || value === "") return "–";
  if (typeof value === "number") return numberFormat.format(value);
  if (typeof value === "boolean") return value ? "✓" : "–";
  return String(value);
}

function labelOf(row) {
  return row.label ?? row.name ?? row.key ?? row.group ?? row[choice.group_by] ?? "";
}

/** The first of ``names`` that the rows carry as a number. */
function pick(rows, names) {
  return names.find((name) => rows.some((row) => typeof row[name] === "number")) ?? null;
}

// -- tables ---------------------------------------------------------------------------------------
function fillTable(table, columns, rows, footRows = [], firstHeading = null) {
  const head = table.tHead;
  const body = table.tBodies[0];
  const foot = table.tFoot;
  head.replaceChildren();
  body.replaceChildren();
  foot?.replaceChildren();
  const headRow = head.insertRow();
  for (const column of columns) {
    const th = document.createElement("th");
    th.scope = "col";
    th.textContent = column === columns[0] && firstHeading ? firstHeading : heading(column);
    if (column !== columns[0]) th.className = "num";
    headRow.append(th);
  }
  const addRow = (section, row) => {
    const tr = section.insertRow();
    columns.forEach((column, index) => {
      const cell = document.createElement(index === 0 ? "th" : "td");
      if (index === 0) cell.scope = "row";
      const value = row[column];
      cell.textContent = display(value);
      if (typeof value === "number") cell.className = "num";
      tr.append(cell);
    });
  };
  rows.forEach((row) => addRow(body, row));
  if (foot) footRows.forEach((row) => addRow(foot, row));
}

// -- charts ---------------------------------------------------------------------------------------
const charts = {};
const COLOURS = ["#0b4f8a", "#b3541e", "#2e7d32", "#6a1b9a"];

// Chart text as readable as the page's: 15 px, near-black (Chart.js defaults to 12 px grey).
if (typeof window.Chart === "function") {
  window.Chart.defaults.font.size = 15;
  window.Chart.defaults.font.family = getComputedStyle(document.body).fontFamily;
  window.Chart.defaults.color = "#111";
  window.Chart.defaults.borderColor = "#bbb";
}

function drawChart(id, type, labels, datasets, { dashedFrom = null } = {}) {
  const canvas = $(id);
  charts[id]?.destroy();
  if (typeof window.Chart !== "function") return;
  charts[id] = new window.Chart(canvas, {
    type,
    data: {
      labels,
      datasets: datasets.map((set, index) => ({
        ...set,
        borderColor: COLOURS[index % COLOURS.length],
        backgroundColor: COLOURS[index % COLOURS.length],
        borderWidth: 3,
        pointRadius: 4,
        tension: 0,
        // The unfinished month: a dashed line, so its drop does not read as a fall.
        segment:
          dashedFrom === null
            ? undefined
            : { borderDash: (ctx) => (ctx.p1DataIndex >= dashedFrom ? [8, 6] : undefined) },
      })),
    },
    options: {
      responsive: true,
      maintainAspectRatio: false,
      // Figures, not a show: no animation (it also keeps screenshots and tests honest).
      animation: false,
      locale,
      plugins: { legend: { position: "bottom", labels: { boxWidth: 18, padding: 16 } } },
      scales: { y: { beginAtZero: true } },
    },
  });
}

function chartTable(tableId, labelHeading, labels, datasets) {
  const rows = labels.map((label, i) => {
    const row = { [labelHeading]: label };
    for (const set of datasets) row[set.label] = set.data[i];
    return row;
  });
  fillTable($(tableId), [labelHeading, ...datasets.map((s) => s.label)], rows);
}

function showTrend(rows) {
  rows = rows.map((row) => flatten(row));
  const thisMonth = config.today.slice(0, 7);
  // No future months, and no empty months before the first one with anything in it.
  rows = rows.filter((row) => String(row.key) <= thisMonth);
  const first = rows.findIndex((row) => (row.total ?? 0) > 0 || (row.sessions_held ?? 0) > 0);
  rows = first < 0 ? [] : rows.slice(first);
  const series = [
    ["reports.series.total", pick(rows, ["total", "participants", "total_participants"])],
    ["reports.series.in_person", pick(rows, ["in_person", "in_person_participants"])],
    ["reports.series.online", pick(rows, ["online", "online_participants", "online_total"])],
  ].filter(([, key]) => key);
  const unfinished = rows.length && String(rows[rows.length - 1].key) === thisMonth;
  const labels = rows.map((row, index) => {
    const label = String(labelOf(row));
    return unfinished && index === rows.length - 1 ? t("reports.unfinished", { month: label }) : label;
  });
  const datasets = series.map(([label, key]) => ({ label: t(label), data: rows.map((row) => row[key] ?? 0) }));
  drawChart("trend-chart", "line", labels, datasets, { dashedFrom: unfinished ? rows.length - 1 : null });
  chartTable("trend-table", t("reports.group.month"), labels, datasets);
  if (labels.length) {
    // Say which months the chart really shows (empty months before the first are left out).
    $("trend-caption").textContent = t("reports.trend_months", {
      start: String(labelOf(rows[0])),
      end: String(labelOf(rows[rows.length - 1])),
    });
  }
  const note = $("trend-note");
  note.hidden = !unfinished;
  note.textContent = unfinished ? t("reports.unfinished_note", { day: config.today_label }) : "";
}

function showAreas(rows) {
  rows = rows.map((row) => flatten(row));
  const key = pick(rows, ["total_per_1000", "per_1000.total", "participants_per_1000", "per_1000"]);
  const labels = rows.map((row) => String(labelOf(row)));
  const datasets = key ? [{ label: t("reports.series.per_1000"), data: rows.map((row) => row[key] ?? 0) }] : [];
  drawChart("areas-chart", "bar", labels, datasets);
  chartTable("areas-table", t("reports.group.area"), labels, datasets);
}

// -- loading --------------------------------------------------------------------------------------
async function fetchReport(from, to, groupBy) {
  const query = new URLSearchParams({ from, to, group_by: groupBy, lang: config.lang });
  const response = await fetch(`${config.report_url}?${query}`, {
    credentials: "same-origin",
    headers: { Accept: "application/json" },
  });
  if (!response.ok) throw new Error(String(response.status));
  return response.json();
}

/** The few columns a person reads at a glance; the rest are in the full table. */
const SHORT_COLUMNS = ["sessions_held", "in_person", "online", "total", "per_1000.total"];

function shortTable(rows, totals) {
  const table = $("report-table");
  const columns = ["label", ...SHORT_COLUMNS];
  const group = t(`reports.group.${choice.group_by}`);
  table.tHead.replaceChildren();
  table.tBodies[0].replaceChildren();
  table.tFoot.replaceChildren();
  const head = table.tHead.insertRow();
  for (const column of columns) {
    const th = document.createElement("th");
    th.scope = "col";
    th.textContent = column === "label" ? group : heading(column);
    if (column !== "label") th.className = "num";
    head.append(th);
  }
  const addRow = (section, row, label) => {
    const tr = section.insertRow();
    for (const column of columns) {
      const cell = document.createElement(column === "label" ? "th" : "td");
      if (column === "label") {
        cell.scope = "row";
        cell.textContent = label;
        tr.append(cell);
        continue;
      }
      cell.className = "num";
      cell.textContent = display(row[column]);
      // A row whose people sat at a screen showing another venue's broadcast says so: its
      // sessions and hours count at the host (docs/librarian.md: "Where participants count").
      const receiving = row.in_person_receiving ?? 0;
      if (column === "in_person" && receiving > 0) {
        const note = document.createElement("span");
        note.className = "cell-note";
        note.textContent = t("reports.of_which_receiving", { n: numberFormat.format(receiving) });
        cell.append(note);
      }
      tr.append(cell);
    }
  };
  rows.forEach((row) => addRow(table.tBodies[0], row, String(labelOf(row))));
  totals.forEach((row) => addRow(table.tFoot, row, t("dash.total")));
}

function keyFigures(totals) {
  const list = $("key-figures");
  list.replaceChildren();
  if (!totals) return;
  const figures = [
    ["reports.key.total", totals.total, true],
    ["reports.key.in_person", totals.in_person],
    ["reports.key.online", totals.online],
    ["reports.key.sessions", totals.sessions_held],
    ["reports.key.per_1000", totals["per_1000.total"]],
    ["reports.key.satisfaction", totals.satisfaction_mean],
  ];
  for (const [key, value, main] of figures) {
    const item = document.createElement("div");
    item.className = main ? "key-figure key-figure-main" : "key-figure";
    const term = document.createElement("dt");
    term.textContent = t(key);
    const figure = document.createElement("dd");
    figure.textContent = display(value);
    item.append(term, figure);
    list.append(item);
  }
}

async function load() {
  status.textContent = t("reports.loading");
  const results = await Promise.allSettled([
    fetchReport(choice.from, choice.to, choice.group_by),
    fetchReport(choice.trend_from, choice.to, "month"),
    fetchReport(choice.from, choice.to, "area"),
  ]);
  const [main, trend, areas] = results;
  if (main.status === "fulfilled") {
    const data = main.value;
    const rows = rowsOf(data).map((row) => flatten(row));
    const totals = data && !Array.isArray(data) && data.totals ? [flatten(data.totals)] : [];
    keyFigures(totals[0]);
    shortTable(rows, totals);
    const columns = columnsOf(rows.length ? rows : totals);
    // The totals row is named by this page, whatever the API calls it.
    const foot = totals.map((row) => ({ ...row, [columns[0]]: t("dash.total") }));
    fillTable($("report-table-full"), columns, rows, foot, t(`reports.group.${choice.group_by}`));
    status.textContent = rows.length ? t("reports.loaded", { count: rows.length }) : t("reports.no_rows");
  } else {
    status.textContent = t("reports.failed", { status: main.reason?.message ?? "?" });
  }
  if (trend.status === "fulfilled") showTrend(rowsOf(trend.value));
  else showTrend([]);
  if (areas.status === "fulfilled") showAreas(rowsOf(areas.value));
  else showAreas([]);
}

// Editing a date means a custom period.
for (const input of [$("report-from"), $("report-to")]) {
  input.addEventListener("input", () => {
    $("period-custom").checked = true;
  });
}

window.kohtaamoReport = load()
  .catch((error) => {
    status.textContent = t("reports.failed", { status: error.message });
  })
  .finally(() => {
    window.kohtaamoReportDone = true;
  });
