// Conductor's dashboard: polls the REST API every 2 seconds with the token kept in this browser.
"use strict";

const POLL_MS = 2000;
const TOKEN_KEY = "conductor.token";
const STATES = ["PENDING", "RUNNING", "COMPLETED", "FAILED", "TIMEOUT", "OUT_OF_MEMORY", "CANCELLED", "NODE_FAIL"];

const $ = (id) => document.getElementById(id);
let timer = null;
let generation = 0;
let jobView = null;

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
  const headers = { Accept: "application/json" };
  const token = localStorage.getItem(TOKEN_KEY);
  if (token) headers.Authorization = "Bearer " + token;
  if (options.method === "POST") headers["Content-Type"] = "application/json";
  const response = await fetch(path, { ...options, headers });
  if (response.status === 401) throw new Unauthorized();
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

function jobLink(job) {
  return el("a", { href: `#/jobs/${job.job_id}`, text: job.job_id });
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
    refresh();
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
    el("td", {}, stateBadge(n.state)),
    el("td", { text: n.partitions.join(", ") }),
    el("td", {}, el("div", { class: "cell-meter" }, meter(n.cpus_allocated, n.cpus), el("span", { text: `${n.cpus_allocated}/${n.cpus}` }))),
    el("td", {}, el("div", { class: "cell-meter" }, meter(n.memory_allocated_mib, n.memory_mib, "mem"), el("span", { text: `${mib(n.memory_allocated_mib)} / ${mib(n.memory_mib)}` }))),
    el("td", { class: "num", text: n.running_jobs }),
    el("td", { class: "muted", text: formatTime(n.last_heartbeat) }))), 7, "No nodes have registered.");

  $("running-count").textContent = counts.RUNNING ?? 0;
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
  fillRows($("pending"), dash.pending.map((j) => el("tr", { dataset: { jobId: j.job_id } },
    el("td", { class: "num" }, jobLink(j)),
    el("td", { text: j.detail.name }),
    el("td", { text: j.detail.account }),
    el("td", { text: j.detail.partition }),
    el("td", { class: "num", text: j.detail.cpus }),
    el("td", { text: j.reason || "" }),
    el("td", { class: "muted", text: formatTime(j.time.submit) }),
    el("td", {}, cancelButton(j)))), 8, "Nothing is waiting.");

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
    ["Exit code", job.exit_code], ["Error", job.error_msg], ["CPUs", `${d.cpus} (${d.ntasks} × ${d.cpus_per_task})`],
    ["Memory", d.memory || "none reserved"], ["Node", d.node_list], ["Cores", d.cores],
    ["Submitted", formatTime(t.submit)], ["Started", formatTime(t.start)], ["Ended", formatTime(t.end)],
    ["Elapsed", t.elapsed], ["Time limit", t.limit], ["Work dir", d.work_dir],
    ["Arguments", d.arguments.join(" ")], ["CPU time", job.usage.cpu_seconds != null ? job.usage.cpu_seconds.toFixed(2) + " s" : ""],
    ["Max RSS", job.usage.max_rss_kib != null ? mib(Math.round(job.usage.max_rss_kib / 1024)) : ""], ["Attempt", job.attempt],
  ];
  return rows.filter(([, v]) => v !== null && v !== undefined && v !== "")
    .map(([k, v]) => el("tr", {}, el("td", { text: k }), el("td", { text: String(v) })));
}

async function followOutput(view, stream, pre) {
  // Reads everything new since the last offset, in chunks; one reader per stream, so no piece is shown twice.
  if (view.reading[stream]) return;
  view.reading[stream] = true;
  try {
    await readOutput(view, stream, pre);
  } finally {
    view.reading[stream] = false;
  }
}

async function readOutput(view, stream, pre) {
  for (let i = 0; i < 16; i++) {
    const chunk = await api(`/api/v1/jobs/${view.id}/output?stream=${stream}&offset=${view.offsets[stream]}`);
    if (view !== jobView || chunk.offset !== view.offsets[stream]) return;
    if (chunk.data) {
      const atBottom = pre.scrollTop + pre.clientHeight >= pre.scrollHeight - 4;
      pre.append(chunk.data);
      if (atBottom) pre.scrollTop = pre.scrollHeight;
    }
    view.offsets[stream] = chunk.next_offset;
    if (chunk.next_offset >= chunk.size) return;
  }
}

async function loadJob(view) {
  const [job, events] = await Promise.all([api(`/api/v1/jobs/${view.id}`), api(`/api/v1/jobs/${view.id}/events`)]);
  if (view !== jobView) return;
  $("job-title").textContent = `Job ${job.job_id} · ${job.detail.name}`;
  $("job-state").replaceWith(Object.assign(stateBadge(job.state), { id: "job-state" }));
  const active = job.state === "PENDING" || job.state === "RUNNING";
  $("job-cancel").hidden = !active;
  $("job-error").hidden = !job.error_msg;
  $("job-error").textContent = job.error_msg || "";
  $("job-details").replaceChildren(...detailRows(job));
  $("job-events").replaceChildren(...events.map((e) => el("li", {},
    el("span", { class: "kind", text: e.kind.replace(/_/g, " ") }),
    el("span", { class: "when", text: formatTime(e.time) }),
    e.detail ? el("div", { class: "detail", text: e.detail }) : null)));
  $("stdout-path").textContent = job.detail.stdout_path || job.detail.standard_output;
  const separate = job.detail.stderr_path && job.detail.stderr_path !== job.detail.stdout_path;
  $("stderr-panel").hidden = !separate;
  $("stderr-path").textContent = separate ? job.detail.stderr_path : "";
  await followOutput(view, "stdout", $("job-stdout"));
  if (separate) await followOutput(view, "stderr", $("job-stderr"));
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
    if (jobView) await loadJob(jobView);
    else await loadOverview();
    if (mine !== generation) return;
    showMessage("");
    setStatus("updated " + new Date().toLocaleTimeString());
  } catch (e) {
    if (mine === generation) handleError(e);
  }
}

function schedule() {
  clearTimeout(timer);
  timer = setTimeout(async () => {
    await refresh();
    schedule();
  }, POLL_MS);
}

function route() {
  const match = location.hash.match(/^#\/jobs\/(\d+)$/);
  jobView = match ? { id: match[1], offsets: { stdout: 0, stderr: 0 }, reading: {} } : null;
  $("overview").hidden = !!jobView;
  $("job").hidden = !jobView;
  if (jobView) {
    $("job-title").textContent = `Job ${jobView.id}`;
    $("job-stdout").replaceChildren();
    $("job-stderr").replaceChildren();
    $("job-details").replaceChildren();
    $("job-events").replaceChildren();
  }
  refresh().then(schedule);
}

document.addEventListener("DOMContentLoaded", () => {
  $("token-button").addEventListener("click", askForToken);
  $("token-form").addEventListener("submit", () => {
    localStorage.setItem(TOKEN_KEY, $("token-input").value.trim());
    refresh();
  });
  $("token-forget").addEventListener("click", () => {
    localStorage.removeItem(TOKEN_KEY);
    $("token-dialog").close();
    refresh();
  });
  $("job-cancel").addEventListener("click", (e) => jobView && cancelJob(jobView.id, e.currentTarget));
  window.addEventListener("hashchange", route);
  route();
});
