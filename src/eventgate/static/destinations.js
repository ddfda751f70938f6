// Destinations (SPEC §10) on the Administration page: where eventgate delivers operations
// (webhooks, Apprise URLs), their filter, their escalation schedule (reminders, and escalating
// to another destination, SPEC §11), their state, a test message, the webhook secret (shown
// once, at creation and rotation) and the recent delivery attempts, each of which can be sent
// again. One form creates a destination or, after "Edit", changes one. Also the board's
// warning when a destination fails or was disabled by eventgate. All of it needs an unrestricted admin key; others get 403 and see nothing.
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

const DURATION_UNITS = { d: 86400, h: 3600, m: 60, s: 1 };
const DURATION_PART = /(\d+)\s*([dhms])/gy;

/** "15m", "1h30m", "2d" → seconds; "" → null; anything else → NaN. */
export function parseDuration(text) {
  const compact = String(text || "").trim().toLowerCase();
  if (!compact) return null;
  DURATION_PART.lastIndex = 0;
  let seconds = 0;
  let match;
  while ((match = DURATION_PART.exec(compact)) !== null) {
    seconds += Number(match[1]) * DURATION_UNITS[match[2]];
    if (DURATION_PART.lastIndex === compact.length) return seconds;
    while (compact[DURATION_PART.lastIndex] === " ") DURATION_PART.lastIndex += 1;
  }
  return Number.NaN;
}

/** Seconds → "1h30m", "15m", "2d" (null → ""): what parseDuration reads back. */
export function formatDuration(seconds) {
  if (seconds === null || seconds === undefined) return "";
  let left = Number(seconds);
  let text = "";
  for (const [unit, size] of Object.entries(DURATION_UNITS)) {
    if (left >= size) {
      text += `${Math.floor(left / size)}${unit}`;
      left %= size;
    }
  }
  return text || "0s";
}

/** A destination's escalation in a few words ("" when it has none). */
export function escalationSummary(destination, destinationNames = new Map()) {
  const parts = [];
  if (destination.repeat_every) parts.push(`remind every ${formatDuration(destination.repeat_every)}`);
  if (destination.escalate_after) {
    const target = destinationNames.get(destination.escalate_to) || destination.escalate_to;
    parts.push(`escalate after ${formatDuration(destination.escalate_after)} to ${target}`);
  }
  return parts.join(" · ");
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
    this.destinations = [];
    this.editing = null; // the destination the form changes; null: the form creates one
  }

  mount(container) {
    this.table = el("div", { class: "table-wrap" }, el("p", { class: "muted" }, "Loading destinations…"));
    this.status = el("p", { class: "muted small", role: "status", id: "destinations-status" });
    this.channelBoxes = el("div", { class: "checks" }, el("span", { class: "muted" }, "Loading channels…"));
    const controls = this.controls = {
      name: el("input", { name: "destination_name", required: true, maxlength: "128", autocomplete: "off" }),
      kind: el("select", { name: "kind" }, KINDS.map(([value, label]) => el("option", { value }, label))),
      url: el("input", { name: "url", required: true, maxlength: "2048", autocomplete: "off", spellcheck: "false",
        placeholder: "https://example.com/hooks/eventgate" }),
      severity: el("select", { name: "severity" }, el("option", { value: "" }, "Any severity"),
        SEVERITIES.map((value) => el("option", { value }, `${severityLabel(value)} and above`))),
      types: el("input", { name: "event_types", autocomplete: "off", spellcheck: "false" }),
      tags: el("input", { name: "tags", autocomplete: "off", spellcheck: "false" }),
      repeat: el("input", { name: "repeat_every", autocomplete: "off", spellcheck: "false", placeholder: "e.g. 15m",
        class: "duration" }),
      escalateAfter: el("input", { name: "escalate_after", autocomplete: "off", spellcheck: "false",
        placeholder: "e.g. 30m", class: "duration" }),
      escalateTo: el("select", { name: "escalate_to" }, el("option", { value: "" }, "Nobody")),
    };
    this.urlHelp = el("span", { class: "muted small" });
    this.formHeading = el("h2", { id: "new-destination-h", tabindex: "-1" });
    this.submit = el("button", { type: "submit", class: "button" });
    this.cancel = el("button", { type: "button", class: "button secondary", hidden: true,
      on: { click: () => this.stopEditing() } }, "Cancel");
    this.error = formError();
    this.form = el("form", { class: "card admin-form destination-form", "aria-labelledby": "new-destination-h",
      on: { submit: (e) => { e.preventDefault(); this.save(); } } },
    this.formHeading,
    field("Name", controls.name), field("Kind", controls.kind),
    el("label", { class: "field" }, el("span", null, "URL"), controls.url, this.urlHelp),
    el("fieldset", { class: "checks" }, el("legend", null, "Filter (empty: every event)"),
      field("Minimum severity", controls.severity),
      field("Event types", controls.types, "Codes, separated by commas or spaces."),
      field("Tags", controls.tags, "Any one of them matches."),
      el("fieldset", { class: "checks" }, el("legend", null, "Channels (none ticked: every channel)"), this.channelBoxes)),
    el("fieldset", { class: "checks escalation" },
      el("legend", null, "While an event is ongoing and nobody acknowledged it"),
      field("Remind every", controls.repeat, "A duration such as 15m, 1h or 1h30m (1m to 7d). Empty: no reminders."),
      field("Escalate after", controls.escalateAfter, "Counted from the event's start. Empty: no escalation."),
      field("Escalate to", controls.escalateTo, "Another destination, notified once.")),
    this.error,
    el("div", { class: "row-actions form-actions" }, this.submit, this.cancel));
    this.showMode();
    container.append(el("section", { class: "card" }, el("h2", null, "Destinations"),
      el("p", { class: "muted small" }, "eventgate delivers each matching event operation to these, in order, "
        + "with retries. A receiver answering 410 Gone, or failing for 24 hours, is disabled."),
      this.table, this.status), this.form);
    this.loadChannels().then(() => this.load());
  }

  /** The form's words for creating, or for editing `this.editing`. */
  showMode() {
    const editing = this.editing;
    this.formHeading.textContent = editing ? `Edit destination “${editing.name}”` : "New destination";
    this.submit.textContent = editing ? "Save changes" : "Create destination";
    this.cancel.hidden = !editing;
    this.controls.kind.disabled = Boolean(editing);
    this.controls.url.required = !editing;
    this.controls.url.placeholder = editing ? "unchanged" : "https://example.com/hooks/eventgate";
    this.urlHelp.textContent = editing
      ? "Leave empty to keep the current address; type a new one to replace it."
      : "A webhook's https:// address, or an Apprise URL (ntfys://…, tgram://…, mailtos://…).";
    this.fillEscalationTargets();
  }

  /** The "Escalate to" choices: every other destination, keeping the current choice. */
  fillEscalationTargets(selected = this.controls.escalateTo.value) {
    const others = this.destinations.filter((d) => !this.editing || d.id !== this.editing.id);
    replaceChildren(this.controls.escalateTo, el("option", { value: "" }, "Nobody"),
      others.map((d) => el("option", { value: d.id, selected: d.id === selected }, d.name)));
    this.controls.escalateTo.value = others.some((d) => d.id === selected) ? selected : "";
  }

  edit(destination) {
    this.editing = destination;
    const { controls } = this;
    this.form.reset();
    this.error.textContent = "";
    controls.name.value = destination.name;
    controls.kind.value = destination.kind;
    controls.url.value = "";
    const filter = destination.filter || {};
    const list = (value) => (value === undefined || value === null ? [] : Array.isArray(value) ? value : [value]);
    controls.severity.value = filter.severity || "";
    controls.types.value = list(filter.event_types).join(", ");
    controls.tags.value = list(filter.tags).join(", ");
    const channels = new Set(list(filter.channel_id));
    for (const box of this.channelBoxes.querySelectorAll("input[name=channel]")) box.checked = channels.has(box.value);
    controls.repeat.value = formatDuration(destination.repeat_every);
    controls.escalateAfter.value = formatDuration(destination.escalate_after);
    this.showMode();
    this.fillEscalationTargets(destination.escalate_to || "");
    this.formHeading.focus();
  }

  stopEditing() {
    this.editing = null;
    this.form.reset();
    this.error.textContent = "";
    this.showMode();
  }

  /** The body of a create or a change; throws an Error with a message for the person. */
  body() {
    const { controls } = this;
    const filter = {};
    if (controls.severity.value) filter.severity = controls.severity.value;
    if (words(controls.types.value).length) filter.event_types = words(controls.types.value);
    if (words(controls.tags.value).length) filter.tags = words(controls.tags.value);
    const channels = new FormData(this.form).getAll("channel").map(String);
    if (channels.length) filter.channel_id = channels;
    const body = { name: controls.name.value.trim(), filter };
    if (!this.editing) body.kind = controls.kind.value;
    if (controls.url.value.trim() || !this.editing) body.url = controls.url.value.trim();
    const repeat = parseDuration(controls.repeat.value);
    const after = parseDuration(controls.escalateAfter.value);
    for (const [value, label] of [[repeat, "Remind every"], [after, "Escalate after"]]) {
      if (Number.isNaN(value)) throw new Error(`${label}: write a duration such as 15m, 1h or 1h30m.`);
    }
    if (after !== null && !controls.escalateTo.value) throw new Error("Escalate to: choose who to escalate to.");
    if (after === null && controls.escalateTo.value) throw new Error("Escalate after: say when to escalate.");
    // Creating, an empty field is simply left out; changing, 0 removes what was set.
    if (repeat !== null || this.editing) body.repeat_every = repeat ?? 0;
    if (after !== null || this.editing) body.escalate_after = after ?? 0;
    if (controls.escalateTo.value) body.escalate_to = controls.escalateTo.value;
    return body;
  }

  async save() {
    this.error.textContent = "";
    const editing = this.editing;
    try {
      const body = this.body();
      if (editing) {
        const updated = (await this.api.request("PATCH", path(editing), { body })).data;
        this.stopEditing();
        this.status.textContent = `Destination “${updated.name}” saved.`;
      } else {
        const created = (await this.api.post("admin/destinations", body)).data;
        this.form.reset();
        if (created.secret) {
          showSecret("Destination created", "Signing secret", created.secret,
            el("p", null, "Webhook ", el("strong", null, created.name), " signs every delivery with this secret "
              + "(Standard Webhooks): the receiver needs it to check the signature."), { noun: "secret" });
        }
        this.status.textContent = `Destination “${created.name}” created.`;
      }
      this.load();
    } catch (failure) {
      this.error.textContent = failure.message;
    }
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
      this.destinations = (await this.api.get("admin/destinations")).data || [];
      this.render(this.destinations);
      this.fillEscalationTargets();
    } catch (failure) {
      replaceChildren(this.table, el("p", { class: "error" }, `Cannot list destinations: ${failure.message}`));
    }
  }

  render(destinations) {
    if (!destinations.length) {
      replaceChildren(this.table, el("p", { class: "muted" }, "No destinations yet."));
      return;
    }
    this.destinationNames = new Map(destinations.map((d) => [d.id, d.name]));
    replaceChildren(this.table, el("table", { class: "data destinations" },
      el("thead", null, el("tr", null, ["Name", "Kind", "URL", "Filter", "Escalation", "State", ""].map((h) =>
        el("th", { scope: "col" }, h)))),
      el("tbody", null, destinations.map((destination) => this.rows(destination)))));
  }

  /** A deleted channel still named by a filter is marked so, rather than shown as a bare id. */
  channelLabels() {
    const names = new Map(this.channelNames);
    for (const destination of this.destinations) {
      const named = destination.filter?.channel_id;
      for (const id of Array.isArray(named) ? named : named ? [named] : []) {
        if (!names.has(id)) names.set(id, `${id} (deleted)`);
      }
    }
    return names;
  }

  rows(destination) {
    const deliveries = new Deliveries(this.api, destination);
    const open = this.open.has(destination.id);
    const detail = el("tr", { class: "token-row", hidden: !open }, el("td", { colspan: "7" }, deliveries.element));
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
    const escalation = escalationSummary(destination, this.destinationNames);
    return [el("tr", { class: destination.enabled ? null : "is-inactive", dataset: { destinationId: destination.id } },
      el("td", null, destination.name),
      el("td", null, destination.kind),
      el("td", null, el("code", { class: "destination-url" }, displayUrl(destination.url, destination.kind))),
      el("td", { class: "small" }, filterSummary(destination.filter, this.channelLabels())),
      el("td", { class: "small destination-escalation" }, escalation || el("span", { class: "muted" }, "none")),
      el("td", { class: "destination-state" }, stateCell(destination)),
      el("td", { class: "row-actions" },
        button("Edit", (d) => this.edit(d)),
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
      if (this.editing?.id === destination.id) this.stopEditing();
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
