// Signing in with an API key: checked against GET whoami, then kept in sessionStorage.

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
    const form = el("form", { class: "signin card", on: { submit: async (event) => {
      event.preventDefault();
      const key = input.value.trim();
      if (!key) return;
      button.disabled = true;
      error.textContent = "";
      try {
        const identity = await identify(key);
        this.context.signIn(key, identity);
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
      ". The key stays in this browser tab only and is forgotten when you close it."),
    error,
    button);
    container.append(form);
    input.focus();
  }

  unmount() {}
}
