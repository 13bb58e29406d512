// Lockstep admin page: the webhook inbox (#webhooks, #webhooks/<registration id>).
// Registrations with their health, and per registration its deliveries as the admin API
// lists them (outcome, reason, the provider's delivery id, latency; never a body or a
// secret, which the API does not give), with a replay of one delivery or of a time range
// and what each replay then did. Uses app.js's helpers (h, api, when, badge, fields, ...)
// and adds itself to its VIEWS; built with DOM nodes and text only, like app.js.
"use strict";

// Its own names stay inside (the scripts share one global scope).
(() => {
  const DELIVERIES_PAGE = 50;
  const REPLAY_POLL_MS = 500;
  const REPLAY_WAIT_MS = 30000;
  const HOUR_MS = 3600 * 1000;

  const hookPath = (id) => `admin/webhooks/${encodeURIComponent(id)}`;

  async function webhooksView(view, [registrationId]) {
    if (registrationId) return webhookDeliveriesView(view, registrationId);
    const registrations = (await api("GET", "admin/webhooks?limit=100")).items;
    view.append(h("h2", {}, "Webhooks"));
    if (!registrations.length) {
      return view.append(h("p", {}, "No webhook is registered. Register one with POST admin/webhooks."));
    }
    const healths = await Promise.all(registrations.map((r) => api("GET", `${hookPath(r.id)}/health`)));
    registrations.forEach((registration, i) => {
      view.append(registrationCard(registration, healths[i],
        h("a", { href: `#webhooks/${encodeURIComponent(registration.id)}` }, `Deliveries of ${registration.id}`)));
    });
  }

  function registrationCard(registration, health, ...more) {
    const last = health.lastDelivery;
    return h("article", { class: "card", "data-webhook": registration.id },
      h("h3", {}, registration.id, " ", badge(registration.status)),
      fields([
        ["Provider", registration.provider],
        ["Connection", registration.connectionId],
        ["Record types", registration.entityTypes.join(", ") || "all the connection syncs"],
        ["Failures in a row", health.lastFailureReason
          ? `${health.consecutiveFailures} (last: ${health.lastFailureReason})` : health.consecutiveFailures],
        ["Missed (pulls found)", `${health.missedWebhooks} (${health.missedInWindow} today)`],
        ["Last delivery", last ? [when(last.at), " ", badge(last.outcome), last.reason ? ` ${last.reason}` : ""] : "none yet"],
      ]),
      more);
  }

  async function webhookDeliveriesView(view, registrationId) {
    const [registration, health] = await Promise.all([
      api("GET", hookPath(registrationId)),
      api("GET", `${hookPath(registrationId)}/health`),
    ]);
    const output = h("p", { class: "output", role: "status", id: "replay-output" });
    view.append(h("p", {}, h("a", { href: "#webhooks" }, "All webhooks")),
      h("h2", {}, `Webhook ${registration.id}`),
      registrationCard(registration, health),
      replayRangeForm(registration.id, output),
      output);
    const rows = h("tbody", {});
    const table = h("div", { class: "scroll" }, h("table", { class: "deliveries" },
      h("caption", {}, "Deliveries, oldest first (kept 30 days)"),
      h("thead", {}, h("tr", {}, ["Received", "Outcome", "Reason", "Delivery id", "HTTP", "Latency", ""]
        .map((title) => h("th", { scope: "col" }, title)))),
      rows));
    const more = h("button", { type: "button", hidden: true }, "Load more");
    view.append(h("h3", {}, "Deliveries"), table, more);
    let after = null;
    const load = async () => {
      const query = `limit=${DELIVERIES_PAGE}` + (after ? `&after=${encodeURIComponent(after)}` : "");
      const page = await api("GET", `${hookPath(registration.id)}/deliveries?${query}`);
      rows.append(...page.items.map((d) => deliveryRow(registration.id, d, output)));
      if (!rows.children.length) rows.append(h("tr", {}, h("td", { colspan: 7 }, "No deliveries yet.")));
      after = page.next;
      more.hidden = !after;
    };
    more.addEventListener("click", () => load().catch(failed));
    await load();
  }

  function deliveryRow(registrationId, d, output) {
    const action = d.inboxId
      ? h("button", {
        type: "button",
        "aria-label": `Replay delivery ${d.deliveryId}`,
        onclick: () => replay(output, `Replay of delivery ${d.deliveryId}`,
          api("POST", `${hookPath(registrationId)}/deliveries/${encodeURIComponent(d.inboxId)}/replay`)),
      }, "Replay")
      : "";
    return h("tr", { "data-delivery": d.deliveryId || "" },
      h("td", {}, when(d.at)),
      h("td", {}, badge(d.outcome)),
      h("td", {}, d.reason || ""),
      h("td", {}, d.deliveryId || "(none)"),
      h("td", {}, d.status),
      h("td", {}, `${Math.round(d.latencyMs)} ms`),
      h("td", {}, action));
  }

  function replayRangeForm(registrationId, output) {
    // datetime-local reads and writes the browser's own time; the API gets UTC.
    const local = (ms) => {
      const date = new Date(ms);
      return new Date(ms - date.getTimezoneOffset() * 60000).toISOString().slice(0, 16);
    };
    const since = h("input", { id: "replay-since", type: "datetime-local", required: true, value: local(Date.now() - 24 * HOUR_MS) });
    const until = h("input", { id: "replay-until", type: "datetime-local", required: true, value: local(Date.now() + 60000) });
    return h("form", {
      class: "inline replay-range",
      onsubmit: (event) => {
        event.preventDefault();
        const [from, to] = [new Date(since.value), new Date(until.value)];
        if (Number.isNaN(from.getTime()) || Number.isNaN(to.getTime()) || to <= from) {
          output.textContent = "Give a range whose end is after its start.";
          return;
        }
        replay(output, "Range replay",
          api("POST", `${hookPath(registrationId)}/replay`, { since: from.toISOString(), until: to.toISOString() }));
      },
    }, h("h3", {}, "Replay a range"),
    h("label", { for: "replay-since" }, "From "), since, " ",
    h("label", { for: "replay-until" }, "To "), until,
    h("button", { type: "submit" }, "Replay range"));
  }

  async function replay(output, what, started) {
    // What a replay did: the results of the runs it started, once the worker recorded them.
    try {
      output.textContent = `${what}: started…`;
      const { messageIds } = await started;
      if (!messageIds.length) {
        output.textContent = `${what}: no delivery was received in that range.`;
        return;
      }
      output.textContent = `${what}: ${messageIds.length} queued, waiting for the results…`;
      const done = await recorded(messageIds);
      const sum = (name) => done.reduce((total, r) => total + r[name], 0);
      const statuses = [...new Set(done.map((r) => r.status))].join(", ");
      const errors = done.flatMap((r) => r.errors);
      output.textContent = `${what}: ${done.length} of ${messageIds.length} done (${statuses || "none yet"}) — `
        + `read ${sum("recordsRead")}, created ${sum("created")}, updated ${sum("updated")}, `
        + `unchanged ${sum("unchanged")}, deleted ${sum("deleted")}, failed ${sum("failed")}.`
        + (errors.length ? ` Errors: ${errors.join("; ")}` : "");
    } catch (err) {
      if (err instanceof Refused) return signOut(err.message);
      output.textContent = `${what}: ${err.message}`;
    }
  }

  async function recorded(resultIds) {
    // A replayed delivery's result is stored under its message id once the worker is done
    // (404 until then). Asked one at a time, so that a range of many is no flood of calls.
    const found = new Map();
    const deadline = Date.now() + REPLAY_WAIT_MS;
    while (found.size < resultIds.length && Date.now() < deadline) {
      for (const id of resultIds.filter((each) => !found.has(each))) {
        try {
          found.set(id, await api("GET", `admin/results/${encodeURIComponent(id)}`));
        } catch (err) {
          if (err.status !== 404) throw err;
        }
      }
      if (found.size < resultIds.length) await new Promise((resolve) => setTimeout(resolve, REPLAY_POLL_MS));
    }
    return [...found.values()];
  }

  VIEWS.webhooks = webhooksView;
})();
