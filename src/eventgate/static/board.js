// The live board: the workspace's events, newest first, from GET events (cursor pages,
// loaded as the list scrolls), kept current by the live feed. Filters live in the URL's
// fragment (#/?severity=high&q=disk) so a view can be bookmarked. The severity filter is a
// minimum, as in live subscriptions: `severity=high` shows high and critical events.
//
// Channel and type filters are pickers filled from the server when the key may list them
// (admin keys list channels, a key restricted to channels knows its own, types:read lists the
// registry); otherwise they stay text fields. Keys with events:write acknowledge and close
// ongoing events from their rows.

import { el, replaceChildren } from "./dom.js";
import {
  SEVERITIES, atLeast, severityBadge, stateBadge, timeElement, refreshRelativeTimes, severityLabel, shortId,
} from "./format.js";
import { Overview } from "./overview.js";
import { deliveryWarnings } from "./destinations.js";

const PAGE_SIZE = 50;
// A board left open on a busy workspace must not grow without end: past this many rows the
// oldest are dropped (paging further back then needs a reload of the view).
const MAX_ROWS = 1000;
const WORD = /([\p{L}\p{N}]+)(\*?)/gu;
const MIN_PREFIX = 3;
export const FILTER_NAMES = ["q", "state", "acknowledged", "severity", "channel_id", "topic", "event_type"];

/** Filters from the fragment's query; unknown names and bad values are ignored. */
export function filtersFrom(params) {
  const filters = {};
  for (const name of FILTER_NAMES) {
    const value = (params.get(name) || "").trim();
    if (value) filters[name] = value;
  }
  if (filters.state && !["ongoing", "closed"].includes(filters.state)) delete filters.state;
  if (filters.severity && !SEVERITIES.includes(filters.severity)) delete filters.severity;
  if (filters.acknowledged && !["true", "false"].includes(filters.acknowledged)) delete filters.acknowledged;
  return filters;
}

function listParams(filters, cursor) {
  const params = { limit: PAGE_SIZE, cursor };
  if (searchTerms(filters.q)) params.q = filters.q;
  if (filters.state) params.active = filters.state === "ongoing" ? "true" : "false";
  if (filters.severity) params.min_severity = filters.severity;
  for (const name of ["acknowledged", "channel_id", "topic", "event_type"]) {
    if (filters[name]) params[name] = filters[name];
  }
  return params;
}

/** The same test the server applies, for events that arrive live. */
export function matches(event, filters) {
  if (filters.state && event.state !== filters.state) return false;
  if (filters.severity && !atLeast(event.severity, filters.severity)) return false;
  if (filters.acknowledged && isAcknowledged(event) !== (filters.acknowledged === "true")) return false;
  if (filters.channel_id && event.channel_id !== filters.channel_id) return false;
  if (filters.topic && !(event.tags || []).includes(filters.topic)) return false;
  if (filters.event_type && String(event.event_type || "").toLowerCase() !== filters.event_type.toLowerCase()) {
    return false;
  }
  const terms = searchTerms(filters.q);
  if (terms) {
    const words = new Set(searchTerms(`${event.title || ""} ${event.message || ""}`) || []);
    const found = (term) => (term.endsWith("*")
      ? [...words].some((word) => word.startsWith(term.slice(0, -1)))
      : words.has(term));
    if (!terms.every(found)) return false;
  }
  return true;
}

function isAcknowledged(event) {
  return event.acknowledged_at !== null && event.acknowledged_at !== undefined;
}

/** The words of a text as the server's `q` sees them: runs of letters and digits, lower-cased;
 * a `*` right after a word makes it a prefix (MIN_PREFIX letters at least). Null when the
 * text holds nothing the server would search for. */
export function searchTerms(text) {
  const terms = [...String(text || "").matchAll(WORD)].map(([, word, star]) => word.toLowerCase() + star);
  if (!terms.length || terms.some((term) => term.endsWith("*") && term.length - 1 < MIN_PREFIX)) return null;
  return terms;
}

function option(value, label, selected) {
  return el("option", { value, selected: value === selected }, label);
}

/** The severity filter's words: a minimum, so every severity but the highest says "or above". */
function minimumLabel(severity) {
  return severity === SEVERITIES[0] ? severityLabel(severity) : `${severityLabel(severity)} or above`;
}

/** A select of `choices` ([value, label]) that keeps `current` even when the list lacks it. */
function picker(name, anyLabel, choices, current) {
  const known = new Set(choices.map(([value]) => value));
  const extra = current && !known.has(current) ? [[current, current]] : [];
  return el("select", { name }, option("", anyLabel, current || ""),
    [...choices, ...extra].map(([value, label]) => option(value, label, current)));
}

const ACTION_WORDS = { acknowledge: "Acknowledge", close: "Close" };

export class BoardView {
  constructor(context, params) {
    this.context = context;
    this.api = context.api;
    this.feed = context.feed;
    this.filters = filtersFrom(params);
    this.rows = new Map(); // event id → {event, node}
    this.order = []; // event ids, top to bottom
    this.cursor = null;
    this.exhausted = false;
    this.trimmed = false;
    this.loading = false;
    this.generation = 0; // bumps on every filter change; stale pages are dropped
    this.overview = context.identity.effective_scopes.includes("events:read") ? new Overview(this.api) : null;
    this.canAct = context.hasScope("events:write");
    this.channelNames = new Map();
    this.channelsLoaded = this.loadChannelNames();
    this.onFrame = (frame) => this.applyFrame(frame.detail);
    this.timeTicker = null;
  }

  mount(container) {
    this.list = el("ol", { class: "event-list", "aria-label": "Events, newest first", "aria-live": "polite",
      "aria-relevant": "additions" });
    this.status = el("p", { class: "list-status muted", role: "status" });
    this.more = el("button", { type: "button", class: "button secondary load-more", hidden: true,
      on: { click: () => (this.trimmed ? this.reload() : this.loadPage()) } }, "Load older events");
    this.sentinel = el("div", { class: "sentinel", "aria-hidden": "true" });
    this.warnings = el("div", { class: "delivery-warnings" });
    this.actionMessage = el("p", { class: "action-message error", role: "alert" });
    this.root = el("div", { class: "board" },
      this.warnings,
      this.overview ? this.overview.root : null,
      this.filterForm(),
      el("section", { class: "events", "aria-label": "Events" }, this.actionMessage, this.list, this.status, this.more,
        this.sentinel));
    container.append(this.root);
    if (this.overview) this.overview.start();
    this.feed?.addEventListener("frame", this.onFrame);
    this.observer = new IntersectionObserver((entries) => {
      if (entries.some((entry) => entry.isIntersecting)) this.loadPage();
    }, { rootMargin: "600px" });
    this.observer.observe(this.sentinel);
    this.timeTicker = setInterval(() => refreshRelativeTimes(this.list), 30000);
    this.reload();
    this.showDeliveryWarnings();
  }

  /** A line at the top when a destination fails or was disabled (admin keys only: others see nothing). */
  async showDeliveryWarnings() {
    if (!this.context.hasScope("admin")) return;
    const warning = await deliveryWarnings(this.api);
    if (warning && this.root.isConnected) replaceChildren(this.warnings, warning);
  }

  unmount() {
    this.generation += 1;
    this.observer?.disconnect();
    this.feed?.removeEventListener("frame", this.onFrame);
    this.overview?.stop();
    clearInterval(this.timeTicker);
    clearTimeout(this.typingTimer);
  }

  filterForm() {
    const f = this.filters;
    const field = (label, control) => el("label", { class: "field" }, el("span", null, label), control);
    this.search = el("input", { type: "search", name: "q", value: f.q || "", placeholder: "Title or message",
      autocomplete: "off", maxlength: "256", "aria-describedby": "search-hint" });
    this.hint = el("span", { id: "search-hint", class: "hint muted" });
    const state = el("select", { name: "state" }, option("", "Any state", f.state || ""),
      option("ongoing", "Ongoing", f.state), option("closed", "Closed", f.state));
    const acknowledged = el("select", { name: "acknowledged" }, option("", "Either", f.acknowledged || ""),
      option("false", "Unacknowledged", f.acknowledged), option("true", "Acknowledged", f.acknowledged));
    const severity = el("select", { name: "severity", title: "The lowest severity shown" },
      option("", "Any severity", f.severity || ""), SEVERITIES.map((s) => option(s, minimumLabel(s), f.severity)));
    // Text fields until the server's lists arrive (or for keys that cannot read them).
    this.channelField = el("span", { class: "picker" }, el("input", { type: "text", name: "channel_id",
      value: f.channel_id || "", placeholder: "Channel id", list: "channel-options", autocomplete: "off",
      spellcheck: "false" }));
    const topic = el("input", { type: "text", name: "topic", value: f.topic || "", placeholder: "Tag",
      list: "topic-options", autocomplete: "off" });
    this.typeField = el("span", { class: "picker" }, el("input", { type: "text", name: "event_type",
      value: f.event_type || "", placeholder: "Type code", list: "type-options", autocomplete: "off",
      spellcheck: "false" }));
    this.channelOptions = el("datalist", { id: "channel-options" });
    this.topicOptions = el("datalist", { id: "topic-options" });
    this.typeOptions = el("datalist", { id: "type-options" });
    const form = el("form", { class: "filters", role: "search", "aria-label": "Filter events",
      on: { submit: (event) => { event.preventDefault(); this.readForm(form, true); } } },
    field("Search", this.search), field("State", state), field("Acknowledged", acknowledged),
    field("Severity", severity), field("Channel", this.channelField),
    field("Tag", topic), field("Type", this.typeField),
    el("div", { class: "filter-actions" },
      el("button", { type: "submit", class: "button" }, "Apply"),
      el("button", { type: "button", class: "button secondary", on: { click: () => this.clearFilters(form) } },
        "Clear")),
    this.hint, this.channelOptions, this.topicOptions, this.typeOptions);
    form.addEventListener("change", () => this.readForm(form, true));
    this.search.addEventListener("input", () => {
      clearTimeout(this.typingTimer);
      this.typingTimer = setTimeout(() => this.readForm(form, false), 350);
    });
    this.fillSuggestions();
    this.filterSummary = el("span", { class: "muted" });
    // Open on wide screens; on a phone the events come first and the filters fold away.
    this.filterBox = el("details", { class: "filters-box card", open: window.matchMedia("(min-width: 601px)").matches },
      el("summary", null, "Filters ", this.filterSummary), form);
    this.describeFilters();
    return this.filterBox;
  }

  describeFilters() {
    const count = Object.keys(this.filters).length;
    this.filterSummary.textContent = count ? `(${count} active)` : "";
  }

  /** Turn the channel and type fields into pickers once the server has said what there is. */
  async fillSuggestions() {
    if (this.context.hasScope("types:read")) {
      try {
        const reply = await this.api.get("api/b/v2/events", { page: 1, per_page: 100 });
        const types = (reply.data || []).filter((t) => t.type !== "SYSTEM");
        const label = (t) => (t.name && t.name !== t.code ? `${t.name} (${t.code})` : t.code);
        if (types.length && (reply.pagination?.total_pages || 1) <= 1) {
          replaceChildren(this.typeField, picker("event_type", "Any type", types.map((t) => [t.code, label(t)]),
            this.filters.event_type));
        } else {
          // More types than one page: a list would hide some, so the field stays, with suggestions.
          replaceChildren(this.typeOptions, types.map((t) => el("option", { value: t.code }, label(t))));
        }
      } catch {
        // the text field stays: a type code can still be typed
      }
    }
    await this.channelsLoaded;
    if (this.channelNames.size) {
      replaceChildren(this.channelField, picker("channel_id", "Any channel", [...this.channelNames]
        .map(([id, name]) => [id, name || id]), this.filters.channel_id));
    }
  }

  /** The channels this key can see, by name where it may list them: an admin key lists the
   * workspace's channels; a key restricted to channels knows their ids; other keys know none
   * (rows then show channel ids, and the channel filter stays a text field). */
  async loadChannelNames() {
    if (this.context.hasScope("admin")) {
      try {
        for (const channel of await this.context.listChannels()) this.channelNames.set(channel.channel_id, channel.name);
        return;
      } catch {
        // fall back to what the key itself says
      }
    }
    for (const id of this.context.identity.channel_ids || []) this.channelNames.set(id, "");
  }

  readForm(form, immediate) {
    const data = new FormData(form);
    const next = {};
    for (const name of FILTER_NAMES) {
      const value = String(data.get(name) || "").trim();
      if (value) next[name] = value;
    }
    if (!immediate && JSON.stringify(next) === JSON.stringify(this.filters)) return;
    this.setFilters(next);
  }

  clearFilters(form) {
    form.reset();
    for (const input of form.querySelectorAll("input")) input.value = "";
    for (const select of form.querySelectorAll("select")) select.value = "";
    this.setFilters({});
  }

  setFilters(filters) {
    this.filters = filters;
    const query = new URLSearchParams(filters).toString();
    history.replaceState(null, "", query ? `#/?${query}` : "#/");
    this.describeFilters();
    this.reload();
  }

  reload() {
    this.generation += 1;
    this.rows.clear();
    this.order = [];
    this.cursor = null;
    this.exhausted = false;
    this.trimmed = false;
    this.loading = false;
    replaceChildren(this.list);
    const q = this.filters.q || "";
    this.hint.textContent = q && !searchTerms(q)
      ? `Search whole words; end one with * to match its beginning (${MIN_PREFIX}+ letters, e.g. disk*).` : "";
    this.more.textContent = "Load older events";
    this.loadPage();
  }

  async loadPage() {
    if (this.loading || this.exhausted) return;
    this.loading = true;
    const generation = this.generation;
    this.status.textContent = "Loading…";
    this.more.hidden = true;
    // Load after the feed has its position: whatever the page misses arrives live after it.
    if (this.feed) await this.feed.ready();
    await this.channelsLoaded;
    let reply;
    try {
      reply = await this.api.get("events", listParams(this.filters, this.cursor));
    } catch (error) {
      if (generation !== this.generation) return;
      this.loading = false;
      this.status.textContent = `Could not load events: ${error.message}`;
      this.status.classList.add("error");
      return;
    }
    if (generation !== this.generation) return;
    this.status.classList.remove("error");
    for (const event of reply.data || []) this.placeFromPage(event);
    this.cursor = reply.next_cursor || null;
    this.exhausted = !this.cursor;
    this.loading = false;
    this.updateStatus();
    // The sentinel may still be on screen after a short page: keep going until it is not.
    if (!this.exhausted) requestAnimationFrame(() => {
      const box = this.sentinel.getBoundingClientRect();
      if (box.top < window.innerHeight + 600) this.loadPage();
    });
  }

  updateStatus() {
    const count = this.order.length;
    if (this.trimmed) {
      this.status.textContent = `Showing the newest ${count} events; older ones were let go to save memory.`;
      this.more.textContent = "Reload this view";
      this.more.hidden = false;
      return;
    }
    if (count === 0 && this.exhausted) {
      const filtered = Object.keys(this.filters).length > 0;
      this.status.textContent = filtered ? "No events match these filters." : "No events yet. They appear here live.";
    } else if (this.exhausted) {
      this.status.textContent = `${count} event${count === 1 ? "" : "s"}; that is all.`;
    } else {
      this.status.textContent = `${count} events shown; scroll for older ones.`;
    }
    this.more.hidden = this.exhausted;
  }

  placeFromPage(event) {
    const known = this.rows.get(event.id);
    if (known) {
      if ((event.seq || 0) > (known.event.seq || 0)) this.update(event.id, event);
      return;
    }
    this.insert(event, this.order.length, false);
  }

  insert(event, index, fresh) {
    const node = this.rowNode(event, fresh);
    const before = this.order[index] ? this.rows.get(this.order[index]).node : null;
    this.list.insertBefore(node, before);
    this.order.splice(index, 0, event.id);
    this.rows.set(event.id, { event, node });
    this.remember(event);
  }

  update(id, event) {
    const row = this.rows.get(id);
    const node = this.rowNode(event, true);
    row.node.replaceWith(node);
    row.node = node;
    row.event = event;
    this.remember(event);
  }

  remove(id) {
    const row = this.rows.get(id);
    if (!row) return;
    row.node.remove();
    this.rows.delete(id);
    this.order.splice(this.order.indexOf(id), 1);
  }

  /** Suggestions for the text fields from what the board has shown: tags, and channel ids and
   * type codes for keys that cannot list channels or types. */
  remember(event) {
    const suggest = (list, value) => {
      if (value && list.options.length < 200 && ![...list.options].some((o) => o.value === value)) {
        list.append(el("option", { value }));
      }
    };
    for (const tag of event.tags || []) suggest(this.topicOptions, tag);
    if (!this.channelNames.size) suggest(this.channelOptions, event.channel_id);
    if (this.typeField.querySelector("input")) suggest(this.typeOptions, event.event_type);
  }

  /** A live operation: place, update or remove its event; never a second row for one event. */
  applyFrame(frame) {
    this.overview?.nudge();
    const event = frame.event;
    if (!event || typeof event.id !== "string") return;
    const known = this.rows.get(event.id);
    if (known && (known.event.seq || 0) >= frame.seq) return; // already showing this or newer
    if (frame.event_type === "event_deleted" || event.state === "deleted" || !matches(event, this.filters)) {
      this.remove(event.id);
      this.updateStatus();
      return;
    }
    const shown = { ...event, seq: Math.max(event.seq || 0, frame.seq) };
    if (known) {
      this.update(event.id, shown);
      return;
    }
    // Not on the board yet: new events go on top; an older one that now matches takes its
    // place by creation time if it falls within what has been loaded (else paging finds it).
    let index = 0;
    if (frame.event_type !== "event_created") {
      index = this.order.findIndex((id) => (this.rows.get(id).event.created_at || 0) < (event.created_at || 0));
      if (index === -1) {
        if (!this.exhausted) return;
        index = this.order.length;
      }
    }
    this.insert(shown, index, true);
    this.trim();
    this.updateStatus();
  }

  trim() {
    if (this.order.length <= MAX_ROWS) return;
    while (this.order.length > MAX_ROWS) this.remove(this.order[this.order.length - 1]);
    this.trimmed = true;
    this.exhausted = true; // the cursor no longer follows the last row shown
  }

  /** Acknowledge or close from the row; the reply (and the live feed) updates it in place. */
  async act(eventId, action, button) {
    if (action === "close" && !window.confirm("Close this event? It is marked resolved.")) return;
    for (const node of button.parentNode.querySelectorAll("button")) node.disabled = true;
    this.actionMessage.textContent = "";
    try {
      const reply = await this.api.post(`events/${encodeURIComponent(eventId)}/${action}`);
      if (reply?.data) this.applyEvent(reply.data);
      // The row was rebuilt: keep the keyboard where it was, on this event.
      if (!button.isConnected && document.activeElement === document.body) {
        this.rows.get(eventId)?.node.querySelector(".row-title")?.focus();
      }
    } catch (error) {
      this.actionMessage.textContent = `Could not ${action} the event: ${error.message}`;
      if (button.isConnected) for (const node of button.parentNode.querySelectorAll("button")) node.disabled = false;
    }
  }

  /** An event as the API returned it: newer than the row shows, it replaces the row, or takes
   * it off the board when it no longer matches the filters. */
  applyEvent(event) {
    const known = this.rows.get(event.id);
    if (!known || (known.event.seq || 0) >= (event.seq || 0)) return;
    if (!matches(event, this.filters)) {
      this.remove(event.id);
      this.updateStatus();
      return;
    }
    this.update(event.id, event);
  }

  actionButtons(event) {
    if (!this.canAct || event.state !== "ongoing") return null;
    const button = (action, label) => el("button", {
      type: "button", class: "button secondary small-button", dataset: { action },
      "aria-label": `${label}: ${event.title || "event"}`,
      on: { click: (click) => this.act(event.id, action, click.currentTarget) },
    }, label);
    return el("div", { class: "row-act" },
      isAcknowledged(event) ? null : button("acknowledge", ACTION_WORDS.acknowledge),
      button("close", ACTION_WORDS.close));
  }

  rowNode(event, fresh) {
    const tags = (event.tags || []).slice(0, 8);
    const href = `#/events/${encodeURIComponent(event.id)}`;
    return el("li", {
      class: ["event-row", `sev-border-${SEVERITIES.includes(event.severity) ? event.severity : "unknown"}`,
        event.state === "closed" ? "is-closed" : "is-ongoing", fresh ? "is-fresh" : null],
      dataset: { eventId: event.id, state: event.state || "", severity: event.severity || "" },
    },
    el("div", { class: "row-badges" }, severityBadge(event.severity), stateBadge(event.state)),
    el("div", { class: "row-main" },
      el("a", { class: "row-title", href, title: event.title || "" }, event.title || "(untitled)"),
      el("p", { class: "row-message", title: event.message || "" }, event.message || ""),
      el("div", { class: "row-meta" },
        event.state === "ongoing" && isAcknowledged(event)
          ? el("span", { class: ["badge", "ack-badge"], title: `Acknowledged by ${event.acknowledged_by || "someone"}` },
            "acknowledged")
          : null,
        event.status ? el("span", { class: "status-text", title: "Status set by the producer" }, event.status) : null,
        event.event_type ? el("span", { class: "chip type-chip", title: "Event type" }, event.event_type) : null,
        tags.map((tag) => el("span", { class: "chip tag-chip", title: "Tag" }, tag)),
        el("span", { class: "channel muted", title: `Channel ${event.channel_id}` },
          this.channelNames.get(event.channel_id) || shortId(event.channel_id)))),
    el("div", { class: "row-times" },
      el("span", { class: "muted" }, "created "), timeElement(event.created_at),
      event.updated_at && event.updated_at !== event.created_at
        ? el("span", { class: "updated" }, el("span", { class: "muted" }, " · updated "), timeElement(event.updated_at))
        : null),
    this.actionButtons(event));
  }
}
