// One event: every field, its attrs and metadata as tables, its images and actions, and its
// timeline — each operation with when it happened at the producer, when eventgate received
// it, and what it changed. Refreshed when a live operation for this event arrives.

import { el, httpUrl, replaceChildren } from "./dom.js";
import { severityBadge, stateBadge, absoluteTime, timeElement, valueText } from "./format.js";

const FIELD_ORDER = [
  ["id", "Event id"], ["title", "Title"], ["message", "Message"], ["description", "Description"],
  ["status", "Status"], ["state", "State"], ["severity", "Severity"], ["event_type", "Type"],
  ["channel_id", "Channel"], ["thing_id", "Thing"], ["workspace_id", "Workspace"],
  ["started_at", "Started"], ["ended_at", "Ended"], ["created_at", "Created"], ["updated_at", "Updated"],
  ["seq", "Last seq"],
];
const TIME_FIELDS = new Set(["started_at", "ended_at", "created_at", "updated_at"]);
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
      el("dl", { class: "op-times" },
        el("dt", null, "Happened at the producer"), el("dd", null, cell(operation.event_time, true)),
        el("dt", null, "Received by eventgate"), el("dd", null, cell(operation.received_at, true),
          delay !== null && Math.abs(delay) >= 1
            ? el("span", { class: "muted" }, ` (${delay > 0 ? "+" : ""}${delay.toFixed(1)} s)`) : null)),
      changeTable(operation.changes || [], kind));
  }));
}

export class EventView {
  constructor(context, eventId) {
    this.context = context;
    this.api = context.api;
    this.feed = context.feed;
    this.eventId = eventId;
    this.onFrame = (frame) => {
      const event = frame.detail.event;
      if (event && event.id === this.eventId) this.scheduleReload(frame.detail);
    };
  }

  mount(container) {
    this.root = el("article", { class: "event-page" }, el("p", { class: "muted" }, "Loading the event…"));
    container.append(el("nav", { class: "crumbs" }, el("a", { href: "#/" }, "← Board")), this.root);
    this.feed?.addEventListener("frame", this.onFrame);
    this.load();
  }

  unmount() {
    this.gone = true;
    this.feed?.removeEventListener("frame", this.onFrame);
    clearTimeout(this.timer);
  }

  scheduleReload(frame) {
    if (frame.event_type === "event_deleted") {
      this.root.prepend(el("p", { class: "notice error", role: "alert" }, "This event has just been deleted."));
      return;
    }
    clearTimeout(this.timer);
    this.timer = setTimeout(() => this.load(), 150);
  }

  async load() {
    const id = encodeURIComponent(this.eventId);
    let event;
    let operations;
    try {
      const [eventReply, timelineReply] = await Promise.all([
        this.api.get(`events/${id}`), this.api.get(`dashboard/events/${id}/timeline`),
      ]);
      event = eventReply.data;
      operations = timelineReply.data || [];
    } catch (error) {
      if (this.gone) return;
      const message = error.status === 404 ? "This event does not exist (or was deleted)." : error.message;
      replaceChildren(this.root, el("h1", null, "Event"), el("p", { class: "error", role: "alert" }, message));
      return;
    }
    if (this.gone) return;
    this.render(event, operations);
  }

  render(event, operations) {
    document.title = `${event.title} · eventgate`;
    const fields = FIELD_ORDER.filter(([name]) => name in event).map(([name, label]) => {
      if (name === "severity") return [label, severityBadge(event.severity)];
      if (name === "state") return [label, stateBadge(event.state)];
      return [label, cell(event[name], TIME_FIELDS.has(name))];
    });
    const tags = event.tags || event.topics || [];
    replaceChildren(this.root,
      el("header", { class: "event-header" },
        el("div", { class: "row-badges" }, severityBadge(event.severity), stateBadge(event.state)),
        el("h1", { class: "event-title" }, event.title || "(untitled)"),
        el("p", { class: "event-message" }, event.message || ""),
        tags.length ? el("p", { class: "tags" }, tags.map((t) => el("span", { class: "chip tag-chip" }, t))) : null),
      el("div", { class: "event-grid" },
        el("section", { class: "card", "aria-labelledby": "fields-h" },
          el("h2", { id: "fields-h" }, "Fields"), keyValueTable("Fields", fields)),
        el("section", { class: "card", "aria-labelledby": "attrs-h" },
          el("h2", { id: "attrs-h" }, "Attributes"), attrsTable(event.attrs || event.context),
          el("h2", { id: "meta-h" }, "Metadata"),
          keyValueTable("Metadata", Object.entries(event.metadata || {}).map(([k, v]) => [k, valueText(v)]),
            { empty: "No metadata." }),
          el("h2", null, "Actions"), actionsBlock(event.actions),
          el("h2", null, "Images"), imagesBlock(event.images))),
      el("section", { class: "card", "aria-labelledby": "timeline-h" },
        el("h2", { id: "timeline-h" }, `Timeline (${operations.length} operation${operations.length === 1 ? "" : "s"})`),
        timeline(operations)));
  }
}
