// The dashboard's entry point: who is signed in, the live feed, and which view the URL's
// fragment asks for (#/ board, #/events/<id> one event, #/admin administration).

import { el, replaceChildren } from "./dom.js";
import { Api, ApiError, identify } from "./api.js";
import { storedKey, storeKey, forgetKey } from "./session.js";
import { LiveFeed } from "./live.js";
import { BoardView } from "./board.js";
import { EventView } from "./event_page.js";
import { AdminView } from "./admin.js";
import { SignInView } from "./signin.js";

const main = document.getElementById("view");
const nav = document.getElementById("nav");
const account = document.getElementById("account");
const liveStatus = document.getElementById("live-status");
const banner = document.getElementById("banner");

const LIVE_WORDS = {
  idle: "Live updates off", connecting: "Connecting…", live: "Live", reconnecting: "Reconnecting…",
  stopped: "Offline",
};

class Dashboard {
  constructor() {
    this.api = null;
    this.feed = null;
    this.identity = null;
    this.view = null;
    this.channelsCache = null;
  }

  get signedIn() {
    return this.identity !== null;
  }

  hasScope(scope) {
    return !!this.identity && this.identity.effective_scopes.includes(scope);
  }

  async start() {
    window.addEventListener("hashchange", () => this.render());
    document.querySelector(".skip-link").addEventListener("click", (event) => {
      event.preventDefault(); // its #view target is not a route
      main.focus();
    });
    document.addEventListener("keydown", (event) => this.shortcut(event));
    const key = storedKey();
    if (!key) {
      this.render();
      return;
    }
    try {
      this.begin(key, await identify(key));
    } catch (error) {
      if (error instanceof ApiError && error.status === 401) {
        forgetKey();
        this.render("Your key is no longer valid. Sign in again.");
        return;
      }
      replaceChildren(main, el("p", { class: "error", role: "alert" }, `eventgate cannot be reached: ${error.message}`),
        el("button", { type: "button", class: "button", on: { click: () => location.reload() } }, "Try again"));
    }
  }

  signIn(key, identity, { remember = false } = {}) {
    storeKey(key, { remember });
    this.begin(key, identity);
  }

  begin(key, identity) {
    this.identity = identity;
    this.channelsCache = null;
    this.api = new Api(key, { onUnauthorized: () => this.signOut("Your key is no longer valid. Sign in again.") });
    if (identity.effective_scopes.includes("subscribe")) {
      this.feed = new LiveFeed(key);
      this.feed.addEventListener("state", () => this.showLiveState());
      this.feed.addEventListener("revoked", (revoked) => this.signOut(
        revoked.detail.reason === "api key expired"
          ? "Your key has expired. Sign in with another key."
          : "Your key was revoked. Sign in with another key."));
      this.feed.start();
    }
    this.showLiveState();
    this.renderChrome();
    this.render();
  }

  signOut(notice) {
    if (!this.signedIn) return;
    forgetKey();
    this.feed?.stop();
    this.feed = null;
    this.api = null;
    this.identity = null;
    this.channelsCache = null;
    this.renderChrome();
    this.showLiveState();
    if (location.hash && location.hash !== "#/") history.replaceState(null, "", "#/");
    this.render(notice);
  }

  /** Channels of the workspace (admin keys), cached for the session's suggestions. */
  async listChannels() {
    if (!this.channelsCache) {
      this.channelsCache = this.api.get("admin/channels").then((reply) => reply.data || []);
      this.channelsCache.catch(() => { this.channelsCache = null; });
    }
    return this.channelsCache;
  }

  forgetChannels() {
    this.channelsCache = null;
  }

  renderChrome() {
    if (!this.signedIn) {
      replaceChildren(nav);
      replaceChildren(account);
      return;
    }
    replaceChildren(nav,
      el("a", { href: "#/", id: "nav-board" }, "Board"),
      this.hasScope("admin") ? el("a", { href: "#/admin", id: "nav-admin" }, "Admin") : null);
    const who = this.identity.workspace_name
      ? `${this.identity.user_id} · ${this.identity.workspace_name}` : this.identity.user_id;
    replaceChildren(account,
      el("span", { class: "who", title: `Key ${this.identity.id}` }, who),
      el("button", { type: "button", class: "button secondary", id: "sign-out",
        on: { click: () => this.signOut() } }, "Sign out"));
  }

  showLiveState() {
    const state = this.feed ? this.feed.state : (this.signedIn ? "idle" : "stopped");
    document.documentElement.dataset.live = state;
    if (!this.signedIn) {
      replaceChildren(liveStatus);
      banner.hidden = true;
      return;
    }
    const title = this.feed ? undefined : "This key lacks the subscribe scope";
    replaceChildren(liveStatus, el("span", { class: ["live-pill", `live-${state}`], title },
      el("span", { class: "live-dot", "aria-hidden": "true" }), LIVE_WORDS[state] || state));
    if (state === "reconnecting") {
      replaceChildren(banner,
        el("span", null, "Reconnecting… the live connection dropped; missed events will catch up."),
        el("button", { type: "button", class: "button secondary", on: { click: () => this.feed?.reconnectNow() } },
          "Retry now"));
      banner.hidden = false;
    } else {
      banner.hidden = true;
    }
  }

  route() {
    const fragment = location.hash.replace(/^#/, "");
    const raw = fragment.startsWith("/") ? fragment : "/";
    const [path, query] = raw.split("?", 2);
    return { parts: path.split("/").filter(Boolean), params: new URLSearchParams(query || "") };
  }

  render(notice) {
    this.view?.unmount();
    this.view = null;
    replaceChildren(main);
    document.title = "eventgate";
    if (!this.signedIn) {
      this.view = new SignInView(this, { notice });
      this.view.mount(main);
      return;
    }
    const { parts, params } = this.route();
    if (parts.length === 0) this.view = new BoardView(this, params);
    else if (parts[0] === "events" && parts.length === 2) this.view = new EventView(this, decodeURIComponent(parts[1]));
    else if (parts[0] === "admin") {
      if (!this.hasScope("admin")) {
        main.append(el("h1", null, "Administration"), el("p", { class: "error" }, "This key lacks the admin scope."));
        return;
      }
      this.view = new AdminView(this, parts[1] || "channels");
    } else {
      main.append(el("h1", null, "Not found"), el("p", null, el("a", { href: "#/" }, "Back to the board")));
      return;
    }
    for (const link of nav.querySelectorAll("a")) {
      const current = (link.id === "nav-admin") === (parts[0] === "admin");
      if (current) link.setAttribute("aria-current", "page");
      else link.removeAttribute("aria-current");
    }
    this.view.mount(main);
  }

  /** "/" focuses the search; j / k move between events on the board. */
  shortcut(event) {
    if (event.ctrlKey || event.metaKey || event.altKey) return;
    const target = event.target;
    if (target instanceof HTMLElement && target.closest("input, textarea, select, [contenteditable], dialog")) return;
    if (event.key === "/") {
      const search = main.querySelector("input[type=search]");
      if (search) {
        event.preventDefault();
        search.closest("details")?.setAttribute("open", "");
        search.focus();
      }
    } else if (event.key === "j" || event.key === "k") {
      const links = [...main.querySelectorAll(".event-row .row-title")];
      if (!links.length) return;
      const index = links.indexOf(document.activeElement);
      const next = event.key === "j" ? Math.min(links.length - 1, index + 1) : Math.max(0, index - 1);
      links[index === -1 ? 0 : next].focus();
      event.preventDefault();
    }
  }
}

new Dashboard().start();
