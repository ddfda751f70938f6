// Destinations (SPEC §10) on the Administration page: where eventgate delivers operations
// (webhooks, Apprise URLs), their filter, their state, a test message, the webhook secret
// (shown once, at creation and rotation) and the recent delivery attempts, each of which can
// be sent again. Also the board's warning when a destination fails or was disabled by
// eventgate. All of it needs an unrestricted admin key; others get 403 and see nothing.
//
// admin.js imports this module for its tab, and this module takes the shared form helpers
// from admin.js: both are only used once the page runs, so the cycle is harmless.

import { el, replaceChildren } from "./dom.js";
import { SEVERITIES, severityLabel, timeElement } from "./format.js";
import { field, formError, showSecret } from "./admin.js";

const KINDS = [["webhook", "Webhook (signed HTTP POST)"], ["apprise", "Apprise URL"]];
const DELIVERIES_PER_PAGE = 20;
const OUTCOME_CLASS = { delivered: "state-ongoing", failed: "state-deleted", refused: "state-deleted" };

function path(destination, rest = "") {
  return `admin/destinations/${encodeURIComponent(destination.id)}${rest}`;
}

/** A URL for a table cell. Apprise URLs carry their service's token anywhere in them, so only
 * the scheme and a few characters at both ends are shown; webhooks are shortened in the middle. */
export function displayUrl(url, kind) {
  const text = String(url || "");
  if (kind === "apprise") {
    const split = text.indexOf("://");
    const scheme = split > 0 ? text.slice(0, split + 3) : "";
    const rest = split > 0 ? text.slice(split + 3) : text;
    return rest.length > 10 ? `${scheme}${rest.slice(0, 3)}••••${rest.slice(-3)}` : `${scheme}••••`;
  }
  return text.length > 60 ? `${text.slice(0, 40)}…${text.slice(-16)}` : text;
}

/** A destination's filter in a few words ("every event" when it has none). */
export function filterSummary(filter, channelNames = new Map()) {
  const parts = [];
  const list = (value) => (Array.isArray(value) ? value : [value]);
  if (filter?.severity) parts.push(`${severityLabel(filter.severity)} and above`);
  if (filter?.event_types) parts.push(`types ${list(filter.event_types).join(", ")}`);
  if (filter?.channel_id) parts.push(`channels ${list(filter.channel_id).map((id) => channelNames.get(id) || id).join(", ")}`);
  if (filter?.tags) parts.push(`tags ${list(filter.tags).join(", ")}`);
  if (filter?.thing_id) parts.push(`things ${list(filter.thing_id).join(", ")}`);
  return parts.length ? parts.join(" · ") : "every event";
}

/** "a, b c" → ["a", "b", "c"]: lists typed in one field. */
function words(text) {
  return String(text || "").split(/[\s,]+/).filter(Boolean);
}

function stateCell(destination) {
  if (!destination.enabled) {
    return el("span", null, el("span", { class: ["badge", "state-closed"] }, "disabled"),
      destination.disabled_reason ? el("span", { class: "small" }, ` ${destination.disabled_reason}`) : null);
  }
  return el("span", null, el("span", { class: ["badge", "state-ongoing"] }, "enabled"),
    destination.failing_since
      ? el("span", { class: "error small" }, " failing since ", timeElement(destination.failing_since, { relative: false }))
      : null);
}

/** "delivered · HTTP 200 · 12 ms" and the error, if any: one attempt in words. */
export function attemptWords(attempt) {
  const parts = [attempt.outcome];
  if (attempt.http_status !== null && attempt.http_status !== undefined) parts.push(`HTTP ${attempt.http_status}`);
  parts.push(`${attempt.latency_ms} ms`);
  if (attempt.error) parts.push(attempt.error);
  return parts.join(" · ");
}

// ---------------------------------------------------------------------------------------------

/** One destination's delivery attempts, newest first, "Older" for the next page. */
class Deliveries {
  constructor(api, destination) {
    this.api = api;
    this.destination = destination;
    this.attempts = [];
    this.nextBefore = null;
    this.heading = el("h3", { id: `deliveries-h-${destination.id}`, tabindex: "-1" }, `Deliveries to ${destination.name}`);
    this.list = el("div", { class: "table-wrap" }, el("p", { class: "muted" }, "Loading deliveries…"));
    this.status = el("p", { class: "muted small", role: "status" });
    this.older = el("button", { type: "button", class: "button secondary", hidden: true,
      on: { click: () => this.load(this.nextBefore) } }, "Older");
    this.element = el("section", { class: "token-panel deliveries", id: `deliveries-${destination.id}`,
      "aria-labelledby": this.heading.id },
    this.heading, this.list,
    el("div", { class: "row-actions" }, this.older,
      el("button", { type: "button", class: "button secondary", on: { click: () => this.load() } }, "Refresh")),
    this.status);
  }

  /** The newest page (no `before`), or the page older than `before`, added below. */
  async load(before) {
    try {
      const reply = await this.api.get(path(this.destination, "/deliveries"), { limit: DELIVERIES_PER_PAGE, before });
      this.attempts = before ? this.attempts.concat(reply.data || []) : reply.data || [];
      this.nextBefore = reply.next_before;
      this.render();
    } catch (failure) {
      replaceChildren(this.list, el("p", { class: "error" }, `Cannot list deliveries: ${failure.message}`));
    }
  }

  render() {
    this.older.hidden = !this.nextBefore;
    if (!this.attempts.length) {
      replaceChildren(this.list, el("p", { class: "muted" }, "No deliveries yet."));
      return;
    }
    replaceChildren(this.list, el("table", { class: "data deliveries-table" },
      el("thead", null, el("tr", null, ["Time", "Seq", "Event", "Outcome", "HTTP", "Latency", "Error", "Reply", ""].map((h) =>
        el("th", { scope: "col" }, h)))),
      el("tbody", null, this.attempts.map((attempt) => this.row(attempt)))));
  }

  row(attempt) {
    const known = OUTCOME_CLASS[attempt.outcome] || "state-closed";
    return el("tr", { dataset: { deliveryId: String(attempt.id ?? ""), seq: String(attempt.seq ?? "") } },
      el("td", null, timeElement(attempt.created_at)),
      el("td", null, attempt.seq === null ? el("span", { class: "muted" }, "test") : String(attempt.seq)),
      el("td", null, attempt.event_id
        ? el("a", { href: `#/events/${encodeURIComponent(attempt.event_id)}` }, el("code", null, attempt.event_id))
        : el("span", { class: "muted" }, "—")),
      el("td", null, el("span", { class: ["badge", known] }, attempt.outcome),
        attempt.attempt > 1 ? el("span", { class: "muted small" }, ` try ${attempt.attempt}`) : null),
      el("td", null, attempt.http_status === null ? "—" : String(attempt.http_status)),
      el("td", null, `${attempt.latency_ms} ms`),
      el("td", { class: "error small" }, attempt.error || ""),
      el("td", null, attempt.response_excerpt ? el("code", { class: "excerpt" }, attempt.response_excerpt) : ""),
      el("td", { class: "row-actions" }, attempt.seq !== null && attempt.id !== null
        ? el("button", { type: "button", class: "button secondary", "aria-label": `Send seq ${attempt.seq} again`,
          on: { click: () => this.resend(attempt) } }, "Send again") : null));
  }

  async resend(attempt) {
    this.status.textContent = "";
    try {
      await this.api.post(path(this.destination, `/deliveries/${attempt.id}/resend`), {});
      this.status.textContent = `Seq ${attempt.seq} is queued to be sent again.`;
    } catch (failure) {
      this.status.textContent = `Not sent again: ${failure.message}`;
    }
  }
}

// ---------------------------------------------------------------------------------------------

export class DestinationsTab {
  constructor(context) {
    this.context = context;
    this.api = context.api;
    this.open = new Set(); // destination ids whose deliveries are shown
    this.channelNames = new Map();
  }

  mount(container) {
    this.table = el("div", { class: "table-wrap" }, el("p", { class: "muted" }, "Loading destinations…"));
    this.status = el("p", { class: "muted small", role: "status", id: "destinations-status" });
    this.channelBoxes = el("div", { class: "checks" }, el("span", { class: "muted" }, "Loading channels…"));
    const name = el("input", { name: "destination_name", required: true, maxlength: "128", autocomplete: "off" });
    const kind = el("select", { name: "kind" }, KINDS.map(([value, label]) => el("option", { value }, label)));
    const url = el("input", { name: "url", required: true, maxlength: "2048", autocomplete: "off", spellcheck: "false",
      placeholder: "https://example.com/hooks/eventgate" });
    const severity = el("select", { name: "severity" }, el("option", { value: "" }, "Any severity"),
      SEVERITIES.map((value) => el("option", { value }, `${severityLabel(value)} and above`)));
    const types = el("input", { name: "event_types", autocomplete: "off", spellcheck: "false" });
    const tags = el("input", { name: "tags", autocomplete: "off", spellcheck: "false" });
    const error = formError();
    const form = el("form", { class: "card admin-form", "aria-labelledby": "new-destination-h", on: { submit: async (e) => {
      e.preventDefault();
      error.textContent = "";
      const filter = {};
      if (severity.value) filter.severity = severity.value;
      if (words(types.value).length) filter.event_types = words(types.value);
      if (words(tags.value).length) filter.tags = words(tags.value);
      const channels = new FormData(form).getAll("channel").map(String);
      if (channels.length) filter.channel_id = channels;
      const body = { name: name.value.trim(), kind: kind.value, url: url.value.trim(), filter };
      try {
        const created = (await this.api.post("admin/destinations", body)).data;
        form.reset();
        if (created.secret) {
          showSecret("Destination created", "Signing secret", created.secret,
            el("p", null, "Webhook ", el("strong", null, created.name), " signs every delivery with this secret "
              + "(Standard Webhooks): the receiver needs it to check the signature."), { noun: "secret" });
        }
        this.status.textContent = `Destination “${created.name}” created.`;
        this.load();
      } catch (failure) {
        error.textContent = failure.message;
      }
    } } },
    el("h2", { id: "new-destination-h" }, "New destination"),
    field("Name", name), field("Kind", kind),
    field("URL", url, "A webhook's https:// address, or an Apprise URL (ntfys://…, tgram://…, mailtos://…)."),
    el("fieldset", { class: "checks" }, el("legend", null, "Filter (empty: every event)"),
      field("Minimum severity", severity),
      field("Event types", types, "Codes, separated by commas or spaces."),
      field("Tags", tags, "Any one of them matches."),
      el("fieldset", { class: "checks" }, el("legend", null, "Channels (none ticked: every channel)"), this.channelBoxes)),
    error,
    el("button", { type: "submit", class: "button" }, "Create destination"));
    container.append(el("section", { class: "card" }, el("h2", null, "Destinations"),
      el("p", { class: "muted small" }, "eventgate delivers each matching event operation to these, in order, "
        + "with retries. A receiver answering 410 Gone, or failing for 24 hours, is disabled."),
      this.table, this.status), form);
    this.loadChannels().then(() => this.load());
  }

  async loadChannels() {
    try {
      const channels = await this.context.listChannels();
      this.channelNames = new Map(channels.map((c) => [c.channel_id || c.id, c.name]));
      replaceChildren(this.channelBoxes, channels.map((c) => el("label", { class: "check" },
        el("input", { type: "checkbox", name: "channel", value: c.channel_id || c.id }), c.name)));
    } catch (failure) {
      replaceChildren(this.channelBoxes, el("span", { class: "error" }, `Cannot list channels: ${failure.message}`));
    }
  }

  async load() {
    try {
      this.render((await this.api.get("admin/destinations")).data || []);
    } catch (failure) {
      replaceChildren(this.table, el("p", { class: "error" }, `Cannot list destinations: ${failure.message}`));
    }
  }

  render(destinations) {
    if (!destinations.length) {
      replaceChildren(this.table, el("p", { class: "muted" }, "No destinations yet."));
      return;
    }
    replaceChildren(this.table, el("table", { class: "data destinations" },
      el("thead", null, el("tr", null, ["Name", "Kind", "URL", "Filter", "State", ""].map((h) =>
        el("th", { scope: "col" }, h)))),
      el("tbody", null, destinations.map((destination) => this.rows(destination)))));
  }

  rows(destination) {
    const deliveries = new Deliveries(this.api, destination);
    const open = this.open.has(destination.id);
    const detail = el("tr", { class: "token-row", hidden: !open }, el("td", { colspan: "6" }, deliveries.element));
    const toggle = el("button", { type: "button", class: "button secondary disclosure", "aria-expanded": String(open),
      "aria-controls": deliveries.element.id, "aria-label": `Deliveries to ${destination.name}`, on: { click: () => {
        const opening = detail.hidden;
        detail.hidden = !opening;
        toggle.setAttribute("aria-expanded", String(opening));
        if (opening) {
          this.open.add(destination.id);
          deliveries.load();
        } else {
          this.open.delete(destination.id);
        }
      } } }, "Deliveries");
    if (open) deliveries.load();
    const button = (label, action, { danger = false } = {}) => el("button", { type: "button",
      class: ["button", danger ? "danger" : "secondary"], "aria-label": `${label}: ${destination.name}`,
      on: { click: () => action(destination) } }, label);
    return [el("tr", { class: destination.enabled ? null : "is-inactive", dataset: { destinationId: destination.id } },
      el("td", null, destination.name),
      el("td", null, destination.kind),
      el("td", null, el("code", { class: "destination-url" }, displayUrl(destination.url, destination.kind))),
      el("td", { class: "small" }, filterSummary(destination.filter, this.channelNames)),
      el("td", { class: "destination-state" }, stateCell(destination)),
      el("td", { class: "row-actions" },
        destination.enabled ? button("Disable", (d) => this.setEnabled(d, false))
          : button("Enable", (d) => this.setEnabled(d, true)),
        button("Send test", (d) => this.test(d)),
        destination.kind === "webhook" ? button("Rotate secret", (d) => this.rotate(d)) : null,
        toggle,
        button("Delete", (d) => this.remove(d), { danger: true }))), detail];
  }

  async act(work, failed) {
    this.status.textContent = "";
    try {
      await work();
    } catch (failure) {
      this.status.textContent = `${failed}: ${failure.message}`;
    }
  }

  setEnabled(destination, enabled) {
    return this.act(async () => {
      await this.api.post(path(destination, enabled ? "/enable" : "/disable"), {});
      this.status.textContent = `Destination “${destination.name}” ${enabled ? "enabled" : "disabled"}.`;
      this.load();
    }, enabled ? "Not enabled" : "Not disabled");
  }

  test(destination) {
    this.status.textContent = `Sending a test to “${destination.name}”…`;
    return this.act(async () => {
      const attempt = (await this.api.post(path(destination, "/test"), {})).data;
      this.status.textContent = `Test to “${destination.name}”: ${attemptWords(attempt)}`;
      this.load();
    }, "The test was not sent");
  }

  rotate(destination) {
    if (!window.confirm(`Give “${destination.name}” a new signing secret? The receiver must switch to it at once.`)) {
      return null;
    }
    return this.act(async () => {
      const reply = (await this.api.post(path(destination, "/rotate-secret"), {})).data;
      showSecret("New signing secret", "Signing secret", reply.secret,
        el("p", null, "Webhook ", el("strong", null, destination.name)), { noun: "secret" });
    }, "The secret was not changed");
  }

  remove(destination) {
    if (!window.confirm(`Delete destination “${destination.name}”? Its queue and delivery history go with it.`)) {
      return null;
    }
    return this.act(async () => {
      await this.api.delete(path(destination));
      this.open.delete(destination.id);
      this.status.textContent = `Destination “${destination.name}” deleted.`;
      this.load();
    }, "Not deleted");
  }
}

// ---------------------------------------------------------------------------------------------

/** The board's warning line: destinations failing, or disabled by eventgate (a reason is set;
 * one paused by hand is not a problem). Empty for keys that may not list destinations. */
export async function deliveryWarnings(api) {
  let destinations;
  try {
    destinations = (await api.get("admin/destinations")).data || [];
  } catch {
    return null; // 403 for keys that are not unrestricted admins, or the server is away: say nothing
  }
  const lines = [];
  for (const destination of destinations) {
    if (!destination.enabled && destination.disabled_reason) {
      lines.push(el("li", null, `Delivery to ${destination.name} was disabled: ${destination.disabled_reason}`));
    } else if (destination.enabled && destination.failing_since) {
      lines.push(el("li", null, `Delivery to ${destination.name} is failing since `,
        timeElement(destination.failing_since, { relative: false })));
    }
  }
  if (!lines.length) return null;
  return el("div", { class: "delivery-warning", role: "status" },
    el("ul", null, lines),
    el("a", { href: "#/admin/destinations" }, "Destinations"));
}
