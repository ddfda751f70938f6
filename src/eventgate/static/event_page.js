// One event: every field, its attrs and metadata as tables, its images and actions, and its
// timeline — each operation with when it happened at the producer, when eventgate received
// it, what it changed and who acted. Refreshed when a live operation for this event arrives.
// Keys with events:write acknowledge, close or add a note to an ongoing event (SPEC §11).

import { el, httpUrl, replaceChildren } from "./dom.js";
import { severityBadge, stateBadge, absoluteTime, timeElement, valueText } from "./format.js";

const FIELD_ORDER = [
  ["id", "Event id"], ["title", "Title"], ["message", "Message"], ["description", "Description"],
  ["status", "Status"], ["state", "State"], ["severity", "Severity"], ["event_type", "Type"],
  ["channel_id", "Channel"], ["thing_id", "Thing"], ["workspace_id", "Workspace"],
  ["started_at", "Started"], ["ended_at", "Ended"], ["created_at", "Created"], ["updated_at", "Updated"],
  ["seq", "Last seq"],
];
const TIME_FIELDS = new Set(["started_at", "ended_at", "created_at", "updated_at", "acknowledged_at"]);
const KIND_LABEL = { create: "Created", update: "Updated", close: "Closed", delete: "Deleted" };

function cell(value, isTime) {
  if (isTime) return value === null || value === undefined ? el("span", { class: "muted" }, "—")
    : el("span", null, absoluteTime(value), " ", el("span", { class: "muted" }, "(", timeElement(value), ")"));
  if (value === null || value === undefined || value === "") return el("span", { class: "muted" }, "—");
  return valueText(value);
}

function keyValueTable(caption, entries, { empty = "None." } = {}) {
  if (!entries.length) return el("p", { class: "muted" }, empty);
  return el("table", { class: "kv" }, el("caption", { class: "visually-hidden" }, caption),
    el("tbody", null, entries.map(([name, value]) =>
      el("tr", null, el("th", { scope: "row" }, name), el("td", null, value)))));
}

/** attrs: scalars, or objects one level deep (shown as a nested table). */
function attrsTable(attrs) {
  const entries = Object.entries(attrs || {}).map(([name, value]) => [name,
    value && typeof value === "object" && !Array.isArray(value)
      ? keyValueTable(name, Object.entries(value).map(([k, v]) => [k, valueText(v)]), { empty: "{}" })
      : valueText(value)]);
  return keyValueTable("Attributes", entries, { empty: "No attributes." });
}

function imagesBlock(images) {
  const safe = (images || []).map(httpUrl).filter(Boolean);
  if (!safe.length) return el("p", { class: "muted" }, "No images.");
  return el("ul", { class: "images" }, safe.map((url) => el("li", null,
    el("a", { href: url, target: "_blank", rel: "noopener noreferrer" },
      el("img", { src: url, alt: `Image at ${url}`, loading: "lazy", referrerpolicy: "no-referrer" })),
    el("a", { class: "image-url", href: url, target: "_blank", rel: "noopener noreferrer" }, url))));
}

function actionsBlock(actions) {
  const items = (actions || []).filter((a) => a && typeof a === "object");
  if (!items.length) return el("p", { class: "muted" }, "No actions.");
  return el("ul", { class: "actions" }, items.map((action) => {
    const url = httpUrl(action.url);
    const label = String(action.label || action.url || "action");
    return el("li", null, url
      ? el("a", { class: "button secondary", href: url, target: "_blank", rel: "noopener noreferrer" }, label)
      : el("span", { class: "muted" }, `${label} (no usable link)`));
  }));
}

const CHANGE_WORDS = { added: "added", removed: "removed", changed: "changed", unchanged: "unchanged" };

/** What an operation changed, as the server worked it out from the event before and after it. */
function changeTable(changes, kind) {
  if (!changes.length) return el("p", { class: "muted" }, kind === "delete" ? "The event was deleted." : "Nothing changed.");
  const showBefore = kind !== "create";
  return el("table", { class: "changes" },
    el("thead", null, el("tr", null, el("th", { scope: "col" }, "Field"),
      showBefore ? el("th", { scope: "col" }, "Before") : null, el("th", { scope: "col" }, "After"))),
    el("tbody", null, changes.map((change) => {
      const time = TIME_FIELDS.has(change.field);
      const word = CHANGE_WORDS[change.change] || "changed";
      return el("tr", { class: `change-${word}`, dataset: { field: change.field } },
        el("th", { scope: "row" }, change.field),
        showBefore ? el("td", { class: "before" },
          change.change === "added" ? el("span", { class: "muted" }, "—") : cell(change.before, time)) : null,
        el("td", { class: "after" },
          change.change === "removed" ? el("span", { class: "muted" }, "removed") : cell(change.after, time),
          change.change === "unchanged" ? el("span", { class: "muted" }, " (unchanged)") : null));
    })));
}

/** Who did what, for an operation a person made ("acknowledged by alice", "note by alice: …"). */
export function whoDid(operation) {
  const fields = operation.fields || {};
  if (typeof fields.by !== "string" || !fields.by) return null;
  const who = fields.by === "via link" ? "via link" : `by ${fields.by}`;
  if (operation.kind === "close") return `closed ${who}`;
  if (fields.acknowledged === true) return `acknowledged ${who}`;
  if (typeof fields.note === "string") return `note ${who}: ${fields.note}`;
  return `updated ${who}`;
}

function timeline(operations) {
  return el("ol", { class: "timeline" }, operations.map((operation) => {
    const kind = operation.kind || String(operation.event_type || "").replace("event_", "");
    const delay = typeof operation.received_at === "number" && typeof operation.event_time === "number"
      ? operation.received_at - operation.event_time : null;
    return el("li", { class: ["op", `op-${kind}`], dataset: { seq: String(operation.seq), kind } },
      el("div", { class: "op-head" },
        el("span", { class: ["badge", "op-kind"] }, KIND_LABEL[kind] || kind),
        el("span", { class: "muted" }, `seq ${operation.seq}`),
        el("span", { class: "muted op-id", title: "op_id" }, operation.op_id)),
      whoDid(operation) ? el("p", { class: "op-who" }, whoDid(operation)) : null,
      el("dl", { class: "op-times" },
        el("dt", null, "Happened at the producer"), el("dd", null, cell(operation.event_time, true)),
        el("dt", null, "Received by eventgate"), el("dd", null, cell(operation.received_at, true),
          delay !== null && Math.abs(delay) >= 1
            ? el("span", { class: "muted" }, ` (${delay > 0 ? "+" : ""}${delay.toFixed(1)} s)`) : null)),
      (operation.fields || {}).note !== undefined && !(operation.changes || []).length
        ? null : changeTable(operation.changes || [], kind));
  }));
}

const ACTION_DONE = { acknowledge: "Acknowledged.", close: "Closed.", notes: "Note added." };

export class EventView {
  constructor(context, eventId) {
    this.context = context;
    this.api = context.api;
    this.feed = context.feed;
    this.eventId = eventId;
    this.canWrite = typeof context.hasScope === "function" && context.hasScope("events:write");
    this.channelNames = null;
    this.onFrame = (frame) => {
      const event = frame.detail.event;
      if (event && event.id === this.eventId) this.scheduleReload(frame.detail);
    };
  }

  mount(container) {
    this.top = el("div", { class: "event-top" }, el("p", { class: "muted" }, "Loading the event…"));
    this.panel = this.canWrite ? this.actionPanel() : null;
    this.rest = el("div", { class: "event-rest" });
    this.root = el("article", { class: "event-page" }, this.top, this.panel, this.rest);
    container.append(el("nav", { class: "crumbs" }, el("a", { href: "#/" }, "← Board")), this.root);
    this.feed?.addEventListener("frame", this.onFrame);
    this.load();
  }

  unmount() {
    this.gone = true;
    this.feed?.removeEventListener("frame", this.onFrame);
    clearTimeout(this.timer);
  }

  /** The three actions of a person (SPEC §11). Built once and kept across renders, so a live
   * operation arriving while someone types a note does not lose the note. */
  actionPanel() {
    const button = (action, label, extra) => el("button", { type: "button", class: ["button", extra],
      dataset: { action }, on: { click: () => this.act(action) } }, label);
    this.acknowledgeButton = button("acknowledge", "Acknowledge", null);
    this.closeButton = button("close", "Close", "secondary");
    this.noteText = el("textarea", { name: "text", rows: "2", maxlength: "4096", required: true,
      id: "note-text", placeholder: "What you found or did" });
    this.noteButton = el("button", { type: "submit", class: "button secondary" }, "Add note");
    this.actionMessage = el("p", { class: "action-message", role: "status" });
    const form = el("form", { class: "note-form", on: { submit: (event) => {
      event.preventDefault();
      this.act("notes");
    } } }, el("label", { for: "note-text" }, "Add a note"), this.noteText, el("div", null, this.noteButton));
    return el("section", { class: ["card", "people-actions"], "aria-labelledby": "act-h", hidden: true },
      el("h2", { id: "act-h" }, "Act on this event"),
      el("div", { class: "act-buttons" }, this.acknowledgeButton, this.closeButton),
      form, this.actionMessage);
  }

  async act(action) {
    let body;
    if (action === "notes") {
      const text = this.noteText.value;
      if (!text.trim()) {
        this.say("Write the note first.", true);
        this.noteText.focus();
        return;
      }
      body = { text };
    } else if (action === "close" && !window.confirm("Close this event? It is marked resolved.")) {
      return;
    }
    this.setBusy(true);
    this.say("", false);
    let reply;
    try {
      reply = await this.api.post(`events/${encodeURIComponent(this.eventId)}/${action}`, body);
    } catch (error) {
      if (this.gone) return;
      this.setBusy(false);
      const message = error.status === 403
        ? `Not allowed: ${error.message}` : `Could not do that: ${error.message}`;
      this.say(message, true);
      return;
    }
    if (this.gone) return;
    this.setBusy(false);
    if (action === "notes") this.noteText.value = "";
    this.say(ACTION_DONE[action], false);
    this.event = reply.data;
    this.render(this.event, this.operations || []);
    this.load(); // the timeline with this operation on it
  }

  setBusy(busy) {
    for (const node of [this.acknowledgeButton, this.closeButton, this.noteButton]) node.disabled = busy;
    if (!busy && this.event) this.acknowledgeButton.disabled = !!this.event.acknowledged_at;
  }

  say(text, isError) {
    this.actionMessage.textContent = text;
    this.actionMessage.classList.toggle("error", isError);
    this.actionMessage.setAttribute("role", isError ? "alert" : "status");
  }

  scheduleReload(frame) {
    if (frame.event_type === "event_deleted") {
      this.root.prepend(el("p", { class: "notice error", role: "alert" }, "This event has just been deleted."));
      return;
    }
    clearTimeout(this.timer);
    this.timer = setTimeout(() => this.load(), 150);
  }

  /** Channel names, for admin keys (the only keys that may list channels); others see the id. */
  async loadChannelNames() {
    if (this.channelNames || typeof this.context.hasScope !== "function" || !this.context.hasScope("admin")) return;
    try {
      const channels = await this.context.listChannels();
      this.channelNames = new Map(channels.map((channel) => [channel.channel_id, channel.name]));
    } catch {
      this.channelNames = new Map();
    }
  }

  async load() {
    const id = encodeURIComponent(this.eventId);
    let event;
    let operations;
    try {
      const [eventReply, timelineReply] = await Promise.all([
        this.api.get(`events/${id}`), this.api.get(`dashboard/events/${id}/timeline`), this.loadChannelNames(),
      ]);
      event = eventReply.data;
      operations = timelineReply.data || [];
    } catch (error) {
      if (this.gone) return;
      const message = error.status === 404 ? "This event does not exist (or was deleted)." : error.message;
      replaceChildren(this.top, el("h1", null, "Event"), el("p", { class: "error", role: "alert" }, message));
      if (this.panel) this.panel.hidden = true;
      replaceChildren(this.rest);
      return;
    }
    if (this.gone) return;
    this.event = event;
    this.operations = operations;
    this.render(event, operations);
  }

  channelCell(channelId) {
    const name = this.channelNames?.get(channelId);
    if (!name) return cell(channelId, false);
    return el("span", { class: "channel-name", title: `Channel ${channelId}` }, name, " ",
      el("span", { class: "muted" }, `(${channelId})`));
  }

  render(event, operations) {
    document.title = `${event.title} · eventgate`;
    const fields = FIELD_ORDER.filter(([name]) => name in event).map(([name, label]) => {
      if (name === "severity") return [label, severityBadge(event.severity)];
      if (name === "state") return [label, stateBadge(event.state)];
      if (name === "channel_id") return [label, this.channelCell(event.channel_id)];
      return [label, cell(event[name], TIME_FIELDS.has(name))];
    });
    const tags = event.tags || event.topics || [];
    const acknowledged = event.acknowledged_at !== null && event.acknowledged_at !== undefined;
    replaceChildren(this.top,
      el("header", { class: "event-header" },
        el("div", { class: "row-badges" }, severityBadge(event.severity), stateBadge(event.state),
          acknowledged ? el("span", { class: ["badge", "ack-badge"] }, "acknowledged") : null),
        el("h1", { class: "event-title" }, event.title || "(untitled)"),
        el("p", { class: "event-message" }, event.message || ""),
        acknowledged ? el("p", { class: "acknowledged-line" }, `Acknowledged by ${event.acknowledged_by || "someone"} at `,
          absoluteTime(event.acknowledged_at), " ", el("span", { class: "muted" }, "(", timeElement(event.acknowledged_at), ")"))
          : null,
        tags.length ? el("p", { class: "tags" }, tags.map((t) => el("span", { class: "chip tag-chip" }, t))) : null));
    if (this.panel) {
      this.panel.hidden = event.state !== "ongoing";
      this.acknowledgeButton.disabled = acknowledged;
      this.acknowledgeButton.textContent = acknowledged ? "Acknowledged" : "Acknowledge";
    }
    // The timeline first: who did what, and when, is what a person on call opens the page for.
    replaceChildren(this.rest,
      el("section", { class: "card", "aria-labelledby": "timeline-h" },
        el("h2", { id: "timeline-h" }, `Timeline (${operations.length} operation${operations.length === 1 ? "" : "s"})`),
        timeline(operations)),
      el("div", { class: "event-grid" },
        el("section", { class: "card", "aria-labelledby": "fields-h" },
          el("h2", { id: "fields-h" }, "Fields"), keyValueTable("Fields", fields)),
        el("section", { class: "card", "aria-labelledby": "attrs-h" },
          el("h2", { id: "attrs-h" }, "Attributes"), attrsTable(event.attrs || event.context),
          el("h2", { id: "meta-h" }, "Metadata"),
          keyValueTable("Metadata", Object.entries(event.metadata || {}).map(([k, v]) => [k, valueText(v)]),
            { empty: "No metadata." }),
          el("h2", null, "Actions"), actionsBlock(event.actions),
          el("h2", null, "Images"), imagesBlock(event.images))));
  }
}
