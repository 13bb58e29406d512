// Lockstep admin page: the connections view (loaded after app.js, whose helpers it uses).
// Each card reads one answer, admin/connections/{id}/overview: auth and token expiry,
// breaker, last successful pull, webhooks over 24 hours, budget left, cursor ages. Its
// actions: test, sync now, pause/resume, connect with OAuth, and a resync whose dry-run diff
// is shown first — nothing is written until "Run resync".
"use strict";

const ACTIONS = ["create", "update", "delete", "unchanged", "fail"];

function age(seconds) {
  if (seconds === null || seconds === undefined) return "never moved";
  if (seconds < 90) return `${Math.round(seconds)} s old`;
  if (seconds < 90 * 60) return `${Math.round(seconds / 60)} min old`;
  if (seconds < 36 * 3600) return `${Math.round(seconds / 3600)} h old`;
  return `${Math.round(seconds / 86400)} days old`;
}

function authText(auth) {
  const kind = auth.credentialType || "no credential";
  if (auth.needsReauth) return `${kind} · needs re-authorization`;
  return auth.expiresAt ? `${kind} · token expires ${when(auth.expiresAt)}` : `${kind} · no expiry`;
}

function webhooksText(w) {
  return `last seen ${when(w.lastSeenAt)} · ${w.received} received, ${w.rejected} rejected, ` +
    `${w.duplicate} duplicate, ${w.missed} missed`;
}

function budgetsText(budgets) {
  if (budgets === null) return "unknown (its rate limits cannot be read)";
  return budgets.map((b) => `${b.bucket}: ${b.remaining} of ${b.limit} per ${b.windowSeconds} s`).join("; ") || "none";
}

async function connectionsView(view) {
  const connections = (await api("GET", "admin/connections?limit=100")).items;
  const overviews = await Promise.all(
    connections.map((c) => api("GET", `admin/connections/${encodeURIComponent(c.id)}/overview`)));
  view.append(h("h2", {}, "Connections"),
    h("button", { type: "button", onclick: () => render() }, "Refresh"));
  if (!connections.length) view.append(h("p", {}, "No connections yet."));
  for (const o of overviews) view.append(connectionCard(o));
}

function connectionCard(o) {
  const output = h("p", { class: "output", role: "status" });
  const diff = h("div", { class: "resync" });
  const action = (label, run, enabled = true) => h("button", {
    type: "button",
    disabled: !enabled,
    onclick: async () => {
      try {
        output.textContent = await run();
      } catch (err) {
        if (err instanceof Refused) return signOut(err.message);
        output.textContent = err.message;
      }
    },
  }, label);
  const hasTasks = o.tasks.length > 0;
  return h("article", { class: "card", "data-connection": o.id },
    h("h3", {}, o.displayName || o.id, " ", badge(o.status),
      o.auth.needsReauth && o.status !== "needs_reauth" ? [" ", badge("needs re-auth", "needs_reauth")] : null,
      o.paused ? [" ", badge("paused", "disabled")] : null,
      o.breaker.state !== "closed" ? [" ", badge(`breaker ${o.breaker.state.replace("_", "-")}`, "failed")] : null),
    fields([
      ["System", o.system],
      ["Auth", authText(o.auth)],
      ["Breaker", `${o.breaker.state} (${o.breaker.failures} failures)`],
      ["Last success", when(o.lastSuccessAt)],
      ["Webhooks (24 h)", webhooksText(o.webhooks)],
      ["Budget left", budgetsText(o.budgets)],
      ["Tasks", o.tasks.map((t) => `${t.taskId} (${t.entityType}, ${t.enabled ? "on" : "paused"}, ` +
        `cursor ${age(t.cursorAgeSeconds)})`).join("; ") || "none"],
    ]),
    h("div", { class: "actions" },
      action("Test", async () => {
        const check = await api("POST", `admin/connections/${o.id}/test`);
        return check.ok ? "Test passed." : `Test failed: ${check.error || ""} ${check.detail || ""}`;
      }),
      action("Sync now", async () => {
        const started = await Promise.all(o.tasks.map((t) => api("POST", `admin/tasks/${t.taskId}/run`)));
        return `Sync started (${started.length} task${started.length === 1 ? "" : "s"}); see Runs.`;
      }, hasTasks),
      action(o.paused ? "Resume" : "Pause", async () => {
        const verb = o.paused ? "resume" : "pause";
        await Promise.all(o.tasks.map((t) => api("POST", `admin/tasks/${t.taskId}/${verb}`)));
        render();
        return "";
      }, hasTasks),
      o.oauthConnect === null ? action("Connect…", async () => {
        const started = await api("POST", `admin/connections/${o.id}/oauth/start`);
        const target = new URL(started.authorizeUrl);
        if (target.protocol !== "https:" && target.protocol !== "http:") throw new Error("Not an authorize URL.");
        location.assign(target.href);
        return "Opening the provider's consent page…";
      }) : null,
      o.tasks.map((t) => action(`Resync ${t.taskId}…`, () => resyncDryRun(t.taskId, diff, output))),
    ),
    diff,
    credentialForm(o, output),
    output);
}

async function resyncDryRun(taskId, diff, output) {
  const trigger = document.activeElement; // focus returns there when the diff closes
  diff.replaceChildren(h("p", {}, `Reading every record of ${taskId} (nothing is written)…`));
  let found;
  try {
    found = await api("POST", `admin/tasks/${encodeURIComponent(taskId)}/resync/dry-run`);
  } catch (err) {
    diff.replaceChildren();
    throw err;
  }
  const heading = `Resync ${taskId}: what it would do`;
  const close = (message) => {
    diff.replaceChildren();
    output.textContent = message;
    if (trigger instanceof HTMLElement && trigger.isConnected) trigger.focus();
  };
  const run = h("button", {
    type: "button",
    onclick: async () => {
      try {
        await api("POST", `admin/tasks/${encodeURIComponent(taskId)}/resync`);
        close(`Resync of ${taskId} started; see Runs.`);
      } catch (err) {
        if (err instanceof Refused) return signOut(err.message);
        output.textContent = err.message;
      }
    },
  }, "Run resync");
  diff.replaceChildren(h("section", { class: "dry-run", "aria-label": heading, "data-task": taskId },
    h("h4", {}, heading),
    found.complete ? null : h("p", {}, "The listing went on: these are the first records only."),
    h("ul", { class: "counts" }, ACTIONS.map((a) => h("li", { "data-action": a }, h("strong", {}, found.counts[a]), ` ${a}`))),
    ACTIONS.filter((a) => a !== "unchanged" && found.counts[a]).map((a) => h("details", { "data-action": a },
      h("summary", {}, `${found.counts[a]} to ${a === "fail" ? "fail" : a}`),
      h("ul", { class: "records" }, found.records.filter((r) => r.action === a).map(recordDiff)))),
    h("div", { class: "actions" }, run,
      h("button", { type: "button", class: "secondary", onclick: () => close("Resync cancelled; nothing was written.") }, "Cancel"))));
  run.focus();
  return "Dry run done: nothing was written. Review it, then run or cancel.";
}

const shownValue = (value) => (value === null ? "(none)" : JSON.stringify(value));

function recordDiff(r) {
  const changes = Object.entries(r.changes || {});
  return h("li", { "data-record": r.externalId },
    h("span", {}, r.externalId),
    r.entityId && r.action !== "create"
      ? [" → ", h("a", { href: `#entity/${r.entityId}`, "aria-label": `entity of ${r.externalId}` }, "entity")] : null,
    r.conflicts ? ` · ${r.conflicts} field${r.conflicts === 1 ? "" : "s"} left for a decision` : null,
    r.reason ? h("p", { class: "error" }, r.reason) : null,
    changes.length ? h("dl", { class: "changes" }, changes.map(([name, c]) => [
      h("dt", {}, name),
      h("dd", {}, r.action === "create" ? [] : [h("del", {}, shownValue(c.before)), " → "],
        h("ins", {}, shownValue(c.after))),
    ])) : null);
}

function credentialForm(connection, output) {
  // Write-only: the token is sent once and never read back or shown.
  const id = `token-${connection.id}`;
  const input = h("input", { id, type: "password", autocomplete: "new-password", required: true });
  return h("details", {},
    h("summary", {}, "Replace credential"),
    h("form", {
      onsubmit: async (event) => {
        event.preventDefault();
        try {
          await api("PATCH", `admin/connections/${connection.id}`,
            { credential: { type: "bearer_token", token: input.value } });
          output.textContent = "Credential replaced.";
        } catch (err) {
          output.textContent = err.message;
        } finally {
          input.value = "";
        }
      },
    }, h("label", { for: id }, "New bearer token"), input, h("button", { type: "submit" }, "Save")));
}

VIEWS.connections = connectionsView;
