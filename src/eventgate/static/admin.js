// Administration for admin keys: channels (create, rename, delete, rotate or set the password,
// their tokens), API keys (create, revoke), event types (create, rename, activate/deactivate,
// delete) and destinations (destinations.js). Secrets — a new key, a new channel password, a new channel token, a
// webhook's signing secret — are shown once, in a dialog, and never kept by the page.

import { el, replaceChildren } from "./dom.js";
import { absoluteTime, timeElement } from "./format.js";
import { DestinationsTab } from "./destinations.js";
import { PhonePanel } from "./phone_panel.js";

const TABS = [["channels", "Channels"], ["keys", "API keys"], ["types", "Event types"], ["destinations", "Destinations"]];
const SCOPES = ["events:read", "events:write", "types:read", "types:write", "subscribe", "admin"];
const DEFAULT_SCOPES = new Set(["events:read", "events:write", "types:read", "types:write", "subscribe"]);
const DAY = 86400;
const EXPIRY_CHOICES = [["", "Never"], [String(DAY), "1 day"], [String(7 * DAY), "7 days"], [String(30 * DAY), "30 days"],
  [String(90 * DAY), "90 days"], [String(365 * DAY), "1 year"]];
const TYPES_PER_PAGE = 50;

export function field(label, control, help) {
  return el("label", { class: "field" }, el("span", null, label), control,
    help ? el("span", { class: "muted small" }, help) : null);
}

export function formError() {
  return el("p", { class: "error", role: "alert" });
}

/** A button that copies `text`, saying so in `status` (a live region). `select()` highlights the
 * text first, so that Ctrl+C still works where the browser offers no clipboard (plain http). */
function copyButton(text, status, { label, done = "Copied.", select } = {}) {
  return el("button", { type: "button", class: "button secondary", "aria-label": label || null, on: { click: async () => {
    if (select) select();
    try {
      await navigator.clipboard.writeText(text);
      status.textContent = done;
    } catch {
      status.textContent = "Press Ctrl+C to copy the selected text.";
    }
  } } }, "Copy");
}

/** Show a secret once: a modal dialog with the value, a copy button, and a plain warning.
 * `extra` goes above the value, `after` below it (e.g. ready-to-copy lines that use it). */
export function showSecret(title, label, secret, extra, { noun = label.toLowerCase(), after = null } = {}) {
  const value = el("input", { type: "text", readonly: true, value: secret, class: "secret-value",
    "aria-label": label, spellcheck: "false", autocomplete: "off" });
  const copied = el("span", { class: "muted", role: "status" });
  const opener = document.activeElement;
  const dialog = el("dialog", { class: ["secret-dialog", after ? "wide" : null], "aria-labelledby": "secret-title" },
    el("h2", { id: "secret-title" }, title),
    el("p", null, `This ${noun} is shown only now. Copy it somewhere safe: it cannot be shown again.`),
    extra || null,
    el("div", { class: "secret-row" }, value,
      copyButton(secret, copied, { label: `Copy the ${noun}`, done: `Copied the ${noun}.`,
        select: () => value.select() })),
    typeof after === "function" ? after(copied) : after,
    el("div", { class: "dialog-actions" },
      copied,
      el("button", { type: "button", class: "button", on: { click: () => dialog.close() } }, "Done")));
  dialog.addEventListener("close", () => {
    dialog.remove();
    // Back to the control that opened the dialog, unless a reload replaced it meanwhile.
    if (opener instanceof HTMLElement && opener.isConnected) opener.focus();
  });
  document.body.append(dialog);
  dialog.showModal();
  value.select();
  return dialog;
}

function expiresWord(expiresAt) {
  if (expiresAt === null || expiresAt === undefined) return "never";
  return absoluteTime(expiresAt);
}

// ---------------------------------------------------------------------------------------------
// Channel tokens: the one secret a tool that already notifies ntfy or Gotify sends (curl, Apprise,
// Uptime Kuma, Home Assistant…), and what the ntfy app subscribes with. It works on those intake
// routes and on ntfy's subscribe routes for its own channel only (docs/intake.md, docs/phones.md).

/** Where this eventgate answers: the page's address without its fragment, a path prefix included. */
function serverAddress() {
  const url = new URL(".", document.baseURI);
  const prefix = url.pathname.replace(/\/$/, "");
  return { base: url.origin + prefix, host: url.host, prefix, secure: url.protocol === "https:" };
}

/** [label, line] for each tool: the same commands as docs/intake.md, with this server and token. */
export function intakeLines(channelId, token, server = serverAddress()) {
  const s = server.secure ? "s" : "";
  const lines = [
    ["ntfy, with curl", `curl -d "Backup done" -H "Authorization: Bearer ${token}" ${server.base}/${channelId}`],
    ["Gotify, with curl",
      `curl "${server.base}/message?token=${token}" -F "title=Backup" -F "message=done" -F "priority=5"`],
  ];
  // Apprise reads every path segment of an ntfy URL as a topic: a path prefix cannot be said there.
  // The token goes in ?token=: in the user part Apprise would take it for a user name.
  if (!server.prefix) lines.push(["Apprise URL, ntfy", `ntfy${s}://${server.host}/${channelId}?token=${token}`]);
  lines.push(["Apprise URL, Gotify", `gotify${s}://${server.host}${server.prefix}/${token}`]);
  return lines;
}

function usageBlock(lines, status) {
  return el("section", { class: "usage", "aria-labelledby": "usage-title" },
    el("h3", { id: "usage-title" }, "Use it from the tools you already run"),
    el("p", { class: "muted small" },
      "Point an ntfy or Gotify client here: only the server address and the token change."),
    el("ul", { class: "usage-lines" }, lines.map(([label, line]) => {
      const code = el("code", null, line);
      return el("li", { class: "usage-line" },
        el("span", { class: "usage-label" }, label),
        el("pre", null, code),
        copyButton(line, status, { label: `Copy the line for ${label}`, done: `Copied the line for ${label}.`,
          select: () => window.getSelection().selectAllChildren(code) }));
    })));
}

/** One channel's tokens: the list (revoked ones greyed), "Create token" and "Revoke". */
class ChannelTokens {
  constructor(api, channel) {
    this.api = api;
    this.channel = channel;
    this.path = `admin/channels/${encodeURIComponent(channel.id)}/tokens`;
    this.heading = el("h3", { id: `tokens-h-${channel.id}`, tabindex: "-1" }, `Tokens of ${channel.name}`);
    this.list = el("div", { class: "table-wrap" }, el("p", { class: "muted" }, "Loading tokens…"));
    this.status = el("p", { class: "muted small", role: "status" });
    const name = el("input", { name: "token_name", required: true, maxlength: "128", autocomplete: "off" });
    const error = formError();
    const form = el("form", { class: "token-form", "aria-label": `New token for ${channel.name}`, on: { submit: async (e) => {
      e.preventDefault();
      error.textContent = "";
      this.status.textContent = "";
      try {
        const created = (await this.api.post(this.path, { name: name.value.trim() })).data;
        form.reset();
        this.show(created);
        this.load();
      } catch (failure) {
        error.textContent = failure.message;
      }
    } } },
    field("Token name", name),
    el("button", { type: "submit", class: "button" }, "Create token"),
    error);
    this.element = el("section", { class: "token-panel", id: `tokens-${channel.id}`, "aria-labelledby": this.heading.id },
      this.heading,
      el("p", { class: "muted small" }, "A token lets ntfy and Gotify clients publish to this channel, and ntfy apps subscribe to it; nothing else. "
        + "Name it after who or what sends with it (e.g. backup script)."),
      this.list, this.status, form,
      new PhonePanel(api, channel, { tokenCreated: () => this.load() }).element);
  }

  show(created) {
    showSecret("Channel token created", "Channel token", created.token,
      el("p", null, "Token ", el("strong", null, created.name), " (id ", el("code", null, String(created.id)),
        ") for channel ", el("strong", null, this.channel.name), " (", el("code", null, this.channel.id), ")"),
      { noun: "token", after: (status) => usageBlock(intakeLines(this.channel.id, created.token), status) });
  }

  async load() {
    try {
      this.render((await this.api.get(this.path)).data || []);
    } catch (failure) {
      replaceChildren(this.list, el("p", { class: "error" }, `Cannot list tokens: ${failure.message}`));
    }
  }

  render(tokens) {
    if (!tokens.length) {
      replaceChildren(this.list, el("p", { class: "muted" }, "No tokens yet."));
      return;
    }
    replaceChildren(this.list, el("table", { class: "data tokens" },
      el("thead", null, el("tr", null, ["Name", "Token id", "Created", ""].map((h) => el("th", { scope: "col" }, h)))),
      el("tbody", null, tokens.map((token) => {
        const revoked = token.revoked_at !== null && token.revoked_at !== undefined;
        return el("tr", { class: revoked ? "is-revoked" : null, dataset: { tokenId: String(token.id) } },
          el("td", null, token.name),
          el("td", null, el("code", null, String(token.id))),
          el("td", null, timeElement(token.created_at)),
          el("td", { class: "row-actions" }, revoked
            ? el("span", { class: "muted" }, "revoked ", timeElement(token.revoked_at))
            : el("button", { type: "button", class: "button danger", "aria-label": `Revoke token ${token.id} (${token.name})`,
              on: { click: () => this.revoke(token) } }, "Revoke")));
      }))));
  }

  async revoke(token) {
    const question = `Revoke token “${token.name}” of channel “${this.channel.name}”? Tools sending with it are refused at once.`;
    if (!window.confirm(question)) return;
    try {
      await this.api.delete(`${this.path}/${encodeURIComponent(token.id)}`);
      this.status.textContent = `Token “${token.name}” revoked.`;
      await this.load();
      this.heading.focus(); // its button is gone
    } catch (failure) {
      window.alert(`The token was not revoked: ${failure.message}`);
    }
  }
}

// ---------------------------------------------------------------------------------------------

class ChannelsTab {
  constructor(context) {
    this.context = context;
    this.api = context.api;
    this.open = new Set(); // channels whose tokens are shown, kept when the list reloads
  }

  mount(container) {
    this.table = el("div", { class: "table-wrap" }, el("p", { class: "muted" }, "Loading channels…"));
    const name = el("input", { name: "name", required: true, maxlength: "128", autocomplete: "off" });
    const password = el("input", { name: "password", type: "password", minlength: "8", maxlength: "128",
      autocomplete: "new-password" });
    const error = formError();
    const form = el("form", { class: "card admin-form", "aria-labelledby": "new-channel-h", on: { submit: async (e) => {
      e.preventDefault();
      error.textContent = "";
      const body = { name: name.value.trim() };
      if (password.value) body.password = password.value;
      try {
        const created = (await this.api.post("admin/channels", body)).data;
        form.reset();
        this.context.forgetChannels();
        if (created.password) {
          showSecret("Channel created", "Channel password", created.password,
            el("p", null, "Channel id: ", el("code", null, created.channel_id || created.id)));
        }
        this.load();
      } catch (failure) {
        error.textContent = failure.message;
      }
    } } },
    el("h2", { id: "new-channel-h" }, "New channel"),
    field("Name", name),
    field("Password", password, "8–128 characters. Leave empty to have eventgate generate one (shown once)."),
    error,
    el("button", { type: "submit", class: "button" }, "Create channel"));
    this.heading = el("h2", { id: "channels-h", tabindex: "-1" }, "Channels");
    this.status = el("p", { class: "muted small", role: "status", id: "channels-status" });
    container.append(el("section", { class: "card", "aria-labelledby": "channels-h" }, this.heading, this.table,
      this.status), form);
    this.load();
  }

  async load() {
    try {
      const channels = (await this.api.get("admin/channels")).data || [];
      this.render(channels);
    } catch (failure) {
      replaceChildren(this.table, el("p", { class: "error" }, `Cannot list channels: ${failure.message}`));
    }
  }

  render(channels) {
    if (!channels.length) {
      replaceChildren(this.table, el("p", { class: "muted" }, "No channels yet."));
      return;
    }
    replaceChildren(this.table, el("table", { class: "data" },
      el("thead", null, el("tr", null, ["Name", "Channel id", "Created", ""].map((h) =>
        el("th", { scope: "col" }, h)))),
      el("tbody", null, channels.map((channel) => this.rows(channel)))));
  }

  /** The channel's row, and below it a row with its tokens, shown by the "Tokens" button. */
  rows(channel) {
    const id = channel.channel_id || channel.id;
    const tokens = new ChannelTokens(this.api, { id, name: channel.name });
    const open = this.open.has(id);
    const detail = el("tr", { class: "token-row", hidden: !open }, el("td", { colspan: "4" }, tokens.element));
    const toggle = el("button", { type: "button", class: "button secondary disclosure", "aria-expanded": String(open),
      "aria-controls": tokens.element.id, "aria-label": `Tokens of ${channel.name}`, on: { click: () => {
        const opening = detail.hidden;
        detail.hidden = !opening;
        toggle.setAttribute("aria-expanded", String(opening));
        if (opening) {
          this.open.add(id);
          tokens.load();
        } else {
          this.open.delete(id);
        }
      } } }, "Tokens");
    if (open) tokens.load();
    const button = (label, name, action, { danger = false } = {}) => el("button", { type: "button",
      class: ["button", danger ? "danger" : "secondary"], "aria-label": `${name} ${channel.name}`,
      on: { click: action } }, label);
    const row = el("tr", { dataset: { channelId: id } },
      el("td", null, channel.name, channel.is_default ? el("span", { class: "chip" }, "default") : null),
      el("td", null, el("code", null, id)),
      el("td", null, timeElement(channel.created_at)),
      el("td", { class: "row-actions" }, toggle,
        button("Rename", "Rename", () => this.rename(row, id, channel.name)),
        channel.is_default ? el("span", { class: "muted small" }, " written through API keys") : [
          button("Rotate password", "Rotate the password of", () => this.rotate(id, channel.name)),
          button("Set password", "Set the password of", () => this.setPassword(row, id, channel.name)),
          button("Delete", "Delete", () => this.remove(id, channel.name), { danger: true }),
        ]));
    return [row, detail];
  }

  /** Replace the row's cells by a one-line form; Cancel (or Escape) puts the list back. */
  inlineForm(row, label, controls, submit) {
    const error = el("span", { class: "error", role: "alert" });
    const form = el("form", { class: "inline-form", "aria-label": label, on: {
      submit: async (e) => {
        e.preventDefault();
        error.textContent = "";
        try {
          await submit();
        } catch (failure) {
          error.textContent = failure.message;
        }
      },
      keydown: (e) => { if (e.key === "Escape") this.load(); },
    } }, controls,
    el("button", { type: "submit", class: "button" }, "Save"),
    el("button", { type: "button", class: "button secondary", on: { click: () => this.load() } }, "Cancel"),
    error);
    replaceChildren(row, el("td", { colspan: "4" }, form));
    controls[0].focus();
  }

  rename(row, id, name) {
    const input = el("input", { value: name, required: true, maxlength: "128", autocomplete: "off",
      "aria-label": "New name" });
    this.inlineForm(row, `Rename channel ${name}`, [input], async () => {
      const renamed = (await this.api.request("PATCH", `admin/channels/${encodeURIComponent(id)}`,
        { body: { name: input.value.trim() } })).data;
      this.context.forgetChannels();
      this.status.textContent = `Channel “${name}” is now “${renamed.name}”.`;
      await this.load();
    });
  }

  /** A password chosen by the person (the same 8–128 characters as at creation). */
  setPassword(row, id, name) {
    const input = el("input", { type: "password", required: true, minlength: "8", maxlength: "128",
      autocomplete: "new-password", "aria-label": "New password" });
    this.inlineForm(row, `Set the password of ${name}`, [input], async () => {
      const question = `Set a new password for channel “${name}”? Producers using the old one will be refused at once.`;
      if (!window.confirm(question)) return;
      await this.api.post(`admin/channels/${encodeURIComponent(id)}/rotate-password`, { password: input.value });
      this.status.textContent = `The password of “${name}” was changed.`;
      await this.load();
    });
  }

  async remove(id, name) {
    const question = `Delete channel “${name}”? Its producers and its tokens stop working at once, and live streams `
      + "of this channel alone end. Its events and their timelines stay readable.";
    if (!window.confirm(question)) return;
    try {
      await this.api.delete(`admin/channels/${encodeURIComponent(id)}`);
      this.open.delete(id);
      this.context.forgetChannels();
      this.status.textContent = `Channel “${name}” deleted; its events stay.`;
      await this.load();
      this.heading.focus(); // its buttons are gone
    } catch (failure) {
      this.status.textContent = `The channel was not deleted: ${failure.message}`;
    }
  }

  async rotate(id, name) {
    if (!window.confirm(`Give channel “${name}” a new password? Producers using the old one will be refused at once.`)) {
      return;
    }
    try {
      const reply = (await this.api.post(`admin/channels/${encodeURIComponent(id)}/rotate-password`, {})).data;
      showSecret("New channel password", "Channel password", reply.password,
        el("p", null, "Channel ", el("strong", null, name), " (", el("code", null, id), ")"));
      this.load();
    } catch (failure) {
      window.alert(`The password was not changed: ${failure.message}`);
    }
  }
}

// ---------------------------------------------------------------------------------------------

class KeysTab {
  constructor(context) {
    this.context = context;
    this.api = context.api;
  }

  mount(container) {
    this.table = el("div", { class: "table-wrap" }, el("p", { class: "muted" }, "Loading keys…"));
    this.channelBoxes = el("div", { class: "checks" }, el("span", { class: "muted" }, "Loading channels…"));
    const user = el("input", { name: "user_id", required: true, maxlength: "128", autocomplete: "off" });
    const scopes = el("fieldset", { class: "checks" }, el("legend", null, "Scopes"),
      SCOPES.map((scope) => el("label", { class: "check" },
        el("input", { type: "checkbox", name: "scope", value: scope, checked: DEFAULT_SCOPES.has(scope) }), scope)));
    const expires = el("select", { name: "expires" }, EXPIRY_CHOICES.map(([value, label]) =>
      el("option", { value }, label)));
    const error = formError();
    const form = el("form", { class: "card admin-form", "aria-labelledby": "new-key-h", on: { submit: async (e) => {
      e.preventDefault();
      error.textContent = "";
      const data = new FormData(form);
      const body = { user_id: user.value.trim(), scopes: data.getAll("scope").map(String) };
      const channels = data.getAll("channel").map(String);
      if (channels.length) body.channel_ids = channels;
      if (expires.value) body.expires_in = Number(expires.value);
      if (!body.scopes.length) {
        error.textContent = "Choose at least one scope.";
        return;
      }
      try {
        const created = (await this.api.post("admin/keys", body)).data;
        form.reset();
        showSecret("API key created", "API key", created.key,
          el("p", null, "Key ", el("code", null, created.id), " for ", el("strong", null, created.user_id || body.user_id)),
          { noun: "API key" });
        this.load();
      } catch (failure) {
        error.textContent = failure.message;
      }
    } } },
    el("h2", { id: "new-key-h" }, "New API key"),
    field("User", user, "Who the key belongs to (a name)."),
    scopes,
    el("fieldset", { class: "checks" }, el("legend", null, "Channels (none ticked: every channel)"), this.channelBoxes),
    field("Expires", expires),
    error,
    el("button", { type: "submit", class: "button" }, "Create key"));
    container.append(el("section", { class: "card" }, el("h2", null, "API keys"), this.table), form);
    this.load();
    this.loadChannels();
  }

  async loadChannels() {
    try {
      const channels = await this.context.listChannels();
      replaceChildren(this.channelBoxes, channels.map((c) => el("label", { class: "check" },
        el("input", { type: "checkbox", name: "channel", value: c.channel_id || c.id }), c.name)));
    } catch (failure) {
      replaceChildren(this.channelBoxes, el("span", { class: "error" }, `Cannot list channels: ${failure.message}`));
    }
  }

  async load() {
    try {
      const keys = (await this.api.get("admin/keys")).data || [];
      this.render(keys);
    } catch (failure) {
      replaceChildren(this.table, el("p", { class: "error" }, `Cannot list keys: ${failure.message}`));
    }
  }

  render(keys) {
    const mine = this.context.identity.id;
    replaceChildren(this.table, el("table", { class: "data" },
      el("thead", null, el("tr", null, ["Key", "User", "Scopes", "Channels", "Expires", "Created", ""].map((h) =>
        el("th", { scope: "col" }, h)))),
      el("tbody", null, keys.map((key) => {
        const revoked = key.revoked_at !== null && key.revoked_at !== undefined;
        const expired = !revoked && key.active === false;
        return el("tr", { class: revoked || expired ? "is-revoked" : null, dataset: { keyId: key.id } },
          el("td", null, el("code", null, key.id), key.id === mine ? el("span", { class: "chip" }, "this key") : null),
          el("td", null, key.user_id),
          el("td", null, (key.scopes || []).map((s) => el("span", { class: "chip" }, s))),
          el("td", null, key.channel_ids ? key.channel_ids.map((c) => el("code", { class: "chip" }, c)) : "all"),
          el("td", null, expiresWord(key.expires_at)),
          el("td", null, timeElement(key.created_at)),
          el("td", { class: "row-actions" }, revoked
            ? el("span", { class: "muted" }, "revoked ", timeElement(key.revoked_at))
            : expired ? el("span", { class: "muted" }, "expired") : el("button", { type: "button", class: "button danger", "aria-label": `Revoke key ${key.id}`,
              on: { click: () => this.revoke(key) } }, "Revoke")));
      }))));
  }

  async revoke(key) {
    const own = key.id === this.context.identity.id ? " This is the key you are signed in with." : "";
    if (!window.confirm(`Revoke key ${key.id} of ${key.user_id}? It stops working at once.${own}`)) return;
    try {
      await this.api.delete(`admin/keys/${encodeURIComponent(key.id)}`);
      this.load();
    } catch (failure) {
      window.alert(`The key was not revoked: ${failure.message}`);
    }
  }
}

// ---------------------------------------------------------------------------------------------

class TypesTab {
  constructor(context) {
    this.context = context;
    this.api = context.api;
    this.page = 1;
  }

  mount(container) {
    this.table = el("div", { class: "table-wrap" }, el("p", { class: "muted" }, "Loading event types…"));
    this.pager = el("nav", { class: "pager", "aria-label": "Event type pages" });
    const name = el("input", { name: "name", required: true, maxlength: "256", autocomplete: "off" });
    const code = el("input", { name: "code", required: true, maxlength: "64", pattern: "[A-Za-z0-9_]+",
      autocomplete: "off", spellcheck: "false" });
    const error = formError();
    const form = el("form", { class: "card admin-form", "aria-labelledby": "new-type-h", on: { submit: async (e) => {
      e.preventDefault();
      error.textContent = "";
      try {
        await this.api.post("api/b/v2/events", { name: name.value.trim(), code: code.value.trim() });
        form.reset();
        this.load();
      } catch (failure) {
        error.textContent = failure.message;
      }
    } } },
    el("h2", { id: "new-type-h" }, "New event type"),
    field("Name", name), field("Code", code, "Letters, digits and _ (what producers send as event_type)."),
    error,
    el("button", { type: "submit", class: "button" }, "Create type"));
    this.heading = el("h2", { id: "types-h", tabindex: "-1" }, "Event types");
    this.status = el("p", { class: "muted small", role: "status", id: "types-status" });
    container.append(el("section", { class: "card", "aria-labelledby": "types-h" }, this.heading, this.table,
      this.status, this.pager), form);
    this.load();
  }

  async load() {
    try {
      const reply = await this.api.get("api/b/v2/events", { page: this.page, per_page: TYPES_PER_PAGE });
      this.render(reply.data || [], reply.pagination);
    } catch (failure) {
      replaceChildren(this.table, el("p", { class: "error" }, `Cannot list event types: ${failure.message}`));
    }
  }

  render(types, pagination) {
    replaceChildren(this.table, el("table", { class: "data" },
      el("thead", null, el("tr", null, ["Name", "Code", "Kind", "Status", ""].map((h) => el("th", { scope: "col" }, h)))),
      el("tbody", null, types.map((type) => this.row(type)))));
    const pages = pagination ? pagination.total_pages : 1;
    replaceChildren(this.pager, pages > 1 ? [
      el("button", { type: "button", class: "button secondary", disabled: this.page <= 1,
        on: { click: () => { this.page -= 1; this.load(); } } }, "Previous"),
      el("span", { class: "muted" }, `Page ${this.page} of ${pages}`),
      el("button", { type: "button", class: "button secondary", disabled: this.page >= pages,
        on: { click: () => { this.page += 1; this.load(); } } }, "Next"),
    ] : null);
  }

  row(type) {
    const system = type.type === "SYSTEM";
    const active = type.status === 1;
    const row = el("tr", { class: active ? null : "is-inactive", dataset: { typeId: String(type.id), code: type.code } },
      el("td", null, type.name),
      el("td", null, el("code", null, type.code)),
      el("td", null, system ? "system" : "custom"),
      el("td", null, el("span", { class: ["badge", active ? "state-ongoing" : "state-closed"] },
        active ? "active" : "inactive")),
      el("td", { class: "row-actions" }, system ? el("span", { class: "muted" }, "read-only") : [
        el("button", { type: "button", class: "button secondary", "aria-label": `Rename ${type.code}`,
          on: { click: () => this.edit(row, type) } }, "Rename"),
        el("button", { type: "button", class: "button secondary",
          "aria-label": `${active ? "Deactivate" : "Activate"} ${type.code}`,
          on: { click: () => this.toggle(type, active) } }, active ? "Deactivate" : "Activate"),
        el("button", { type: "button", class: "button danger", "aria-label": `Delete ${type.code}`,
          on: { click: () => this.remove(type) } }, "Delete"),
      ]));
    return row;
  }

  /** Only a type no stored event carries can go; otherwise the server says so (409) and why. */
  async remove(type) {
    if (!window.confirm(`Delete event type ${type.code}? Producers sending it register it again unless `
      + "the server runs with strict types.")) return;
    this.status.textContent = "";
    try {
      await this.api.delete(`api/b/v2/events/${type.id}`);
      this.status.textContent = `Event type ${type.code} deleted.`;
      await this.load();
      this.heading.focus(); // its buttons are gone
    } catch (failure) {
      this.status.textContent = `Not deleted: ${failure.message}`;
    }
  }

  edit(row, type) {
    const name = el("input", { value: type.name, required: true, maxlength: "256", "aria-label": "Name" });
    const code = el("input", { value: type.code, required: true, maxlength: "64", pattern: "[A-Za-z0-9_]+",
      "aria-label": "Code", spellcheck: "false" });
    const error = el("span", { class: "error", role: "alert" });
    const form = el("form", { class: "inline-form", on: { submit: async (e) => {
      e.preventDefault();
      try {
        await this.api.put(`api/b/v2/events/${type.id}`, { name: name.value.trim(), code: code.value.trim() });
        this.load();
      } catch (failure) {
        error.textContent = failure.message;
      }
    } } }, name, code,
    el("button", { type: "submit", class: "button" }, "Save"),
    el("button", { type: "button", class: "button secondary", on: { click: () => this.load() } }, "Cancel"),
    error);
    replaceChildren(row, el("td", { colspan: "5" }, form));
    name.focus();
  }

  async toggle(type, active) {
    try {
      await this.api.post(`api/b/v2/events/${type.id}/${active ? "deactivate" : "activate"}`);
      this.load();
    } catch (failure) {
      window.alert(failure.message);
    }
  }
}

// ---------------------------------------------------------------------------------------------

export class AdminView {
  constructor(context, tab) {
    this.context = context;
    this.tab = TABS.some(([name]) => name === tab) ? tab : "channels";
  }

  mount(container) {
    document.title = "Administration · eventgate";
    const panel = el("div", { class: "admin-panel", id: `admin-${this.tab}` });
    container.append(
      el("h1", null, "Administration"),
      el("nav", { class: "tabs", "aria-label": "Administration" }, TABS.map(([name, label]) =>
        el("a", { href: `#/admin/${name}`, "aria-current": name === this.tab ? "page" : null }, label))),
      panel);
    const Tab = { channels: ChannelsTab, keys: KeysTab, types: TypesTab, destinations: DestinationsTab }[this.tab];
    new Tab(this.context).mount(panel);
  }

  unmount() {
    for (const dialog of document.querySelectorAll("dialog.secret-dialog")) dialog.close();
  }
}
