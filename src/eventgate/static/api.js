// Talking to eventgate's HTTP API with the signed-in key. Paths are relative to the page,
// so the dashboard also works behind a proxy that serves eventgate under a prefix.

export class ApiError extends Error {
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

function errorFrom(status, body) {
  if (body && typeof body === "object") {
    if (typeof body.error === "string") return new ApiError(status, body.error_code || "error", body.error);
    if (typeof body.message === "string") return new ApiError(status, String(body.code || status), body.message);
    if (typeof body.detail === "string") return new ApiError(status, "error", body.detail);
  }
  return new ApiError(status, "http_" + status, `the server answered ${status}`);
}

export function pageUrl(path, params) {
  const url = new URL(path, document.baseURI);
  for (const [name, value] of Object.entries(params || {})) {
    if (value === undefined || value === null || value === "") continue;
    url.searchParams.set(name, String(value));
  }
  return url;
}

/** The WebSocket address for `path` on this server (ws: or wss: to match the page). */
export function socketUrl(path, params) {
  const url = pageUrl(path, params);
  url.protocol = url.protocol === "https:" ? "wss:" : "ws:";
  return url.href;
}

export class Api {
  constructor(key, { onUnauthorized } = {}) {
    this.key = key;
    this.onUnauthorized = onUnauthorized || (() => {});
  }

  async request(method, path, { params, body } = {}) {
    const headers = { Authorization: `Bearer ${this.key}`, Accept: "application/json" };
    const init = { method, headers, cache: "no-store", credentials: "omit" };
    if (body !== undefined) {
      headers["Content-Type"] = "application/json";
      init.body = JSON.stringify(body);
    }
    let response;
    try {
      response = await fetch(pageUrl(path, params), init);
    } catch {
      throw new ApiError(0, "network_error", "eventgate cannot be reached");
    }
    if (response.status === 204) return null;
    let payload = null;
    const text = await response.text();
    if (text) {
      try {
        payload = JSON.parse(text);
      } catch {
        payload = null;
      }
    }
    if (!response.ok) {
      const error = errorFrom(response.status, payload);
      if (response.status === 401) this.onUnauthorized(error);
      throw error;
    }
    return payload;
  }

  get(path, params) {
    return this.request("GET", path, { params });
  }

  post(path, body) {
    return this.request("POST", path, { body: body === undefined ? {} : body });
  }

  put(path, body) {
    return this.request("PUT", path, { body });
  }

  delete(path) {
    return this.request("DELETE", path);
  }
}

/** Check a key before keeping it: its owner, workspace and scopes. */
export async function identify(key) {
  const api = new Api(key);
  const reply = await api.get("whoami");
  return reply.data;
}
