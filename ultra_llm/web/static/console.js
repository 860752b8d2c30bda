// ultra-llm console: talks to the API at ./api/ (same origin). No framework, no build step.
"use strict";

const $ = (id) => document.getElementById(id);
const API = new URL("api/", document.baseURI);
const state = { backends: [], backend: null, models: [], schema: null, token: null, generation: null };

// -- token: from the URL fragment (#token=...) or the tab's storage --------------------------------
(function readToken() {
  const match = location.hash.match(/token=([^&]+)/);
  if (match) {
    sessionStorage.setItem("ultra-llm-token", decodeURIComponent(match[1]));
    history.replaceState(null, "", location.pathname + location.search);
  }
  state.token = sessionStorage.getItem("ultra-llm-token");
})();

class ApiError extends Error {
  constructor(body, status) {
    super(body.message || `HTTP ${status}`);
    this.body = body;
    this.status = status;
  }
}

function headers(json) {
  const h = {};
  if (json) h["Content-Type"] = "application/json";
  if (state.token) h["Authorization"] = `Bearer ${state.token}`;
  return h;
}

async function failure(response) {
  let body;
  try { body = await response.json(); } catch { body = { message: `HTTP ${response.status}` }; }
  if (response.status === 401) $("auth").hidden = false;
  return new ApiError(body, response.status);
}

async function api(path, { method = "GET", body, params } = {}) {
  const url = new URL(path, API);
  for (const [k, v] of Object.entries(params || {})) if (v) url.searchParams.set(k, v);
  const response = await fetch(url, {
    method, headers: headers(body !== undefined), body: body === undefined ? undefined : JSON.stringify(body),
  });
  if (!response.ok) throw await failure(response);
  return response.json();
}

// POST and read server-sent events; onEvent(name, data) for each. Aborting `signal` disconnects,
// which cancels the work on the server.
async function sse(path, body, onEvent, signal) {
  const response = await fetch(new URL(path, API), {
    method: "POST", headers: headers(true), body: JSON.stringify(body), signal,
  });
  if (!response.ok) throw await failure(response);
  const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = "";
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    buffer += value;
    let end;
    while ((end = buffer.indexOf("\n\n")) >= 0) {
      const frame = buffer.slice(0, end);
      buffer = buffer.slice(end + 2);
      let event = "message";
      const data = [];
      for (const line of frame.split("\n")) {
        if (line.startsWith("event:")) event = line.slice(6).trim();
        else if (line.startsWith("data:")) data.push(line.slice(5).trimStart());
      }
      if (data.length) onEvent(event, JSON.parse(data.join("\n")));
    }
  }
}

function showMessage(error, kind = "error") {
  const body = error instanceof ApiError ? error.body : { message: String(error.message || error) };
  $("message-text").textContent = body.message || "Something went wrong.";
  $("message-fix").textContent = body.fix ? `Fix: ${body.fix}` : "";
  $("message").dataset.kind = kind;
  $("message").hidden = false;
}
$("message-close").addEventListener("click", () => { $("message").hidden = true; });

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k === "class") node.className = v;
    else if (k.startsWith("data-")) node.setAttribute(k, v);
    else node[k] = v;
  }
  for (const child of children) if (child !== null && child !== undefined) node.append(child);
  return node;
}

// -- backends and their status ---------------------------------------------------------------------
async function loadBackends() {
  const data = await api("backends");
  state.backends = data.backends;
  const sel = data.selection;
  const select = $("backend-select");
  const previous = state.backend;
  select.replaceChildren(...data.backends.map((b) =>
    el("option", { value: b.name, textContent: `${b.name}${b.available ? "" : " (unavailable)"}`, disabled: !b.available })));
  state.backend = previous && data.backends.some((b) => b.name === previous && b.available) ? previous : sel.serving;
  if (state.backend) select.value = state.backend;
  const pill = $("status-pill");
  if (!sel.serving) {
    pill.dataset.state = "bad"; pill.textContent = `${sel.requested}: unavailable`;
  } else if (sel.fallback_reason) {
    pill.dataset.state = "warn"; pill.textContent = `${sel.serving} (fallback)`;
  } else {
    pill.dataset.state = "ok"; pill.textContent = `${sel.serving}: ready`;
  }
  $("selection-text").textContent = sel.fallback_reason
    ? `Requested ${sel.requested} (${sel.reason}); serving ${sel.serving || "nothing"} because: ${sel.fallback_reason}`
    : `Serving ${sel.serving || "nothing"} — ${sel.reason}.`;
  $("backend-list").replaceChildren(...data.backends.map((b) => el("li", {},
    el("span", { class: `dot${b.available ? " ok" : ""}`, title: b.available ? "available" : "unavailable" }),
    el("strong", { textContent: b.name }),
    el("span", { class: "muted", textContent: b.selected ? "serving" : (b.available ? "available" : "unavailable") }),
    b.available ? null : el("details", { class: "why" }, el("summary", { textContent: "why, and the fix" }),
      el("span", { textContent: b.fix ? `${b.reason} Fix: ${b.fix}` : b.reason })))));
  renderOptions();
  renderFeatureSupport();
}

async function loadDoctor() {
  const data = await api("doctor");
  $("doctor-steps").replaceChildren(...data.steps.map((s) => el("li",
    { class: s.ok ? "ok" : (s.required ? "fail" : "warn") },
    `${s.title}${s.detail ? `: ${s.detail}` : ""}`,
    !s.ok && s.fix ? el("span", { class: "fix", textContent: `fix: ${s.fix}` }) : null)));
  if (!data.ok) $("doctor").open = true;
}

function current() { return state.backends.find((b) => b.name === state.backend); }

// -- options form from the backend's JSON schema ---------------------------------------------------
function kinds(prop) {
  const variants = prop.anyOf || [prop];
  return variants.flatMap((v) => (Array.isArray(v.type) ? v.type : [v.type])).filter((t) => t && t !== "null");
}
function bound(prop, key) {
  for (const v of prop.anyOf || [prop]) if (v[key] !== undefined) return v[key];
  return undefined;
}

function renderOptions() {
  const backend = current();
  const schema = backend ? backend.options_schema : null;
  state.schema = schema;
  const fields = Object.entries((schema && schema.properties) || {}).map(([name, prop]) => {
    const types = kinds(prop);
    const title = prop.title || name;
    let input;
    if (prop.enum || (prop.anyOf || []).some((v) => v.enum)) {
      const values = prop.enum || (prop.anyOf.find((v) => v.enum) || {}).enum;
      input = el("select", {}, el("option", { value: "", textContent: "default" }),
        ...values.map((v) => el("option", { value: v, textContent: v })));
    } else if (types.length === 1 && types[0] === "boolean") {
      input = el("select", {}, el("option", { value: "", textContent: "default" }),
        el("option", { value: "true", textContent: "true" }), el("option", { value: "false", textContent: "false" }));
    } else if (types.length === 1 && (types[0] === "number" || types[0] === "integer")) {
      input = el("input", { type: "number", step: types[0] === "integer" ? "1" : "any", inputMode: "decimal" });
      const min = bound(prop, "minimum"), max = bound(prop, "maximum");
      if (min !== undefined) input.min = min;
      if (max !== undefined) input.max = max;
    } else {
      input = el("input", { type: "text", autocomplete: "off" });
      if (types.includes("array")) input.placeholder = 'text or ["a","b"]';
    }
    input.name = name;
    input.dataset.types = types.join(",");
    if (prop.description) input.title = prop.description;
    return el("label", { title: prop.description || "" }, title, input);
  });
  $("option-fields").replaceChildren(...(fields.length ? fields : [el("p", { class: "muted",
    textContent: "This backend takes no options." })]));
}

function collectOptions() {
  const options = {};
  for (const input of $("option-fields").querySelectorAll("[name]")) {
    const raw = input.value.trim();
    if (!raw) continue;
    const types = input.dataset.types.split(",");
    if (types.length === 1 && types[0] === "integer") options[input.name] = parseInt(raw, 10);
    else if (types.length === 1 && types[0] === "number") options[input.name] = parseFloat(raw);
    else if (types.length === 1 && types[0] === "boolean") options[input.name] = raw === "true";
    else if (types.includes("array") && raw.startsWith("[")) {
      try { options[input.name] = JSON.parse(raw); } catch { options[input.name] = raw; }
    } else options[input.name] = raw;
  }
  return options;
}

// -- models ----------------------------------------------------------------------------------------
async function loadModels() {
  if (!state.backend) { $("model-list").replaceChildren(); return; }
  const data = await api("models", { params: { backend: state.backend } });
  state.models = data.models;
  const canRemove = (current()?.capabilities || {}).store;
  $("model-count").textContent = `(${data.models.length} on ${data.backend})`;
  $("model-list").replaceChildren(...(data.models.length ? data.models.map((m) => {
    const details = ["parameters", "quantization", "size", "context_size"]
      .filter((k) => m.details[k] !== undefined && m.details[k] !== null)
      .map((k) => (k === "context_size" ? `ctx ${m.details[k]}` : m.details[k])).join(" · ");
    const remove = canRemove
      ? el("button", { type: "button", class: "danger", textContent: "Remove", onclick: () => removeModel(m.name) })
      : null;
    if (remove) remove.setAttribute("aria-label", `Remove ${m.name}`);
    return el("li", { "data-model": m.name }, el("span", { class: "name", textContent: m.name }),
      details ? el("span", { class: "details", textContent: details }) : null, remove);
  }) : [el("li", { class: "muted", textContent: "No models yet: pull one below." })]));
  const select = $("model-select");
  const chosen = select.value;
  const names = data.models.map((m) => m.name);
  if (!names.includes(data.default_model)) names.unshift(data.default_model);
  select.replaceChildren(...names.map((n) => el("option", { value: n,
    textContent: n === data.default_model ? `${n} (default)` : n })));
  select.value = names.includes(chosen) ? chosen : data.default_model;
}

async function removeModel(name) {
  if (!confirm(`Remove ${name}?`)) return;
  try {
    await api(`models/${name.split("/").map(encodeURIComponent).join("/")}`,
      { method: "DELETE", params: { backend: state.backend } });
    await loadModels();
  } catch (error) { showMessage(error); }
}

$("pull-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  const model = $("pull-model").value.trim();
  if (!model) return;
  const bar = $("pull-progress"), text = $("pull-text"), button = $("pull-button");
  $("pull-status").hidden = false;
  bar.value = 0;
  text.textContent = `Pulling ${model}…`;
  button.disabled = true;
  try {
    await sse("models/pull", { model, backend: state.backend }, (name, data) => {
      if (name === "progress") {
        if (data.fraction !== null) bar.value = data.fraction; else bar.removeAttribute("value");
        text.textContent = data.message;
      } else if (name === "done") {
        bar.value = 1;
        text.textContent = `Pulled ${data.model}.`;
      } else if (name === "error") {
        text.textContent = "Pull failed.";
        showMessage(new ApiError(data, data.status));
      }
    });
    await loadModels();
  } catch (error) {
    text.textContent = "Pull failed.";
    showMessage(error);
  } finally {
    button.disabled = false;
  }
});

// -- request features: images, a JSON schema, tools ------------------------------------------------
function readDataURL(file) {
  return new Promise((resolve, reject) => {
    const reader = new FileReader();
    reader.onload = () => resolve(reader.result);
    reader.onerror = () => reject(new Error(`Cannot read ${file.name}.`));
    reader.readAsDataURL(file);
  });
}

function parseJSONField(id, what) {
  const raw = $(id).value.trim();
  if (!raw) return undefined;
  try { return JSON.parse(raw); } catch (error) {
    throw new ApiError({ message: `${what} not valid JSON: ${error.message}`,
                         fix: "Correct it, or empty the field." }, 422);
  }
}

// The prompt and the feature fields of the request body; a bad field throws an ApiError.
async function features(prompt) {
  const body = {};
  const files = Array.from($("attach").files || []);
  if (files.length) {
    const images = await Promise.all(files.map(readDataURL));
    body.prompt = [{ role: "user", content: [{ type: "text", text: prompt },
      ...images.map((url) => ({ type: "image_url", image_url: { url } }))] }];
  } else body.prompt = prompt;
  const schema = parseJSONField("schema", "The schema is");
  if (schema !== undefined) body.response_format = schema;
  const tools = parseJSONField("tools", "The tools are");
  if (tools !== undefined) body.tools = tools;
  return body;
}

function renderFeatureSupport() {
  const caps = (current() || {}).capabilities || {};
  const names = { images: "images", response_format: "JSON schemas", tools: "tools" };
  const yes = Object.keys(names).filter((k) => caps[k]).map((k) => names[k]);
  const no = Object.keys(names).filter((k) => !caps[k]).map((k) => names[k]);
  $("feature-support").textContent = `${state.backend || "This backend"}: ` +
    (yes.length ? `takes ${yes.join(", ")}` : "takes none of these") + (no.length && yes.length ? `; not ${no.join(", ")}.` : ".");
}

function showResult(box, pre, value) {
  $(box).hidden = value === null || value === undefined;
  $(pre).textContent = $(box).hidden ? "" : JSON.stringify(value, null, 2);
}

// -- generation ------------------------------------------------------------------------------------
$("generate-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  const prompt = $("prompt").value;
  if (!prompt.trim() && !($("attach").files || []).length) return;
  let request;
  try { request = await features(prompt); } catch (error) { showMessage(error); return; }
  showResult("tool-calls-box", "tool-calls", null);
  showResult("parsed-box", "parsed", null);
  const answer = $("answer"), stats = $("generate-stats");
  const controller = new AbortController();
  state.generation = controller;
  answer.textContent = "";
  answer.classList.add("streaming");
  $("generate-button").disabled = true;
  $("stop-button").disabled = false;
  $("message").hidden = true;
  stats.textContent = "waiting for the first token…";
  const started = performance.now();
  let first = null, chunks = 0, chars = 0;
  const body = { ...request, model: $("model-select").value || null, backend: state.backend, stream: true,
                 options: collectOptions() };
  const system = $("system-message").value.trim();
  if (system) body.system_message = system;
  try {
    await sse("generate", body, (name, data) => {
      if (name === "chunk" && data.kind === "text" && data.text) {
        if (first === null) first = performance.now() - started;
        chunks += 1; chars += data.text.length;
        answer.append(data.text);
      } else if (name === "done") {
        const seconds = (performance.now() - started) / 1000;
        stats.textContent = `${data.backend} · ${data.model} · first token ${Math.round(first ?? 0)} ms · ` +
          `${chunks} chunks in ${seconds.toFixed(2)} s` + (data.finish_reason ? ` · ${data.finish_reason}` : "");
        showResult("tool-calls-box", "tool-calls", data.tool_calls && data.tool_calls.length ? data.tool_calls : null);
        showResult("parsed-box", "parsed", data.parsed);
      } else if (name === "error") {
        stats.textContent = "failed";
        showMessage(new ApiError(data, data.status));
      }
    }, controller.signal);
  } catch (error) {
    if (error.name === "AbortError") stats.textContent = `stopped after ${chunks} chunks`;
    else { stats.textContent = "failed"; showMessage(error); }
  } finally {
    answer.classList.remove("streaming");
    $("generate-button").disabled = false;
    $("stop-button").disabled = true;
    state.generation = null;
  }
});

$("stop-button").addEventListener("click", () => state.generation && state.generation.abort());
$("prompt").addEventListener("keydown", (event) => {
  if (event.key === "Enter" && (event.ctrlKey || event.metaKey)) $("generate-form").requestSubmit();
});

$("backend-select").addEventListener("change", async (event) => {
  state.backend = event.target.value;
  renderOptions();
  renderFeatureSupport();
  try { await loadModels(); } catch (error) { showMessage(error); }
});

$("auth").addEventListener("submit", async (event) => {
  event.preventDefault();
  state.token = $("auth-token").value.trim();
  sessionStorage.setItem("ultra-llm-token", state.token);
  $("auth").hidden = true;
  await start();
});

async function start() {
  try {
    await loadBackends();
    await loadModels();
    document.body.dataset.ready = "true";
    await loadDoctor();
  } catch (error) {
    if (!(error instanceof ApiError && error.status === 401)) showMessage(error);
  }
}

start();
