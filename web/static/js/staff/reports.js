// The reports page: fetch the attendance report, show it as a table, draw two charts
// (Chart.js, vendored in /static/vendor/chartjs/) and give each chart's data as a table too.
//
// The report's columns are read from the JSON itself, so a measure added on the server
// shows up here without a change; known columns get a translated heading.

const config = JSON.parse(document.getElementById("kohtaamo-config").textContent);
const messages = config.messages;
const choice = config.choice;
const t = (id, params = {}) =>
  (messages[id] ?? messages["error.generic"] ?? id).replace(/\{(\w+)\}/g, (whole, name) =>
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

function heading(column) {
  const known = messages[`reports.col.${column}`];
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

function drawChart(id, type, labels, datasets) {
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
        borderWidth: 2,
        tension: 0,
      })),
    },
    options: {
      responsive: true,
      maintainAspectRatio: false,
      // Figures, not a show: no animation (it also keeps screenshots and tests honest).
      animation: false,
      locale,
      plugins: { legend: { position: "bottom" } },
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
  const series = [
    ["reports.series.total", pick(rows, ["total", "participants", "total_participants"])],
    ["reports.series.in_person", pick(rows, ["in_person", "in_person_participants"])],
    ["reports.series.online", pick(rows, ["online", "online_participants", "online_total"])],
  ].filter(([, key]) => key);
  const labels = rows.map((row) => String(labelOf(row)));
  const datasets = series.map(([label, key]) => ({ label: t(label), data: rows.map((row) => row[key] ?? 0) }));
  drawChart("trend-chart", "line", labels, datasets);
  chartTable("trend-table", t("reports.group.month"), labels, datasets);
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
    const columns = columnsOf(rows.length ? rows : totals);
    // The totals row is named by this page, whatever the API calls it.
    const foot = totals.map((row) => ({ ...row, [columns[0]]: t("dash.total") }));
    fillTable($("report-table"), columns, rows, foot, t(`reports.group.${choice.group_by}`));
    status.textContent = rows.length ? t("reports.loaded", { rows: rows.length }) : t("reports.no_rows");
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

window.kohtaamoReport = load().catch((error) => {
  status.textContent = t("reports.failed", { status: error.message });
});
