// Lockstep admin page: a small script over the JSON admin API (no library, no build).
// The page is built with DOM nodes and text only (never as HTML), so nothing the API
// returns is parsed as markup; the API key lives in sessionStorage and travels only in the
// Authorization header (the Functions key, on Azure, in x-functions-key).
"use strict";

const KEY = "lockstep.apiKey";
const FUNCTIONS_KEY = "lockstep.functionsKey";
const DECIDED_BY = "admin page";
const REFRESH_MS = 2000;
const SVG = "http://www.w3.org/2000/svg";

let refreshTimer = null;

function h(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs || {})) {
    if (value === null || value === undefined || value === false) continue;
    if (name.startsWith("on")) node.addEventListener(name.slice(2), value);
    else node.setAttribute(name, value === true ? "" : String(value));
  }
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

function say(message, kind) {
  const status = document.getElementById("status");
  status.textContent = message;
  status.className = kind || "";
}

class Refused extends Error {}

async function api(method, path, body) {
  const headers = { Accept: "application/json", Authorization: "Bearer " + sessionStorage.getItem(KEY) };
  const functionsKey = sessionStorage.getItem(FUNCTIONS_KEY);
  if (functionsKey) headers["x-functions-key"] = functionsKey;
  if (body !== undefined) headers["Content-Type"] = "application/json";
  const response = await fetch(path, {
    method,
    headers,
    body: body === undefined ? undefined : JSON.stringify(body),
    cache: "no-store",
    credentials: "omit",
  });
  if (response.status === 401) throw new Refused("The API key was refused.");
  const text = await response.text();
  const data = text ? JSON.parse(text) : null;
  if (!response.ok) {
    const detail = data && data.detail ? data.detail : response.statusText;
    throw Object.assign(new Error(`${method} ${path}: ${response.status} ${detail}`), { status: response.status });
  }
  return data;
}

const when = (stamp) => (stamp ? new Date(stamp).toLocaleString() : "never");
const shown = (side) => (side && side.present ? JSON.stringify(side.value) : "(absent)");
const badge = (text, kind) => h("span", { class: "badge " + (kind || text) }, text);

function fields(pairs) {
  return h("dl", { class: "fields" },
    pairs.map(([name, value]) => [h("dt", {}, name), h("dd", {}, value)]));
}

// -- views ---------------------------------------------------------------------------

async function runsView(view, [taskId]) {
  const tasks = (await api("GET", "admin/tasks?limit=100")).items;
  view.append(h("h2", {}, "Runs"));
  if (!tasks.length) return view.append(h("p", {}, "No sync tasks yet."));
  const chosen = tasks.find((t) => t.id === taskId) || tasks[0];
  const select = h("select", { id: "task", onchange: () => { location.hash = `#runs/${select.value}`; } },
    tasks.map((t) => h("option", { value: t.id, selected: t.id === chosen.id }, t.id)));
  view.append(h("p", {}, h("label", { for: "task" }, "Task "), select));
  const timeline = h("ol", { class: "timeline", "aria-label": `Runs of ${chosen.id}` });
  view.append(timeline);
  const draw = async () => {
    const results = (await api("GET", `admin/tasks/${chosen.id}/results?limit=50`)).items; // newest first
    timeline.replaceChildren(...results.map((r) => h("li", { class: "run", "data-status": r.status, "data-trigger": r.trigger || "unknown" },
      h("h3", {}, when(r.startedAt), " ", badge(r.status), " ", badge(r.trigger || "unknown", "trigger"), " ", r.direction, " · ", r.connectionId,
        ` · ${Math.round(r.durationMs)} ms`),
      fields([
        ["read", r.recordsRead], ["created", r.created], ["linked", r.linked],
        ["updated", r.updated], ["unchanged", r.unchanged], ["pushed", r.pushed],
        ["deleted", r.deleted], ["conflicts", r.conflictsDetected],
        ["failed", r.failed],
      ]),
      r.errors.length ? h("ul", { class: "errors" }, r.errors.map((e) => h("li", {}, e))) : null)));
    if (!results.length) timeline.replaceChildren(h("li", {}, "No runs yet."));
  };
  await draw();
  refreshTimer = setInterval(() => draw().catch(failed), REFRESH_MS);
}

const valuesOf = (c) => [
  ["Base (last synced)", shown(c.base)],
  ["Hub", shown(c.hub)],
  [`Incoming (${c.connectionId})`, shown(c.incoming)],
];
const policyOf = (c) => c.policy || "not recorded";

async function conflictsView(view) {
  const [conflicts, resolved] = await Promise.all([
    api("GET", "admin/conflicts?limit=100").then((page) => page.items),
    api("GET", "admin/conflicts?status=resolved&limit=50").then((page) => page.items), // newest first
  ]);
  view.append(h("h2", {}, "Conflicts"));
  if (!conflicts.length) view.append(h("p", {}, "No conflict waits for a decision."));
  for (const c of conflicts) {
    const decide = (winner, label) => h("button", {
      type: "button",
      onclick: () => act(() => api("POST", `admin/conflicts/${c.id}/decision`, { winner, decided_by: DECIDED_BY }),
        `Decided: ${winner === "hub" ? "the hub's value kept" : "the incoming value taken"}.`),
    }, label);
    view.append(h("article", { class: "card", "data-conflict": c.id },
      h("h3", {}, `Field “${c.field}” of `, h("a", { href: `#entity/${c.entityId}` }, c.entityId)),
      h("p", {}, `${c.connectionId} changed it while the hub did too (policy: ${policyOf(c)}); `, when(c.createdAt)),
      h("div", { class: "scroll" }, h("table", {},
        h("caption", {}, `Values of ${c.field}`),
        h("thead", {}, h("tr", {}, h("th", { scope: "col" }, "Side"), h("th", { scope: "col" }, "Value"))),
        h("tbody", {}, valuesOf(c).map(([side, value]) =>
          h("tr", {}, h("th", { scope: "row" }, side), h("td", {}, value)))))),
      h("div", { class: "actions" }, decide("hub", "Keep hub value"), decide("incoming", "Take incoming value"))));
  }
  view.append(h("h2", { id: "resolved-heading" }, "Resolved by policy"));
  if (!resolved.length) return view.append(h("p", {}, "No conflict was resolved by a task's policy lately."));
  view.append(h("ol", { class: "resolved", "aria-labelledby": "resolved-heading" }, resolved.map((c) =>
    h("li", { "data-resolved": c.id },
      h("h3", {}, `Field “${c.field}” of `, h("a", { href: `#entity/${c.entityId}` }, c.entityId), " · ", when(c.decidedAt)),
      fields([
        ...valuesOf(c),
        ["Policy", policyOf(c)],
        ["Rule", c.rule],
        ["Winner", c.winner === "hub" ? "hub (kept its value)" : `incoming (${c.connectionId})`],
      ])))));
}

async function duplicatesView(view) {
  const candidates = (await api("GET", "admin/duplicates?limit=100")).items;
  view.append(h("h2", {}, "Duplicates"));
  if (!candidates.length) view.append(h("p", {}, "No probable duplicate waits for review."));
  for (const d of candidates) {
    const [held, existing] = await Promise.all([
      api("GET", `admin/entities/${d.entityId}`),
      api("GET", `admin/entities/${d.candidateEntityId}`),
    ]);
    const names = [...new Set([...Object.keys(existing.values), ...Object.keys(held.values)])].sort();
    const decide = (same, label) => h("button", {
      type: "button",
      onclick: () => act(() => api("POST", `admin/duplicates/${d.id}/decision`, { same, decided_by: DECIDED_BY }),
        same ? "Confirmed: merged into one record." : "Rejected: kept apart."),
    }, label);
    view.append(h("article", { class: "card", "data-duplicate": d.id },
      h("h3", {}, `Same person? score ${d.score.toFixed(2)} (${d.rule})`),
      h("p", {}, d.explanation),
      h("div", { class: "scroll" }, h("table", {},
        h("caption", {}, `New from ${d.connectionId} beside the existing record`),
        h("thead", {}, h("tr", {},
          h("th", { scope: "col" }, "Field"),
          h("th", { scope: "col" }, h("a", { href: `#entity/${held.id}` }, `New (${d.connectionId})`)),
          h("th", { scope: "col" }, h("a", { href: `#entity/${existing.id}` }, "Existing")))),
        h("tbody", {}, names.map((name) => {
          const differs = JSON.stringify(held.values[name]) !== JSON.stringify(existing.values[name]);
          return h("tr", { class: differs ? "differs" : null },
            h("th", { scope: "row" }, name, differs ? " ≠" : ""),
            h("td", {}, held.values[name] ?? ""), h("td", {}, existing.values[name] ?? ""));
        })))),
      h("div", { class: "actions" }, decide(true, "Confirm: same"), decide(false, "Reject: different"))));
  }
}

async function entityView(view, [entityId]) {
  const input = h("input", { id: "entity-id", value: entityId || "", required: true });
  view.append(h("h2", {}, "Entity"), h("form", {
    class: "inline",
    onsubmit: (event) => { event.preventDefault(); location.hash = `#entity/${encodeURIComponent(input.value.trim())}`; },
  }, h("label", { for: "entity-id" }, "Entity id "), input, h("button", { type: "submit" }, "Show")));
  if (!entityId) return;
  const e = await api("GET", `admin/entities/${encodeURIComponent(entityId)}`);
  view.append(
    h("p", {}, `${e.entityType} · modified ${when(e.modifiedAt)}`,
      e.deleted ? badge("deleted") : null, e.heldForReview ? badge("held for review", "held") : null,
      e.mergedInto ? [" · merged into ", h("a", { href: `#entity/${e.mergedInto}` }, e.mergedInto)] : null),
    h("div", { class: "scroll" }, h("table", {},
      h("caption", {}, "Values and where each came from"),
      h("thead", {}, h("tr", {}, ["Field", "Value", "Written by", "When"].map((t) => h("th", { scope: "col" }, t)))),
      h("tbody", {}, Object.entries(e.values).sort().map(([name, value]) => {
        const source = (e.provenance || {})[name] || {};
        return h("tr", {}, h("th", { scope: "row" }, name), h("td", {}, JSON.stringify(value)),
          h("td", {}, source.source || "unknown"), h("td", {}, when(source.modifiedAt)));
      })))),
    h("h3", { id: "links" }, "Its records in every system"),
    h("ul", { class: "links", "aria-labelledby": "links" }, e.links.map((link) => h("li", { "data-link": link.connectionId },
      h("strong", {}, link.connectionId), ` (${link.system || "connection deleted"}): record `, h("code", {}, link.externalId),
      ` · last synced ${when(link.lastSyncedAt)} · `, link.retired ? badge("gone there", "deleted") : "linked"))));
  if (e.deleted || e.mergedInto) return;
  // An admin edit: written with source "admin" and pushed to every linked system.
  const field = h("select", { id: "edit-field" }, Object.keys(e.values).sort().map((n) => h("option", { value: n }, n)));
  const value = h("input", { id: "edit-value", required: true });
  view.append(h("form", {
    class: "inline",
    onsubmit: (event) => {
      event.preventDefault();
      act(() => api("PATCH", `admin/entities/${encodeURIComponent(e.id)}`, { values: { [field.value]: value.value } }),
        `Saved ${field.value}; it is being pushed to every linked system.`);
    },
  }, h("h3", {}, "Edit"), h("label", { for: "edit-field" }, "Field "), field, " ",
  h("label", { for: "edit-value" }, "New value "), value, h("button", { type: "submit" }, "Save")));
}

function bars(title, entries) {
  // A horizontal bar chart as inline SVG; the label carries every figure for screen readers.
  const width = 320, row = 22, label = 120;
  const max = Math.max(1, ...entries.map(([, v]) => v));
  const svg = document.createElementNS(SVG, "svg");
  svg.setAttribute("viewBox", `0 0 ${width} ${Math.max(1, entries.length) * row}`);
  svg.setAttribute("role", "img");
  svg.setAttribute("aria-label", `${title}: ` + (entries.map(([k, v]) => `${k} ${v}`).join(", ") || "none"));
  entries.forEach(([name, value], i) => {
    const text = document.createElementNS(SVG, "text");
    text.setAttribute("x", "0");
    text.setAttribute("y", String(i * row + 15));
    text.textContent = name;
    const bar = document.createElementNS(SVG, "rect");
    bar.setAttribute("x", String(label));
    bar.setAttribute("y", String(i * row + 4));
    bar.setAttribute("height", "14");
    bar.setAttribute("width", String(((width - label - 50) * value) / max));
    const figure = document.createElementNS(SVG, "text");
    figure.setAttribute("x", String(label + ((width - label - 50) * value) / max + 4));
    figure.setAttribute("y", String(i * row + 15));
    figure.textContent = String(Math.round(value * 10) / 10);
    svg.append(text, bar, figure);
  });
  return h("figure", {}, h("figcaption", {}, title), entries.length ? svg : h("p", {}, "None in this window."));
}

async function metricsView(view) {
  const m = await api("GET", "admin/metrics?hours=24");
  const written = (r) => r.created + r.updated + r.pushed + r.deleted;
  view.append(h("h2", {}, "Metrics (last 24 hours)"),
    fields([
      ["Records read", m.records.read], ["Records written", written(m.records)],
      ["Failed", m.records.failed], ["Conflicts waiting", m.conflicts.waiting],
      ["Duplicates decided", m.duplicatesDecided],
      ["Match rate", m.dedup.matchRate === null ? "n/a" : `${Math.round(m.dedup.matchRate * 100)} %`],
    ]),
    h("div", { class: "charts" },
      bars("Records written per hour", m.recordsPerHour.filter((r) => written(r) || r.read)
        .map((r) => [new Date(r.hour).toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" }), written(r)])),
      bars("Latency p95 per stage (ms)", Object.entries(m.latencyMs).map(([stage, p]) => [stage, p.p95])),
      bars("Webhooks per outcome", Object.entries(m.webhooks.outcomes))));
}

// connections.js (loaded after this file) adds VIEWS.connections, the default view.
const VIEWS = {
  runs: runsView,
  conflicts: conflictsView,
  duplicates: duplicatesView,
  entity: entityView,
  metrics: metricsView,
}; // webhooks.js adds `webhooks`

// -- frame -----------------------------------------------------------------------------

function failed(err) {
  if (err instanceof Refused) signOut(err.message);
  else say(err.message, "error");
}

async function act(call, done) {
  try {
    await call();
    say(done, "ok");
    await render();
  } catch (err) {
    failed(err);
  }
}

async function render() {
  clearInterval(refreshTimer);
  const signedIn = Boolean(sessionStorage.getItem(KEY));
  document.getElementById("sign-in").hidden = signedIn;
  document.getElementById("nav").hidden = !signedIn;
  const view = document.getElementById("view");
  view.hidden = !signedIn;
  if (!signedIn) return;
  const [name, ...rest] = location.hash.slice(1).split("/").map(decodeURIComponent);
  const chosen = VIEWS[name] ? name : "connections";
  for (const link of document.querySelectorAll("#nav a")) {
    if (link.getAttribute("href") === `#${chosen}`) link.setAttribute("aria-current", "page");
    else link.removeAttribute("aria-current");
  }
  const fresh = h("section", { id: "view", "aria-busy": "true" });
  view.replaceWith(fresh);
  try {
    await VIEWS[chosen](fresh, rest);
  } catch (err) {
    failed(err);
  } finally {
    fresh.removeAttribute("aria-busy");
  }
}

function signOut(reason) {
  sessionStorage.removeItem(KEY);
  sessionStorage.removeItem(FUNCTIONS_KEY);
  say("");
  document.getElementById("sign-in-error").textContent = reason || "";
  render();
  document.getElementById("api-key").focus();
}

document.addEventListener("DOMContentLoaded", () => {
  document.getElementById("sign-in").addEventListener("submit", async (event) => {
    event.preventDefault();
    const form = event.target;
    sessionStorage.setItem(KEY, form.elements["api-key"].value.trim());
    sessionStorage.setItem(FUNCTIONS_KEY, form.elements["functions-key"].value.trim());
    form.reset();
    try {
      await api("GET", "admin/connections?limit=1"); // refused here, not on the first view
      document.getElementById("sign-in-error").textContent = "";
      await render();
      // To the content, unless the person has moved on meanwhile (a slow first view).
      if (document.activeElement === document.body) document.getElementById("main").focus();
    } catch (err) {
      signOut(err instanceof Refused ? err.message : `Cannot sign in: ${err.message}`);
    }
  });
  document.getElementById("sign-out").addEventListener("click", () => signOut("Signed out."));
  window.addEventListener("hashchange", () => { say(""); render(); });
  render();
});
