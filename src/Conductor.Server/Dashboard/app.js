// Conductor's dashboard. It is updated by the server's event stream (Server-Sent Events), not by polling. It logs in with a session cookie: from the link `conductor dashboard` prints (its
// fragment carries a single-use code), or by trading a pasted token for one; the token itself is not kept.
"use strict";

const STATES = ["PENDING", "RUNNING", "COMPLETED", "FAILED", "TIMEOUT", "OUT_OF_MEMORY", "CANCELLED", "NODE_FAIL"];

const $ = (id) => document.getElementById(id);
let stream = null;
let reconnectTimer = null;
let refreshing = false;
let refreshAgain = false;
let generation = 0;
let jobView = null;
let current = { kind: "overview" };

class Unauthorized extends Error {}

function el(tag, props, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(props || {})) {
    if (value === undefined || value === null) continue;
    if (key === "class") node.className = value;
    else if (key === "text") node.textContent = value;
    else if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
    else if (key === "dataset") Object.assign(node.dataset, value);
    else node.setAttribute(key, value);
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

async function api(path, options = {}) {
  // The header tells the server this request comes from the dashboard's own script (cross-site forgery guard).
  const headers = { Accept: "application/json", "X-Conductor-Request": "1", ...(options.headers || {}) };
  // Submit and cancel must be JSON, so that a plain cross-site form can never post one.
  if (options.body !== undefined || options.method === "POST") headers["Content-Type"] = "application/json";
  const response = await fetch(path, { ...options, headers, credentials: "same-origin" });
  if (response.status === 401 && !options.allow401) throw new Unauthorized();
  if (response.status === 204) return null;
  const body = await response.json().catch(() => null);
  if (!response.ok) {
    const detail = body && (body.detail || body.title);
    throw new Error(detail || `The server answered ${response.status}.`);
  }
  return body;
}

function stateBadge(state) {
  return el("span", { class: `state s-${state}`, text: state });
}

function formatTime(iso) {
  if (!iso) return "";
  const d = new Date(iso);
  const today = new Date();
  const time = d.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit", second: "2-digit" });
  return d.toDateString() === today.toDateString() ? time : `${d.toLocaleDateString()} ${time}`;
}

function mib(n) {
  if (n >= 1024 * 1024) return (n / (1024 * 1024)).toFixed(1) + " TiB";
  if (n >= 1024) return (n / 1024).toFixed(1) + " GiB";
  return n + " MiB";
}

function meter(part, whole, cls) {
  const fill = el("div", { class: "fill" + (cls ? " " + cls : "") });
  fill.style.width = (whole > 0 ? Math.min(100, (part * 100) / whole) : 0) + "%";
  return el("div", { class: "meter" }, fill);
}

function jobLink(job, text) {
  return el("a", { href: `#/jobs/${job.job_id}`, text: text || job.display_id || job.job_id });
}

// An array's tasks by state, e.g. "2 running · 96 pending · 2 completed".
function taskCounts(counts) {
  if (!counts) return null;
  const parts = Object.entries(counts).filter(([, n]) => n > 0).map(([s, n]) => `${n} ${s.toLowerCase().replace(/_/g, " ")}`);
  return el("div", { class: "muted tasks", text: parts.join(" · ") });
}

// The pending tasks of one array waiting for the same reason are one row, as squeue shows them: 123_[8-100%4].
function collapseArrays(jobs) {
  const groups = new Map();
  const rows = [];
  for (const j of jobs) {
    if (!j.array_job_id) { rows.push({ job: j, id: j.display_id || j.job_id }); continue; }
    const key = `${j.array_job_id}|${j.reason || ""}`;
    if (!groups.has(key)) { groups.set(key, { job: j, ids: [] }); rows.push(groups.get(key)); }
    const g = groups.get(key);
    if (j.array_pending_tasks) g.job = j;
    g.ids.push(j.array_task_id != null ? String(j.array_task_id) : j.array_pending_tasks);
  }
  for (const g of groups.values()) {
    const limit = g.job.array && g.job.array.includes("%") ? "%" + g.job.array.split("%")[1] : "";
    g.id = g.ids.length === 1 && !g.job.array_pending_tasks ? g.job.display_id : `${g.job.array_job_id}_[${g.ids.join(",")}${limit}]`;
  }
  return rows;
}

function cancelButton(job) {
  return el("button", {
    class: "danger cancel",
    type: "button",
    text: "Cancel",
    title: `Cancel job ${job.job_id}`,
    dataset: { jobId: job.job_id },
    onclick: (e) => cancelJob(job.job_id, e.currentTarget),
  });
}

async function cancelJob(id, button) {
  if (!window.confirm(`Cancel job ${id}?`)) return;
  if (button) button.disabled = true;
  try {
    await api(`/api/v1/jobs/${id}/cancel`, { method: "POST" });
    requestRefresh();
  } catch (e) {
    handleError(e);
  } finally {
    if (button) button.disabled = false;
  }
}

/** A held job's Release button: an admin's hold (JobHeldAdmin) is released only by the admin, as the server says. */
function releaseButton(job) {
  return el("button", {
    class: "release",
    type: "button",
    text: "Release",
    title: `Release job ${job.job_id} (${job.reason || "held"})`,
    dataset: { jobId: job.job_id },
    onclick: (e) => setHold(job.job_id, false, e.currentTarget),
  });
}

async function setHold(id, hold, button) {
  if (button) button.disabled = true;
  try {
    await api(`/api/v1/jobs/${id}/${hold ? "hold" : "release"}`, { method: "POST" });
    requestRefresh();
  } catch (e) {
    handleError(e);
  } finally {
    if (button) button.disabled = false;
  }
}

function fillRows(tbody, rows, columns, empty) {
  tbody.replaceChildren(
    ...(rows.length === 0 ? [el("tr", {}, el("td", { class: "empty", colspan: columns, text: empty }))] : rows));
}

function renderOverview(dash, recent) {
  const counts = dash.jobs;
  $("counts").replaceChildren(
    ...[...STATES, "TOTAL"].map((s) =>
      el("div", { class: `count s-${s}`, dataset: { state: s } },
        el("div", { class: "n", text: counts[s] ?? 0 }),
        el("div", { class: "label", text: s.replace(/_/g, " ") }))));

  $("cpu-bar").style.width = dash.cpus.utilization + "%";
  $("cpu-text").textContent = `${dash.cpus.allocated} of ${dash.cpus.total} allocated (${dash.cpus.utilization}%), ${dash.cpus.idle} idle`;
  $("mem-bar").style.width = dash.memory.utilization + "%";
  $("mem-text").textContent = `${mib(dash.memory.allocated_mib)} of ${mib(dash.memory.total_mib)} reserved (${dash.memory.utilization}%)`;

  fillRows($("nodes"), dash.nodes.map((n) => el("tr", { dataset: { node: n.name } },
    el("td", {}, el("strong", { text: n.name })),
    el("td", {}, stateBadge(n.state), ...(n.reason ? [el("span", { class: "muted node-reason", text: n.reason, title: n.reason_user ? `${n.reason_user}, ${formatTime(n.reason_time)}` : "" })] : [])),
    el("td", { text: n.partitions.join(", ") }),
    el("td", {}, el("div", { class: "cell-meter" }, meter(n.cpus_allocated, n.cpus), el("span", { text: `${n.cpus_allocated}/${n.cpus}` }))),
    el("td", {}, el("div", { class: "cell-meter" }, meter(n.memory_allocated_mib, n.memory_mib, "mem"), el("span", { text: `${mib(n.memory_allocated_mib)} / ${mib(n.memory_mib)}` }))),
    el("td", { class: "num", title: n.gres ?? "", text: n.gpus ? `${n.gpus_allocated}/${n.gpus}` : "–" }),
    el("td", { class: "num", text: n.running_jobs }),
    el("td", { class: "muted", text: formatTime(n.last_heartbeat) }))), 8, "No nodes have registered.");

  $("running-count").textContent = counts.RUNNING ?? 0;
  const arrays = dash.arrays || {};
  fillRows($("running"), dash.running.map((j) => el("tr", { dataset: { jobId: j.job_id } },
    el("td", { class: "num" }, jobLink(j)),
    el("td", { text: j.detail.name }),
    el("td", { text: j.detail.account }),
    el("td", { text: j.detail.partition }),
    el("td", { class: "num", text: j.detail.cpus }),
    el("td", { text: j.detail.node_list }),
    el("td", { class: "num", text: j.time.elapsed }),
    el("td", { class: "num", text: j.time.limit }),
    el("td", {}, cancelButton(j)))), 9, "Nothing is running.");

  $("pending-count").textContent = counts.PENDING ?? 0;
  fillRows($("pending"), collapseArrays(dash.pending).map(({ job: j, id }) => el("tr", { dataset: { jobId: j.job_id } },
    el("td", { class: "num" }, jobLink(j, id), taskCounts(arrays[j.array_job_id])),
    el("td", { text: j.detail.name }),
    el("td", { text: j.detail.account }),
    el("td", { text: j.detail.partition }),
    el("td", { class: "num", text: j.detail.cpus }),
    el("td", { text: j.reason || "" }),
    el("td", { class: "muted", text: formatTime(j.time.submit) }),
    el("td", {}, j.detail.hold ? releaseButton(j) : null, cancelButton(j)))), 8, "Nothing is waiting.");

  fillRows($("recent"), recent.jobs.map((j) => el("tr", { dataset: { jobId: j.job_id } },
    el("td", { class: "num" }, jobLink(j)),
    el("td", { text: j.detail.name }),
    el("td", { text: j.detail.account }),
    el("td", {}, stateBadge(j.state)),
    el("td", { text: j.exit_code || "" }),
    el("td", { class: "num", text: j.time.elapsed }),
    el("td", { class: "muted", text: formatTime(j.time.submit) }))), 7, "No jobs yet.");
}

async function loadOverview() {
  const [dash, recent] = await Promise.all([api("/api/v1/dashboard"), api("/api/v1/jobs?order=desc&limit=15")]);
  renderOverview(dash, recent);
}

function detailRows(job) {
  const d = job.detail, t = job.time;
  const rows = [
    ["Name", d.name], ["Account", d.account], ["Partition", d.partition], ["Reason", job.reason],
    ["Dependency", d.dependency], ["Held", d.hold && job.state === "PENDING" ? (job.reason === "JobHeldAdmin" ? "by the admin" : "yes") : ""],
    ["Exit code", job.exit_code], ["Error", job.error_msg], ["CPUs", `${d.cpus} (${d.ntasks} × ${d.cpus_per_task})`],
    ["Memory", d.memory || "none reserved"], ["Node", d.node_list], ["Cores", d.cores],
    ["Submitted", formatTime(t.submit)], ["Started", formatTime(t.start)], ["Ended", formatTime(t.end)],
    ["Elapsed", t.elapsed], ["Time limit", t.limit], ["Work dir", d.work_dir],
    ["Arguments", d.arguments.join(" ")], ["CPU time", job.usage.cpu_seconds != null ? job.usage.cpu_seconds.toFixed(2) + " s" : ""],
    ["Max RSS", job.usage.max_rss_kib != null ? mib(Math.round(job.usage.max_rss_kib / 1024)) : ""], ["Attempt", job.attempt],
    ["Array", job.array ? `${job.array_job_id} (${job.array})` : ""], ["Raw job id", job.array_job_id ? job.job_id : ""],
    ["Array tasks", job.array_tasks ? Object.entries(job.array_tasks).map(([s, n]) => `${s} ${n}`).join(", ") : ""],
  ];
  return rows.filter(([, v]) => v !== null && v !== undefined && v !== "")
    .map(([k, v]) => el("tr", {}, el("td", { text: k }), el("td", { text: String(v) })));
}

function duration(seconds) {
  const s = Math.max(0, Math.floor(seconds));
  const d = Math.floor(s / 86400), h = Math.floor(s / 3600) % 24, m = Math.floor(s / 60) % 60, sec = s % 60;
  const pad = (n) => String(n).padStart(2, "0");
  return (d > 0 ? `${d}-${pad(h)}:` : h > 0 ? `${h}:` : "") + (d > 0 || h > 0 ? pad(m) : m) + ":" + pad(sec);
}

function percent(value) {
  return value === null || value === undefined ? "n/a" : value.toFixed(2) + "%";
}

/** seff's two figures, each with a bar: CPU time over elapsed × CPUs, peak memory over the memory requested. */
function renderEfficiency(job) {
  const e = job.efficiency;
  if (!e || job.state === "PENDING") {
    $("job-efficiency").replaceChildren(el("p", { class: "muted", text: "Known once the job runs." }));
    return;
  }
  const cpuText = e.cpu_percent === null
    ? `no CPU time recorded yet, of ${duration(e.core_walltime_seconds)} core-walltime`
    : `${percent(e.cpu_percent)} of ${duration(e.core_walltime_seconds)} core-walltime (${e.cpus} CPU${e.cpus === 1 ? "" : "s"})`;
  const memText = e.memory_requested_kib === null
    ? "no memory requested"
    : `${percent(e.memory_percent)} of ${mib(Math.round(e.memory_requested_kib / 1024))}`;
  const row = (label, value, text, id) => el("div", { class: "eff-row", id },
    el("span", { class: "eff-label", text: label }),
    meter(value ?? 0, 100, value !== null && value < 25 ? "low" : ""),
    el("span", { class: "eff-text", text }));
  $("job-efficiency").replaceChildren(...[
    row("CPU", e.cpu_percent, cpuText, "eff-cpu"),
    row("Memory", e.memory_percent, memText, "eff-mem"),
    job.state === "RUNNING" ? el("p", { class: "muted small", text: "Usage so far; figures settle when the job ends." }) : null,
  ].filter(Boolean));
}

/** Output arrives on the event stream from the offsets the page has; a piece seen twice (after a reconnect) is dropped. */
function appendOutput(view, chunk) {
  const pre = chunk.stream === "stderr" ? $("job-stderr") : $("job-stdout");
  if (view !== current || chunk.offset !== view.offsets[chunk.stream]) return;
  if (chunk.data) {
    const atBottom = pre.scrollTop + pre.clientHeight >= pre.scrollHeight - 4;
    pre.append(chunk.data);
    if (atBottom) pre.scrollTop = pre.scrollHeight;
  }
  view.offsets[chunk.stream] = chunk.next_offset;
}

async function loadJob(view) {
  const [job, events] = await Promise.all([api(`/api/v1/jobs/${view.id}`), api(`/api/v1/jobs/${view.id}/events`)]);
  if (view !== jobView) return;
  $("job-title").textContent = `Job ${job.display_id || job.job_id} · ${job.detail.name}`;
  $("job-state").replaceWith(Object.assign(stateBadge(job.state), { id: "job-state" }));
  const active = job.state === "PENDING" || job.state === "RUNNING";
  $("job-cancel").hidden = !active;
  $("job-hold").hidden = !(job.state === "PENDING" && !job.detail.hold);
  $("job-release").hidden = !(job.state === "PENDING" && job.detail.hold);
  $("job-error").hidden = !job.error_msg;
  $("job-error").textContent = job.error_msg || "";
  $("job-details").replaceChildren(...detailRows(job));
  renderEfficiency(job);
  $("job-events").replaceChildren(...events.map((e) => el("li", {},
    el("span", { class: "kind", text: e.kind.replace(/_/g, " ") }),
    el("span", { class: "when", text: formatTime(e.time) }),
    e.detail ? el("div", { class: "detail", text: e.detail }) : null)));
  $("stdout-path").textContent = job.detail.stdout_path || job.detail.standard_output;
  const separate = job.detail.stderr_path && job.detail.stderr_path !== job.detail.stdout_path;
  $("stderr-panel").hidden = !separate;
  $("stderr-path").textContent = separate ? job.detail.stderr_path : "";
}

// ---- history ----

const HISTORY_FIELDS = ["state", "account", "name", "partition", "from", "to", "sort", "order"];

function cpuTime(seconds) {
  if (seconds === null || seconds === undefined) return "";
  if (seconds >= 3600) return duration(seconds);
  const m = Math.floor(seconds / 60), s = seconds - m * 60;
  return `${String(m).padStart(2, "0")}:${s.toFixed(3).padStart(6, "0")}`;
}

function kib(n) {
  if (n === null || n === undefined) return "";
  if (n < 1024) return n + "K";
  if (n < 1024 * 1024) return (n / 1024).toFixed(1) + "M";
  return (n / (1024 * 1024)).toFixed(2) + "G";
}

/** datetime-local (local time, no zone) ⇄ the API's ISO times. */
function toIsoTime(local) {
  return local ? new Date(local).toISOString() : "";
}

function toLocalInput(iso) {
  if (!iso) return "";
  const d = new Date(iso);
  if (isNaN(d)) return "";
  const pad = (n) => String(n).padStart(2, "0");
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}T${pad(d.getHours())}:${pad(d.getMinutes())}`;
}

function fillHistoryForm(params) {
  for (const f of HISTORY_FIELDS) {
    const input = $("h-" + f);
    let value = params.get(f) || "";
    if ((f === "sort" && value === "end") || (f === "order" && value === "desc")) value = "";
    input.value = f === "from" || f === "to" ? toLocalInput(value) : value;
  }
}

function historyParamsFromForm() {
  const params = new URLSearchParams();
  for (const f of HISTORY_FIELDS) {
    let value = $("h-" + f).value.trim();
    if (f === "from" || f === "to") value = toIsoTime(value);
    if (value) params.set(f, value);
  }
  return params;
}

function sortBy(field) {
  const params = new URLSearchParams(current.params);
  const same = (params.get("sort") || "end") === field;
  params.set("sort", field);
  params.set("order", same && params.get("order") !== "asc" ? "asc" : "desc");
  location.hash = "#/history?" + params.toString();
}

async function loadHistory(view) {
  const params = new URLSearchParams(view.params);
  params.set("limit", "50");
  const cursor = view.cursors[view.cursors.length - 1];
  if (cursor) params.set("after", cursor);
  const page = await api("/api/v1/history?" + params.toString());
  if (view !== current) return;
  view.next = page.next_after;
  const eff = (v) => el("td", { class: "num" + (v !== null && v !== undefined && v < 25 ? " low" : ""), text: v === null || v === undefined ? "" : v.toFixed(1) + "%" });
  fillRows($("history-rows"), page.jobs.map((j) => el("tr", { dataset: { jobId: j.job_id } },
    el("td", { class: "num" }, jobLink(j)),
    el("td", { text: j.detail.name }),
    el("td", { text: j.detail.account }),
    el("td", { text: j.detail.partition }),
    el("td", {}, stateBadge(j.state)),
    el("td", { text: j.exit_code || "" }),
    el("td", { class: "num", text: j.time.elapsed }),
    el("td", { class: "num", text: j.time.wait_seconds === null || j.time.wait_seconds === undefined ? "" : duration(j.time.wait_seconds) }),
    el("td", { class: "num", text: cpuTime(j.usage.cpu_seconds) }),
    el("td", { class: "num", text: kib(j.usage.max_rss_kib) }),
    eff(j.efficiency && j.efficiency.cpu_percent),
    eff(j.efficiency && j.efficiency.memory_percent),
    el("td", { class: "muted", text: formatTime(j.time.end) }))), 13, "No ended job matches.");
  $("history-page").textContent = `page ${view.cursors.length + 1}`;
  $("history-prev").disabled = view.cursors.length === 0;
  $("history-next").disabled = !view.next;
  const sort = view.params.get("sort") || "end", order = view.params.get("order") || "desc";
  for (const button of document.querySelectorAll("#charts [data-range]")) {
    button.addEventListener("click", () => { location.hash = "#/charts?range=" + button.dataset.range; });
  }
  window.addEventListener("resize", () => { if (current.kind === "charts") { current.force = true; requestRefresh(); } });
  // The minute rolls over even when nothing happens: the charts page (only it) reads the charts again each minute.
  setInterval(() => { if (current.kind === "charts" && !document.hidden) { current.force = true; requestRefresh(); } }, 60000);
  for (const th of document.querySelectorAll("#history th[data-sort]")) {
    th.classList.toggle("sorted", th.dataset.sort === sort);
    th.dataset.order = th.dataset.sort === sort ? order : "";
  }
}

// ---- charts ----

const CHART_COLORS = { allocated: "#2f855a", total: "#1d2330", gpus: "#6b46c1", gpusTotal: "#9f7aea", pending: "#b7791f", running: "#2f855a", started: "#2b6cb0", finished: "#718096", wait: "#c05621" };
let charts = [];

function sum(values) {
  return values.reduce((a, v) => a + (v || 0), 0);
}

function drawChart(container, series, columns, data, options = {}) {
  const width = Math.max(300, container.clientWidth || 500);
  const chart = new uPlot({
    width,
    height: 220,
    series: [{}, ...series],
    scales: { x: { time: true }, y: { range: (u, min, max) => [0, Math.max(1, max * 1.1)] } },
    axes: [{}, { label: options.unit || "", size: 60 }],
    legend: { live: true },
    ...options.extra,
  }, [data.time, ...columns], container);
  charts.push(chart);
  return chart;
}

function lineSeries(label, color, sparse, dash) {
  return { label, stroke: color, width: 2, dash, spanGaps: false, points: { show: sparse, size: 5, fill: color } };
}

async function loadCharts(view) {
  // Charts are redrawn when the range changes, on a change in the cluster at most every 10 s, and every minute.
  if (view.data && view.loaded && Date.now() - view.loaded < 10000 && !view.force) return;
  view.force = false;
  const data = await api(`/api/v1/charts?range=${encodeURIComponent(view.range)}`);
  if (view !== current) return;
  view.data = data;
  view.loaded = Date.now();
  for (const button of document.querySelectorAll("#charts [data-range]")) button.classList.toggle("active", button.dataset.range === data.range);
  for (const chart of charts) chart.destroy();
  charts = [];
  const sparse = data.range === "hour";
  const cpus = $("chart-cpus"), jobs = $("chart-jobs"), throughput = $("chart-throughput"), wait = $("chart-wait");
  for (const c of [cpus, jobs, throughput, wait]) c.replaceChildren();

  const cpuSeries = [lineSeries("allocated", CHART_COLORS.allocated, sparse), lineSeries("total", CHART_COLORS.total, sparse, [6, 4])];
  const cpuColumns = [data.cpus_allocated, data.cpus_total];
  if (data.gpus_total) {
    cpuSeries.push(lineSeries("GPUs allocated", CHART_COLORS.gpus, sparse), lineSeries("GPUs total", CHART_COLORS.gpusTotal, sparse, [6, 4]));
    cpuColumns.push(data.gpus_allocated, data.gpus_total);
  }
  drawChart(cpus, cpuSeries, cpuColumns, data, { unit: data.gpus_total ? "CPUs, GPUs" : "CPUs" });
  drawChart(jobs, [lineSeries("pending", CHART_COLORS.pending, sparse), lineSeries("running", CHART_COLORS.running, sparse)],
    [data.pending, data.running], data, { unit: "jobs" });
  const bars = uPlot.paths && uPlot.paths.bars ? uPlot.paths.bars({ size: [0.45, 40], align: -1 }) : undefined;
  drawChart(throughput,
    [{ label: "started", stroke: CHART_COLORS.started, fill: CHART_COLORS.started + "99", paths: bars, points: { show: false } },
     { label: "ended", stroke: CHART_COLORS.finished, fill: CHART_COLORS.finished + "99", paths: uPlot.paths && uPlot.paths.bars ? uPlot.paths.bars({ size: [0.45, 40], align: 1 }) : undefined, points: { show: false } }],
    [data.started_per_minute, data.finished_per_minute], data, { unit: "jobs / min" });
  drawChart(wait, [lineSeries("median wait", CHART_COLORS.wait, sparse)], [data.median_wait_seconds], data,
    { unit: "seconds" });

  // What the charts hold, for people reading the page's source and for tests.
  throughput.dataset.started = sum(data.started_per_minute);
  throughput.dataset.finished = sum(data.finished_per_minute);
  cpus.dataset.points = data.cpus_total.filter((v) => v !== null).length;
}

function showMessage(text) {
  $("message").textContent = text;
  $("message").hidden = !text;
}

function setStatus(text, bad) {
  $("status").textContent = text;
  $("status").classList.toggle("bad", !!bad);
}

let serviceInfo = null;
async function askForToken() {
  const dialog = $("token-dialog");
  if (dialog.open) return;
  if (!serviceInfo) serviceInfo = await fetch("/api/v1", { headers: { Accept: "application/json" } }).then((r) => r.json()).catch(() => ({}));
  if (serviceInfo && serviceInfo.admin_token_file) {
    $("token-hint").replaceChildren("The admin token is in ", el("code", { text: serviceInfo.admin_token_file }), " on the server's machine.");
  }
  $("token-input").value = "";
  dialog.showModal();
}

async function logIn(body, headers) {
  const session = await api("/api/v1/auth/session", { method: "POST", body: JSON.stringify(body || {}), headers, allow401: true });
  showSession(session);
  return session;
}

async function logOut() {
  await api("/api/v1/auth/session", { method: "DELETE" }).catch(() => null);
  showSession(null);
  disconnect();
  generation++;
  setStatus("logged out", true);
  askForToken();
}

function showSession(session) {
  $("account").textContent = session ? session.account + (session.admin ? " (admin)" : "") : "";
  $("logout-button").hidden = !session;
}

/** The link of `conductor dashboard` ends in #login=CODE: trade the code for a session and drop it from the address. */
async function redeemLoginLink() {
  const match = location.hash.match(/^#login=([A-Za-z0-9_-]+)$/);
  if (!match) return;
  history.replaceState(null, "", location.pathname + location.search + "#/");
  try {
    await logIn({ code: match[1] });
  } catch (e) {
    showMessage("This login link has been used or has expired; run 'conductor dashboard' for a new one. " + (e.message || ""));
  }
}

function handleError(e) {
  if (e instanceof Unauthorized) {
    setStatus("token needed", true);
    askForToken();
  } else {
    setStatus("server unreachable", true);
    showMessage(e.message || String(e));
  }
}

async function refresh() {
  const mine = ++generation;
  try {
    if (current.kind === "job") await loadJob(current);
    else if (current.kind === "history") await loadHistory(current);
    else if (current.kind === "charts") await loadCharts(current);
    else await loadOverview();
    if (mine !== generation) return;
    showMessage("");
    setStatus((stream ? "live · " : "") + "updated " + new Date().toLocaleTimeString());
  } catch (e) {
    if (mine === generation) handleError(e);
  }
}

/** Refreshes what the page shows; a change heard while a refresh runs asks for one more, never for a pile. */
async function requestRefresh() {
  if (refreshing) {
    refreshAgain = true;
    return;
  }
  refreshing = true;
  try {
    do {
      refreshAgain = false;
      await refresh();
    } while (refreshAgain);
  } finally {
    refreshing = false;
  }
}

function disconnect() {
  clearTimeout(reconnectTimer);
  if (stream) stream.close();
  stream = null;
}

/**
 * One event stream per page view: "changed" when anything in the cluster changed (the page then reads what it
 * shows), and on a job's page its output as it is written. Nothing is polled: an idle cluster sends nothing.
 */
function connect() {
  disconnect();
  const view = current;
  const url = view.kind === "job"
    ? `/api/v1/events?job=${view.id}&stdout_offset=${view.offsets.stdout}&stderr_offset=${view.offsets.stderr}`
    : "/api/v1/events";
  const source = new EventSource(url, { withCredentials: true });
  stream = source;
  source.addEventListener("hello", () => {
    setStatus("live");
    requestRefresh();
  });
  source.addEventListener("changed", () => requestRefresh());
  source.addEventListener("output", (e) => appendOutput(view, JSON.parse(e.data)));
  source.onerror = () => {
    // Reconnect ourselves, from the offsets the page has now (the browser would resend the first ones).
    source.close();
    if (stream !== source) return;
    stream = null;
    setStatus("reconnecting…", true);
    api("/api/v1/whoami").then(
      () => { reconnectTimer = setTimeout(() => { if (view === current) connect(); }, 2000); },
      (e) => handleError(e));
  };
}

/** Which page the address names: #/ (overview), #/history?..., #/charts?range=..., #/jobs/ID. */
function parseRoute() {
  const hash = location.hash || "#/";
  const [path, query] = hash.slice(1).split("?");
  const params = new URLSearchParams(query || "");
  const job = path.match(/^\/jobs\/(\d+)$/);
  if (job) return { kind: "job", id: job[1], offsets: { stdout: 0, stderr: 0 }, reading: {} };
  if (path === "/history") return { kind: "history", params, cursors: [] };
  if (path === "/charts") return { kind: "charts", range: params.get("range") || "hour" };
  return { kind: "overview" };
}

function route() {
  const view = parseRoute();
  current = view;
  jobView = view.kind === "job" ? view : null;
  for (const kind of ["overview", "history", "charts", "job"]) $(kind).hidden = view.kind !== kind;
  for (const link of document.querySelectorAll("nav a")) link.classList.toggle("active", link.dataset.page === view.kind);
  if (jobView) {
    $("job-title").textContent = `Job ${jobView.id}`;
    $("job-stdout").replaceChildren();
    $("job-stderr").replaceChildren();
    $("job-details").replaceChildren();
    $("job-efficiency").replaceChildren();
    $("job-events").replaceChildren();
  }
  if (view.kind === "history") fillHistoryForm(view.params);
  connect();
  // Read the page at once; the stream's greeting reads it again, and later changes follow from the stream.
  requestRefresh();
}

document.addEventListener("DOMContentLoaded", () => {
  $("token-button").addEventListener("click", askForToken);
  $("logout-button").addEventListener("click", logOut);
  $("token-form").addEventListener("submit", async () => {
    const token = $("token-input").value.trim();
    try {
      await logIn({}, { Authorization: "Bearer " + token });
      showMessage("");
      connect();
    } catch (e) {
      showMessage("The token was not accepted: " + (e.message || e));
    }
  });
  $("token-cancel").addEventListener("click", () => $("token-dialog").close());
  $("job-cancel").addEventListener("click", (e) => jobView && cancelJob(jobView.id, e.currentTarget));
  $("job-hold").addEventListener("click", (e) => jobView && setHold(jobView.id, true, e.currentTarget));
  $("job-release").addEventListener("click", (e) => jobView && setHold(jobView.id, false, e.currentTarget));
  $("history-form").addEventListener("submit", (e) => {
    e.preventDefault();
    location.hash = "#/history?" + historyParamsFromForm().toString();
  });
  $("history-clear").addEventListener("click", () => { location.hash = "#/history"; });
  $("history-next").addEventListener("click", () => {
    if (current.kind !== "history" || !current.next) return;
    current.cursors.push(current.next);
    refresh();
  });
  $("history-prev").addEventListener("click", () => {
    if (current.kind !== "history") return;
    current.cursors.pop();
    refresh();
  });
  for (const button of document.querySelectorAll("#charts [data-range]")) {
    button.addEventListener("click", () => { location.hash = "#/charts?range=" + button.dataset.range; });
  }
  window.addEventListener("resize", () => { if (current.kind === "charts") { current.force = true; requestRefresh(); } });
  // The minute rolls over even when nothing happens: the charts page (only it) reads the charts again each minute.
  setInterval(() => { if (current.kind === "charts" && !document.hidden) { current.force = true; requestRefresh(); } }, 60000);
  for (const th of document.querySelectorAll("#history th[data-sort]")) th.addEventListener("click", () => sortBy(th.dataset.sort));
  window.addEventListener("hashchange", () => { if (!location.hash.startsWith("#login=")) route(); });
  // A browser keeps at most six connections to a server over HTTP/1.1: a tab in the background lets its stream go,
  // and takes it again (reading what it shows afresh) when it comes back.
  document.addEventListener("visibilitychange", () => {
    if (document.hidden) {
      disconnect();
      setStatus("paused in the background");
    } else if (!stream) {
      connect();
    }
  });
  redeemLoginLink()
    .then(() => api("/api/v1/auth/session", { allow401: true }).catch(() => null))
    .then((session) => { if (session && session.account) showSession(session); })
    .finally(route);
});
