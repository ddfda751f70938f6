// "Get events on your phone", on a channel's tokens panel: what to enter in the ntfy app to
// follow the channel (the server, the topic, a channel token as the password) and a QR code of
// the ntfy:// link that subscribes the Android app (GET admin/channels/{id}/phone, docs/phone-panel.md).
//
// The QR code and the link hold no secret: the app takes no credential from a link. The token
// is created here (POST admin/channels/{id}/tokens), shown once, and dropped from the page when
// the panel closes.

import { el, replaceChildren } from "./dom.js";

const STORES = [
  ["Google Play", "https://play.google.com/store/apps/details?id=io.heckel.ntfy"],
  ["F-Droid", "https://f-droid.org/packages/io.heckel.ntfy/"],
  ["App Store", "https://apps.apple.com/app/ntfy/id1625396347"],
];

/** A button that copies `text`, saying so in `status`; `select()` highlights the text first, so
 * that Ctrl+C still works where the browser offers no clipboard (plain http). */
function copyButton(text, status, label, select) {
  return el("button", { type: "button", class: "button secondary", "aria-label": label, on: { click: async () => {
    select();
    try {
      await navigator.clipboard.writeText(text);
      status.textContent = `${label.replace(/^Copy/, "Copied")}.`;
    } catch {
      status.textContent = "Press Ctrl+C to copy the selected text.";
    }
  } } }, "Copy");
}

/** One labelled value with its copy button. */
function valueRow(label, value, status) {
  const input = el("input", { type: "text", readonly: true, value, class: "phone-value", spellcheck: "false",
    autocomplete: "off", "aria-label": label });
  return el("div", { class: "phone-row" },
    el("span", { class: "phone-label" }, label),
    el("div", { class: "phone-field" }, input,
      copyButton(value, status, `Copy the ${label[0].toLowerCase()}${label.slice(1)}`, () => input.select())));
}

/** The QR code: the server's SVG as an image. An SVG in an <img> runs no script, and the value
 * is checked to be an SVG document before it becomes a data: URL (dom.js lets only http(s) and
 * "#" links through its props, so the source is set here). */
function qrImage(svgText, link) {
  const image = el("img", { class: "phone-qr", alt: `QR code of the link ${link}`, width: "220", height: "220" });
  if (svgText.startsWith('<svg xmlns="http://www.w3.org/2000/svg"')) {
    image.src = `data:image/svg+xml;charset=utf-8,${encodeURIComponent(svgText)}`;
  }
  return image;
}

/** The ntfy:// link as a link, for a dashboard opened on the phone itself. */
function appLink(link) {
  const anchor = el("a", { class: "button secondary phone-open" }, "Open in the ntfy app");
  if (link.startsWith("ntfy://")) anchor.href = link;
  return anchor;
}

export class PhonePanel {
  /** `tokenCreated()` is called after a phone token was created (to refresh the token list). */
  constructor(api, channel, { tokenCreated = () => {} } = {}) {
    this.api = api;
    this.channel = channel;
    this.tokenCreated = tokenCreated;
    this.path = `admin/channels/${encodeURIComponent(channel.id)}`;
    this.body = el("div", { class: "phone-body" }, el("p", { class: "muted" }, "Loading…"));
    this.element = el("details", { class: "phone-panel", id: `phone-${channel.id}`, on: { toggle: () => {
      if (this.element.open) this.load();
      else replaceChildren(this.body); // the token, if one was shown, leaves the page with it
    } } },
    el("summary", null, "Get events on your phone"),
    this.body);
  }

  async load() {
    replaceChildren(this.body, el("p", { class: "muted" }, "Loading…"));
    try {
      this.render((await this.api.get(`${this.path}/phone`)).data);
    } catch (failure) {
      replaceChildren(this.body, el("p", { class: "error" }, `Cannot show the phone setup: ${failure.message}`));
    }
  }

  render(setup) {
    const status = el("p", { class: "muted small", role: "status" });
    this.tokenSlot = el("div", { class: "phone-token" }, this.tokenForm(status));
    const details = el("div", { class: "phone-values" },
      valueRow("Server URL", setup.server, status),
      valueRow("Topic", setup.topic, status),
      this.tokenSlot);
    const code = setup.svg && setup.link ? el("figure", { class: "phone-code" },
      qrImage(setup.svg, setup.link),
      el("figcaption", { class: "muted small" }, "Scan with the phone's camera (Android): the ntfy app opens and subscribes. ",
        "It holds no password: add the user first (step 2)."),
      appLink(setup.link)) : el("p", { class: "muted small phone-code" },
      "No QR code: the ntfy app's links cannot name a server under a path prefix. Subscribe by hand (step 3).");
    replaceChildren(this.body,
      el("p", { class: "muted small" }, "The ntfy app (Android, iPhone) shows this channel's events as notifications, ",
        "and replaces an event's notification when the event changes."),
      setup.server_is_local ? el("p", { class: "warning", role: "note" }, `A phone cannot reach ${setup.server}. `,
        "Start eventgate with --public-url set to an address the phone can reach, or open this page by that address.")
        : null,
      el("div", { class: "phone-layout" }, code, details),
      el("ol", { class: "phone-steps" },
        el("li", null, "Install ntfy: ", STORES.map(([name, url], i) => [i ? ", " : "",
          el("a", { href: url, target: "_blank", rel: "noopener noreferrer" }, name)]), "."),
        el("li", null, "In ntfy, open Settings, ", el("strong", null, "Manage users"), ", ", el("strong", null, "Add user"),
          ": the server URL above, any user name (e.g. phone), and the token as the ",
          el("strong", null, "password"), "."),
        el("li", null, setup.link ? "Scan the QR code, or in ntfy tap + (Subscribe to topic), " : "In ntfy, tap + (Subscribe to topic), ",
          "choose ", el("strong", null, "Use another server"), ", enter the server URL and the topic, and subscribe.")),
      status);
  }

  tokenForm(status) {
    const name = el("input", { name: "phone_token_name", value: "phone", required: true, maxlength: "128",
      autocomplete: "off", "aria-label": "Name of the phone token" });
    const error = el("p", { class: "error", role: "alert" });
    const form = el("form", { class: "phone-token-form", on: { submit: async (e) => {
      e.preventDefault();
      error.textContent = "";
      try {
        const created = (await this.api.post(`${this.path}/tokens`, { name: name.value.trim() })).data;
        this.showToken(created, status);
        this.tokenCreated();
      } catch (failure) {
        error.textContent = failure.message;
      }
    } } },
    el("span", { class: "phone-label" }, "Token"),
    el("div", { class: "phone-field" }, name, el("button", { type: "submit", class: "button" }, "Create a phone token")),
    error);
    return form;
  }

  showToken(created, status) {
    const row = valueRow("Token", created.token, status);
    replaceChildren(this.tokenSlot, row, el("p", { class: "muted small" }, "Token ", el("strong", null, created.name),
      " is shown only now: enter it in the phone, then close this panel. Revoke it above to cut the phone off."));
    row.querySelector("input").focus();
    row.querySelector("input").select();
  }
}
