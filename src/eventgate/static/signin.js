// Signing in with an API key: checked against GET whoami, then kept in this tab (sessionStorage),
// or on this device (localStorage) when the person ticks "Remember me on this device".

import { el } from "./dom.js";
import { identify } from "./api.js";

export class SignInView {
  constructor(context, { notice } = {}) {
    this.context = context;
    this.notice = notice;
  }

  mount(container) {
    const input = el("input", { id: "api-key", name: "key", type: "password", required: true,
      autocomplete: "off", spellcheck: "false", autofocus: true, "aria-describedby": "key-help" });
    const error = el("p", { class: "error", role: "alert", id: "signin-error" });
    const button = el("button", { type: "submit", class: "button" }, "Sign in");
    const remember = el("input", { id: "remember-key", name: "remember", type: "checkbox",
      "aria-describedby": "remember-help" });
    const form = el("form", { class: "signin card", on: { submit: async (event) => {
      event.preventDefault();
      const key = input.value.trim();
      if (!key) return;
      button.disabled = true;
      error.textContent = "";
      try {
        const identity = await identify(key);
        this.context.signIn(key, identity, { remember: remember.checked });
      } catch (failure) {
        error.textContent = failure.status === 401
          ? "This key is unknown, revoked or expired."
          : `Cannot sign in: ${failure.message}`;
        input.select();
      } finally {
        button.disabled = false;
      }
    } } },
    el("h1", null, "Sign in"),
    this.notice ? el("p", { class: "notice" }, this.notice) : null,
    el("label", { for: "api-key" }, "API key"),
    input,
    el("p", { id: "key-help", class: "muted" },
      "Create one with ", el("code", null, "eventgate key create --user you"),
      ". Unless you ask to be remembered, the key stays in this browser tab only and is forgotten when you "
      + "close it."),
    el("label", { class: "check remember" }, remember, "Remember me on this device"),
    el("p", { id: "remember-help", class: "muted small" },
      "Keeps the key in this browser, for new tabs too, until you sign out. Only on a device no one else uses."),
    error,
    button);
    container.append(form);
    input.focus();
  }

  unmount() {}
}
