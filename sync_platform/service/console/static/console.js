// The pipeline console's only script: live refresh of server-rendered parts, the actions (each one
// a call to the service's own API), the create/edit form built from connector schemas, the stream
// picker, and "sync now" reading the run's NDJSON stream. No framework and no build step.
"use strict";

const CONSOLE_HEADERS = { "Content-Type": "application/json", "X-Sync-Platform-Console": "1" };

async function api(method, url, body, headers) {
  const response = await fetch(url, {
    method,
    headers: { ...CONSOLE_HEADERS, ...(headers || {}) },
    body: body === undefined ? undefined : JSON.stringify(body),
    credentials: "same-origin",
  });
  const text = await response.text();
  let data = null;
  try { data = text ? JSON.parse(text) : null; } catch (_) { data = null; }
  if (!response.ok) {
    const error = (data && data.error) || { type: "HttpError", message: `HTTP ${response.status}` };
    error.status = response.status;
    throw error;
  }
  return data;
}

// --- live refresh -------------------------------------------------------------------------------

const refreshers = [];

function startRefresh() {
  for (const element of document.querySelectorAll("[data-refresh]")) {
    const every = Number(element.dataset.every || 3000);
    const refresh = async () => {
      try {
        const response = await fetch(element.dataset.refresh, { credentials: "same-origin" });
        if (response.ok && !response.redirected) element.innerHTML = await response.text();
      } catch (_) { /* the next tick tries again */ }
    };
    refreshers.push(refresh);
    const loop = async () => { await refresh(); setTimeout(loop, every); };
    setTimeout(loop, every);
  }
}

function refreshNow() { return Promise.all(refreshers.map((refresh) => refresh())); }

function notice(message, tone) {
  const box = document.getElementById("notice");
  if (!box) { if (message) alert(message); return; }
  box.textContent = message || "";
  box.className = `notice ${tone || ""}`;
  box.hidden = !message;
}

// --- actions on a pipeline ------------------------------------------------------------------------

async function act(work, done) {
  notice("");
  try {
    await work();
    if (done) notice(done, "good");
  } catch (error) {
    notice(error.message, "bad");
  }
  await refreshNow();
}

document.addEventListener("click", async (event) => {
  const button = event.target.closest("[data-action]");
  if (!button) return;
  const id = button.dataset.pipeline;
  const path = `/pipelines/${encodeURIComponent(id)}`;
  switch (button.dataset.action) {
    case "pause":
      await act(() => api("PATCH", path, { desired_status: "paused" }), `Pipeline ${id} paused.`);
      break;
    case "resume":
      await act(() => api("PATCH", path, { desired_status: "active" }), `Pipeline ${id} resumed.`);
      break;
    case "delete":
      if (!window.confirm(`Delete pipeline ${id}? The platform tears down the tables and webhook endpoint its setup created. Deleted is final.`)) return;
      await act(() => api("DELETE", path), `Pipeline ${id} deleted: it is torn down on the platform's next lifecycle tick.`);
      break;
    case "sync":
      await syncNow(id, button);
      break;
  }
});

// --- sync now: the run's NDJSON stream --------------------------------------------------------------

function addLine(text, tone) {
  const item = document.createElement("li");
  item.textContent = text;
  if (tone) item.className = tone;
  document.getElementById("sync-lines").appendChild(item);
}

function showRunLine(line) {
  const run = line.run || {};
  if (line.type === "progress") {
    const derived = line.progress.derived || {};
    document.getElementById("sync-progress").textContent =
      `${derived.total_record_count || 0} records, ${derived.total_state_count || 0} checkpoints`;
  } else if (line.type === "eof") {
    const request = line.eof.request_progress.derived || {};
    const tail = line.eof.status === "failed" ? `failed: ${line.eof.error || "see the log"}` : (line.eof.has_more ? "more to do" : "done");
    addLine(`${run.lane} batch ${run.batch}: ${request.total_record_count || 0} records, ${request.total_state_count || 0} checkpoints — checkpoint saved, ${tail}`);
  } else if (line.type === "log" && (line.log.level === "warn" || line.log.level === "error")) {
    addLine(`[${line.log.level}] ${line.log.message}`, line.log.level === "error" ? "bad" : "warn");
  } else if (line.type === "run") {
    switch (run.event) {
      case "lane_started": addLine(`${run.lane} lane started`); break;
      case "status_changed": addLine(`status: ${run.before} → ${run.after}`, "status"); break;
      case "setup_ran": addLine(`set up ${run.pipeline.source.type} → ${run.pipeline.destination.type}`); break;
      case "control_applied": addLine(`stored the ${run.side} connector's new config`); break;
      case "lane_finished": addLine(`${run.lane} lane: ${run.reason}`); break;
      case "run_failed": addLine(`Error: [${run.error.kind}] ${run.error.message}`, "bad"); break;
      case "run_ended":
        addLine(run.status === "crashed" ? `run crashed: ${run.error.message}` : `run ${run.status}`,
          run.status === "succeeded" ? "good" : "bad");
        break;
    }
  }
}

async function syncNow(id, button) {
  const log = document.getElementById("sync-log");
  document.getElementById("sync-lines").innerHTML = "";
  document.getElementById("sync-progress").textContent = "";
  log.hidden = false;
  notice("");
  button.disabled = true;
  try {
    const response = await fetch(`/pipelines/${encodeURIComponent(id)}/sync`, {
      method: "POST", headers: CONSOLE_HEADERS, credentials: "same-origin",
    });
    if (!response.ok) {
      const data = await response.json().catch(() => null);
      throw (data && data.error) || { message: `HTTP ${response.status}` };
    }
    const reader = response.body.getReader();
    const decoder = new TextDecoder();
    let buffer = "";
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      buffer += decoder.decode(value, { stream: true });
      let end;
      while ((end = buffer.indexOf("\n")) >= 0) {
        const line = buffer.slice(0, end);
        buffer = buffer.slice(end + 1);
        if (line.trim()) showRunLine(JSON.parse(line));
      }
    }
  } catch (error) {
    addLine(`Error: ${error.message}`, "bad");
    notice(error.message, "bad");
  } finally {
    button.disabled = false;
    await refreshNow();
  }
}

// --- the create / edit form -------------------------------------------------------------------------

class FieldProblem extends Error {
  constructor(field, message) { super(message); this.field = field; }
}

function setPath(target, path, value) {
  const parts = path.split(".");
  let node = target;
  for (const part of parts.slice(0, -1)) node = node[part] = node[part] || {};
  node[parts[parts.length - 1]] = value;
}

function fieldValue(field) {
  const kind = field.dataset.kind;
  if (kind === "secret") {
    if (field.querySelector(".secret-mode").value === "env") {
      const name = field.querySelector(".secret-env").value.trim();
      return name ? { env: name } : undefined;
    }
    const value = field.querySelector(".secret-value").value;
    if (value) return value;
    return field.hasAttribute("data-stored") ? "***" : undefined;
  }
  const input = field.querySelector("input, select, textarea");
  if (kind === "boolean") return input.checked;
  const raw = input.value.trim();
  if (raw === "") return undefined;
  if (kind === "integer" || kind === "number") {
    const number = Number(raw);
    if (Number.isNaN(number)) throw new FieldProblem(field.dataset.field, "must be a number");
    return number;
  }
  if (kind === "list") return raw.split(",").map((item) => item.trim()).filter(Boolean);
  if (kind === "json") {
    try { return JSON.parse(raw); } catch (_) { throw new FieldProblem(field.dataset.field, "must be valid JSON"); }
  }
  return raw;
}

function connectorOf(form, side) {
  const type = form.querySelector(`[name="${side}.type"]`).value;
  const box = form.querySelector(`.side[data-side="${side}"] .connector[data-connector="${type}"]`);
  const config = {};
  for (const field of box.querySelectorAll(".field[data-path]")) {
    const value = fieldValue(field);
    if (value !== undefined) setPath(config, field.dataset.path, value);
  }
  return { type, [type]: config };
}

function streamsOf(form) {
  const choice = form.querySelector("[name=streams-mode]:checked").value;
  if (choice === "all") return null;
  const source = form.querySelector('[name="source.type"]').value;
  const catalog = form.querySelector(`.stream-catalog[data-source="${source}"]`);
  if (catalog) return [...catalog.querySelectorAll(".stream-box:checked")].map((box) => box.value);
  return form.querySelector("#stream-names").value.split(",").map((name) => name.trim()).filter(Boolean);
}

function clearErrors(form) {
  for (const box of form.querySelectorAll(".field-error")) box.textContent = "";
  for (const field of form.querySelectorAll(".invalid")) field.classList.remove("invalid");
}

function showFieldError(form, field, message) {
  let target = null;
  let path = field || "";
  while (path && !target) {
    const holder = form.querySelector(`[data-field="${CSS.escape(path)}"]`);
    if (holder && !holder.closest("[hidden]")) target = holder.querySelector(":scope > .field-error");
    path = path.includes(".") ? path.slice(0, path.lastIndexOf(".")) : "";
  }
  target = target || form.querySelector("#form-error");
  target.textContent = message;
  const holder = target.closest("[data-field]");
  if (holder) holder.classList.add("invalid");
  const details = target.closest("details");
  if (details) details.open = true;
  target.scrollIntoView({ block: "center" });
}

async function submitForm(form) {
  clearErrors(form);
  const editing = form.dataset.mode === "edit";
  let body;
  try {
    body = { source: connectorOf(form, "source"), destination: connectorOf(form, "destination") };
    const streams = streamsOf(form);
    if (editing || streams !== null) body.streams = streams;
    if (!editing) {
      const id = form.querySelector("[name=id]").value.trim();
      if (id) body.id = id;
      if (form.querySelector("[name=paused]").checked) body.desired_status = "paused";
    }
  } catch (problem) {
    showFieldError(form, problem.field, problem.message);
    return;
  }
  const button = form.querySelector("#submit");
  button.disabled = true;
  try {
    let saved;
    if (editing) {
      saved = await api("PATCH", `/pipelines/${encodeURIComponent(form.dataset.pipeline)}`, body,
        { "If-Match": `"${form.dataset.version}"` });
    } else {
      const skip = form.querySelector("[name=skip_check]").checked ? "?skip_check=true" : "";
      saved = await api("POST", `/pipelines${skip}`, body);
    }
    window.location.assign(`/console/pipelines/${encodeURIComponent(saved.id)}`);
  } catch (error) {
    showFieldError(form, error.field, error.message);
  } finally {
    button.disabled = false;
  }
}

// --- the stream picker ------------------------------------------------------------------------------

function pickerUpdate(form) {
  const source = form.querySelector('[name="source.type"]').value;
  const query = (form.querySelector("#stream-search").value || "").trim().toLowerCase();
  let selected = 0;
  let catalogShown = false;
  for (const catalog of form.querySelectorAll(".stream-catalog")) {
    const shown = catalog.dataset.source === source;
    catalog.hidden = !shown;
    if (!shown) continue;
    catalogShown = true;
    for (const group of catalog.querySelectorAll(".stream-group")) {
      let visible = 0;
      const groupMatches = group.dataset.group.includes(query);
      for (const stream of group.querySelectorAll(".stream")) {
        const match = !query || groupMatches || stream.dataset.stream.includes(query);
        stream.hidden = !match;
        if (match) visible += 1;
      }
      group.hidden = visible === 0;
      const boxes = [...group.querySelectorAll(".stream-box")];
      const checked = boxes.filter((box) => box.checked).length;
      selected += checked;
      const all = group.querySelector(".group-all");
      all.checked = checked === boxes.length;
      all.indeterminate = checked > 0 && checked < boxes.length;
    }
  }
  form.querySelector(".stream-free").hidden = catalogShown;
  form.querySelector("#stream-count").textContent = catalogShown ? `${selected} selected` : "";
}

function setUpForm(form) {
  const update = () => pickerUpdate(form);
  form.addEventListener("submit", (event) => { event.preventDefault(); submitForm(form); });
  form.addEventListener("change", (event) => {
    const target = event.target;
    if (target.classList.contains("connector-choice")) {
      const side = target.closest(".side");
      for (const box of side.querySelectorAll(".connector")) box.hidden = box.dataset.connector !== target.value;
    } else if (target.classList.contains("secret-mode")) {
      const secret = target.closest(".secret");
      secret.querySelector(".secret-value").hidden = target.value === "env";
      secret.querySelector(".secret-env").hidden = target.value !== "env";
    } else if (target.name === "streams-mode") {
      form.querySelector(".stream-picker").hidden = target.value !== "some";
    } else if (target.classList.contains("group-all")) {
      for (const stream of target.closest(".stream-group").querySelectorAll(".stream:not([hidden]) .stream-box")) {
        stream.checked = target.checked;
      }
    }
    update();
  });
  form.querySelector("#stream-search").addEventListener("input", update);
  update();
}

document.addEventListener("DOMContentLoaded", () => {
  startRefresh();
  const form = document.getElementById("pipeline-form");
  if (form) setUpForm(form);
});
