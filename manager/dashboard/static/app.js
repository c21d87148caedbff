// The Quarterdeck dashboard: a few views over the REST API, with no framework and no build.
// Credentials typed into the log-in form live in this page's memory only and go with every
// request as HTTP Basic; reloading the page asks for them again. Event logs follow the
// server's live stream through fetch (which, unlike EventSource, can send the credentials
// as a header), reconnecting with Last-Event-ID when the connection drops.

const API = "/api/v3.1";
const session = { auth: null, user: null, tenant: "default_tenant" };
// What the current view started (streams, timers): stopped when the view changes.
let viewStops = [];

// ---- small helpers ----------------------------------------------------------------------

// Build an element: h("a", {href: "#/x"}, "text", child, ...). Text is never parsed as HTML.
function h(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (value === null || value === undefined || value === false) continue;
    if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
    else if (key === "class") node.className = value;
    else node.setAttribute(key, value === true ? "" : value);
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined) continue;
    node.append(child instanceof Node ? child : String(child));
  }
  return node;
}

const $ = (selector) => document.querySelector(selector);
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

function basic(username, password) {
  const bytes = new TextEncoder().encode(`${username}:${password}`);
  return "Basic " + btoa(String.fromCharCode(...bytes));
}

function headers(extra = {}) {
  return { Authorization: session.auth, Tenant: session.tenant, ...extra };
}

class ApiError extends Error {}

async function api(method, path, body, extraHeaders = {}) {
  const init = { method, headers: headers(extraHeaders) };
  if (body !== undefined) {
    if (body instanceof Blob || body instanceof ArrayBuffer) {
      init.body = body;
      init.headers["Content-Type"] = "application/octet-stream";
    } else {
      init.body = JSON.stringify(body);
      init.headers["Content-Type"] = "application/json";
    }
  }
  const response = await fetch(API + path, init);
  if (response.status === 204) return null;
  const data = await response.json().catch(() => ({}));
  if (!response.ok) throw new ApiError(data.message || `${method} ${path}: ${response.status}`);
  return data;
}

function flash(message) {
  $("#flash").textContent = message || "";
}

function statusBadge(status) {
  return h("span", { class: `status ${status || ""}`, "data-status": status || "" }, status || "-");
}

function when(timestamp) {
  return timestamp ? timestamp.replace("T", " ").replace(/\.\d+Z$/, "") : "";
}

function parseJson(text, what) {
  if (!text.trim()) return {};
  try {
    return JSON.parse(text);
  } catch {
    throw new ApiError(`${what} must be JSON, e.g. {"key": "value"}`);
  }
}

// ---- live events (Server-Sent Events read through fetch) --------------------------------

// Follow a text/event-stream: onEvent(data) for each event, onEnd(data) at `event: end`.
// Returns a function that stops following.
function follow(path, onEvent, onEnd) {
  const controller = new AbortController();
  let lastId = null;
  (async () => {
    while (!controller.signal.aborted) {
      try {
        const extra = lastId === null ? {} : { "Last-Event-ID": lastId };
        const response = await fetch(API + path, {
          headers: headers({ Accept: "text/event-stream", ...extra }),
          signal: controller.signal,
        });
        if ([401, 403, 404].includes(response.status)) {
          // Retrying cannot help: say why, and stop following.
          const data = await response.json().catch(() => ({}));
          flash(data.message || `The event stream answered ${response.status}`);
          return;
        }
        if (!response.ok) throw new ApiError(`stream: ${response.status}`);
        const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
        let buffer = "";
        for (;;) {
          const { value, done } = await reader.read();
          if (done) break;
          buffer += value.replace(/\r\n?/g, "\n");
          let cut;
          while ((cut = buffer.indexOf("\n\n")) >= 0) {
            const block = buffer.slice(0, cut);
            buffer = buffer.slice(cut + 2);
            const message = { event: "message", data: [] };
            for (const line of block.split("\n")) {
              if (!line || line.startsWith(":")) continue;
              const colon = line.indexOf(":");
              const name = colon < 0 ? line : line.slice(0, colon);
              const text = colon < 0 ? "" : line.slice(colon + 1).replace(/^ /, "");
              if (name === "data") message.data.push(text);
              else if (name === "id") lastId = text;
              else if (name === "event") message.event = text;
            }
            if (!message.data.length) continue;
            const data = JSON.parse(message.data.join("\n"));
            if (message.event === "end") {
              onEnd(data);
              return;
            }
            onEvent(data);
          }
        }
      } catch (error) {
        if (controller.signal.aborted) return;
      }
      await sleep(2000); // then resume after the last event received
    }
  })();
  return () => controller.abort();
}

// Run `task` at most once per `ms`, and once more after the last call.
function throttled(task, ms) {
  let timer = null;
  let again = false;
  const run = async () => {
    again = false;
    try {
      await task();
    } finally {
      timer = setTimeout(() => {
        timer = null;
        if (again) run();
      }, ms);
    }
  };
  return () => {
    if (timer) again = true;
    else run();
  };
}

// ---- views ------------------------------------------------------------------------------

async function blueprintsView(view) {
  const list = await api("GET", "/blueprints?_sort=-created_at&_size=200");
  const form = h(
    "form",
    { class: "card inline", id: "upload" },
    h("label", {}, "Blueprint id ", h("input", { name: "id", required: true })),
    h("label", {}, "File (YAML or archive) ", h("input", { name: "file", type: "file", required: true })),
    h("label", {}, "Main YAML in an archive ", h("input", { name: "main", value: "blueprint.yaml" })),
    h("button", { type: "submit" }, "Upload"),
  );
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const id = form.elements.id.value.trim();
    const file = form.elements.file.files[0];
    const query = new URLSearchParams({ application_file_name: form.elements.main.value, visibility: "tenant" });
    try {
      await api("PUT", `/blueprints/${encodeURIComponent(id)}?${query}`, file);
      flash("");
      route();
    } catch (error) {
      flash(error.message);
    }
  });
  view.append(
    h("h2", {}, "Blueprints"),
    form,
    h(
      "table",
      { id: "blueprints" },
      h("tr", {}, h("th", {}, "Id"), h("th", {}, "State"), h("th", {}, "Main file"), h("th", {}, "Uploaded")),
      list.items.map((bp) =>
        h(
          "tr",
          { "data-id": bp.id },
          h("td", {}, bp.id),
          h("td", {}, statusBadge(bp.state)),
          h("td", {}, bp.main_file_name || ""),
          h("td", {}, when(bp.created_at)),
        ),
      ),
    ),
  );
}

function workflowForm(deploymentId, workflows) {
  const names = workflows.length ? workflows : ["install", "uninstall"];
  const form = h(
    "form",
    { class: "inline run", "data-deployment": deploymentId },
    h("label", {}, "Workflow ", h("select", { name: "workflow" }, names.map((name) => h("option", { value: name }, name)))),
    h("label", {}, "Parameters (JSON) ", h("textarea", { name: "parameters", placeholder: "{}" })),
    h("button", { type: "submit", class: "run-selected" }, "Run"),
    h("button", { type: "submit", class: "secondary install", "data-workflow": "install" }, "Install"),
    h("button", { type: "submit", class: "secondary uninstall", "data-workflow": "uninstall" }, "Uninstall"),
  );
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    // The Install and Uninstall buttons name their workflow; Run takes the selected one.
    const workflow = (event.submitter && event.submitter.dataset.workflow) || form.elements.workflow.value;
    try {
      const parameters = parseJson(form.elements.parameters.value, "Parameters");
      const execution = await api("POST", "/executions", {
        deployment_id: deploymentId,
        workflow_id: workflow,
        parameters,
      });
      flash("");
      location.hash = `#/executions/${execution.id}`;
    } catch (error) {
      flash(error.message);
    }
  });
  return form;
}

async function deploymentsView(view) {
  const [deployments, blueprints] = await Promise.all([
    api("GET", "/deployments?_sort=-created_at&_size=200"),
    api("GET", "/blueprints?_size=1000&_include=id"),
  ]);
  const form = h(
    "form",
    { class: "card inline", id: "create-deployment" },
    h("label", {}, "Deployment id ", h("input", { name: "id", required: true })),
    h(
      "label",
      {},
      "Blueprint ",
      h("select", { name: "blueprint" }, blueprints.items.map((bp) => h("option", { value: bp.id }, bp.id))),
    ),
    h("label", {}, "Inputs (JSON) ", h("textarea", { name: "inputs", placeholder: "{}" })),
    h("button", { type: "submit" }, "Create deployment"),
  );
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    try {
      const inputs = parseJson(form.elements.inputs.value, "Inputs");
      const id = form.elements.id.value.trim();
      await api("PUT", `/deployments/${encodeURIComponent(id)}`, {
        blueprint_id: form.elements.blueprint.value,
        inputs,
      });
      flash("");
      route();
    } catch (error) {
      flash(error.message);
    }
  });
  view.append(
    h("h2", {}, "Deployments"),
    form,
    h(
      "table",
      { id: "deployments" },
      h(
        "tr",
        {},
        h("th", {}, "Id"),
        h("th", {}, "Blueprint"),
        h("th", {}, "Status"),
        h("th", {}, "Latest execution"),
        h("th", {}, "Progress"),
        h("th", {}, "Run a workflow"),
      ),
      deployments.items.map((dep) =>
        h(
          "tr",
          { "data-id": dep.id },
          h("td", {}, dep.id),
          h("td", {}, dep.blueprint_id),
          h(
            "td",
            { class: "dep-status" },
            statusBadge(dep.installation_status),
            " ",
            dep.deployment_status ? h("span", { class: "muted" }, dep.deployment_status.replace("_", " ")) : null,
          ),
          h(
            "td",
            {},
            dep.latest_execution
              ? h(
                  "a",
                  { href: `#/executions/${dep.latest_execution}` },
                  dep.latest_execution_workflow_id || "execution",
                  " ",
                  statusBadge(dep.latest_execution_status),
                )
              : h("span", { class: "muted" }, "none"),
          ),
          h(
            "td",
            {},
            dep.latest_execution
              ? `${dep.latest_execution_finished_operations ?? 0}/${dep.latest_execution_total_operations ?? 0}`
              : "",
          ),
          h("td", {}, workflowForm(dep.id, (dep.workflows || []).map((w) => w.name))),
        ),
      ),
    ),
  );
}

async function executionsView(view) {
  const list = await api("GET", "/executions?_sort=-created_at&_size=100");
  view.append(
    h("h2", {}, "Executions"),
    h(
      "table",
      { id: "executions" },
      h("tr", {}, h("th", {}, "Execution"), h("th", {}, "Deployment"), h("th", {}, "Workflow"), h("th", {}, "Status"), h("th", {}, "Created")),
      list.items.map((ex) =>
        h(
          "tr",
          {},
          h("td", {}, h("a", { href: `#/executions/${ex.id}` }, ex.id)),
          h("td", {}, ex.deployment_id || ""),
          h("td", {}, ex.workflow_id),
          h("td", {}, statusBadge(ex.status_display || ex.status)),
          h("td", {}, when(ex.created_at)),
        ),
      ),
    ),
  );
}

const OP_STATES = {
  pending: "pending",
  sent: "queued",
  started: "running",
  succeeded: "succeeded",
  failed: "failed",
};

// The operation graph as lanes, one per node instance, operations in dependency order.
function renderGraph(container, operations) {
  const byId = new Map(operations.map((op) => [op.id, op]));
  const depth = new Map();
  const depthOf = (op) => {
    if (depth.has(op.id)) return depth.get(op.id);
    depth.set(op.id, 0);
    let d = 0;
    for (const dep of op.dependencies || []) if (byId.has(dep)) d = Math.max(d, depthOf(byId.get(dep)) + 1);
    depth.set(op.id, d);
    return d;
  };
  const tasks = operations.filter((op) => op.type === "RemoteWorkflowTask");
  const lanes = new Map();
  for (const op of tasks.sort((a, b) => depthOf(a) - depthOf(b))) {
    const lane = op.node_instance_id || "workflow";
    if (!lanes.has(lane)) lanes.set(lane, []);
    lanes.get(lane).push(op);
  }
  container.replaceChildren(
    ...[...lanes.entries()].map(([name, ops]) =>
      h(
        "div",
        { class: "lane", "data-instance": name },
        h("span", { class: "name", title: name }, name),
        ops.map((op) => {
          const state = op.graph_state || OP_STATES[op.state] || op.state;
          return h("span", { class: `op ${state}`, "data-state": state, title: `${op.name}: ${state}` }, shortName(op.name));
        }),
      ),
    ),
  );
}

// `create` for the lifecycle's operations, `validation.create` for other interfaces'.
function shortName(name) {
  const parts = name.split(".");
  const interfaceName = parts.length > 1 ? parts[parts.length - 2] : "";
  const last = parts[parts.length - 1];
  return ["lifecycle", "relationship_lifecycle", ""].includes(interfaceName) ? last : `${interfaceName}.${last}`;
}

function eventLine(event) {
  const where = event.node_instance_id ? `[${event.node_instance_id}${event.operation ? "." + event.operation.split(".").pop() : ""}] ` : "";
  const kind = event.type === "cloudify_log" ? (event.level || "log").toUpperCase() : event.event_type;
  return h(
    "li",
    { class: `${event.type === "cloudify_log" ? "log" : "event"} ${event.event_type || ""}`, "data-event-type": event.event_type || "" },
    `${when(event.reported_timestamp)} ${kind} ${where}${event.message}`,
  );
}

async function executionView(view, executionId) {
  const progressBar = h("div", { class: "bar" });
  const progressLabel = h("div", { class: "label" });
  const progress = h("div", { class: "progress", id: "progress", role: "progressbar" }, progressBar, progressLabel);
  const heading = h("div", { id: "execution-head" });
  const graph = h("div", { class: "lanes", id: "graph" });
  const events = h("ol", { id: "events" });
  const actions = h("div", { class: "actions" });
  view.append(
    h("h2", {}, "Execution"),
    h("div", { class: "card" }, heading, progress, actions),
    h("h3", {}, "Operations"),
    h("div", { class: "card" }, graph),
    h("h3", {}, "Events"),
    events,
  );

  const control = (action) => async () => {
    try {
      await api("POST", `/executions/${executionId}`, { action });
      flash("");
      refresh();
    } catch (error) {
      flash(error.message);
    }
  };
  actions.append(
    h("button", { type: "button", id: "cancel", class: "secondary", onclick: control("cancel") }, "Cancel"),
    " ",
    h("button", { type: "button", id: "force-cancel", class: "danger", onclick: control("force-cancel") }, "Force cancel"),
    " ",
    h("button", { type: "button", id: "kill", class: "danger", onclick: control("kill") }, "Kill"),
    " ",
    h("button", { type: "button", id: "resume", class: "secondary", onclick: control("resume") }, "Resume"),
    " ",
    h(
      "button",
      { type: "button", id: "force-resume", class: "secondary", onclick: control("force-resume"), title: "Resume, running failed and unfinished operations again from the start" },
      "Resume (reset operations)",
    ),
  );

  const showExecution = (ex) => {
    const total = ex.total_operations || 0;
    const finished = ex.finished_operations || 0;
    const percent = total ? Math.round((100 * finished) / total) : ex.status === "terminated" ? 100 : 0;
    progressBar.style.width = `${percent}%`;
    progress.dataset.percent = String(percent);
    progress.setAttribute("aria-valuenow", String(percent));
    progressLabel.textContent = `${finished}/${total} operations (${percent}%)`;
    const ended = ["terminated", "failed", "cancelled"].includes(ex.status);
    heading.replaceChildren(
      h(
        "div",
        {},
        h("strong", {}, ex.workflow_id),
        " on ",
        h("a", { href: "#/deployments" }, ex.deployment_id || ""),
        " ",
        statusBadge(ex.status),
        h("span", { class: "muted" }, ` ${ex.id} · started ${when(ex.started_at || ex.created_at)}`),
        ex.error ? h("pre", { class: "error" }, ex.error) : null,
      ),
    );
    actions.querySelector("#cancel").disabled = ended;
    actions.querySelector("#force-cancel").disabled = ended;
    actions.querySelector("#kill").disabled = ended;
    for (const id of ["#resume", "#force-resume"]) {
      actions.querySelector(id).disabled = !["failed", "cancelled"].includes(ex.status);
    }
  };
  const refresh = throttled(async () => {
    const [ex, ops] = await Promise.all([
      api("GET", `/executions/${executionId}`),
      api("GET", `/operations?execution_id=${encodeURIComponent(executionId)}&_size=10000`),
    ]);
    showExecution(ex);
    renderGraph(graph, ops.items);
  }, 400);
  refresh();

  const stop = follow(
    `/executions/${encodeURIComponent(executionId)}/events/stream`,
    (event) => {
      const atBottom = events.scrollTop + events.clientHeight >= events.scrollHeight - 4;
      events.append(eventLine(event));
      if (atBottom) events.scrollTop = events.scrollHeight;
      refresh();
    },
    () => {
      view.dataset.ended = "true";
      refresh();
    },
  );
  viewStops.push(stop);
}

// ---- routing, log-in, tenants -----------------------------------------------------------

async function route() {
  for (const stop of viewStops) stop();
  viewStops = [];
  const view = $("#view");
  const fresh = h("section", { id: "view" });
  view.replaceWith(fresh);
  const [, page, id] = (location.hash || "#/deployments").split("/");
  try {
    if (page === "blueprints") await blueprintsView(fresh);
    else if (page === "executions" && id) await executionView(fresh, decodeURIComponent(id));
    else if (page === "executions") await executionsView(fresh);
    else await deploymentsView(fresh);
  } catch (error) {
    flash(error.message);
  }
}

async function loadTenants() {
  const select = $("#tenant");
  let names = [session.tenant];
  try {
    const tenants = await api("GET", "/tenants?_size=1000&_include=name");
    names = [...new Set([session.tenant, ...tenants.items.map((t) => t.name)])];
  } catch {
    // Only the tenant typed at log-in, then.
  }
  select.replaceChildren(...names.sort().map((name) => h("option", { value: name }, name)));
  select.value = session.tenant;
}

async function logIn(event) {
  event.preventDefault();
  const form = event.target;
  session.auth = basic(form.elements.username.value, form.elements.password.value);
  session.tenant = form.elements.tenant.value.trim() || "default_tenant";
  try {
    await api("GET", "/status");
  } catch (error) {
    session.auth = null;
    $("#login-error").textContent = error.message;
    return;
  }
  form.elements.password.value = "";
  $("#login-error").textContent = "";
  session.user = form.elements.username.value;
  $("#user").textContent = session.user;
  form.hidden = true;
  $("#nav").hidden = false;
  $("#who").hidden = false;
  await loadTenants();
  if (!location.hash) location.hash = "#/deployments";
  else route();
}

function logOut() {
  for (const stop of viewStops) stop();
  viewStops = [];
  session.auth = null;
  $("#login").hidden = false;
  $("#nav").hidden = true;
  $("#who").hidden = true;
  $("#view").replaceChildren();
}

$("#login").addEventListener("submit", logIn);
$("#logout").addEventListener("click", logOut);
$("#tenant").addEventListener("change", (event) => {
  session.tenant = event.target.value;
  route();
});
window.addEventListener("hashchange", () => {
  if (session.auth) route();
});
