// One live connection per signed-in tab: GET api/v1/ws/subscribe?token=… (browsers cannot
// set headers on a WebSocket), resumed after a drop with since=<last seq seen>.
//
// Why nothing is shown twice: seq grows strictly per workspace in commit order, and frames
// arrive in seq order, so any frame with seq <= the last one seen is a replay and is dropped
// here. Views additionally keep each event's own seq and ignore older frames for it.

import { socketUrl } from "./api.js";

const PATH = "api/v1/ws/subscribe";
const BACKOFF_MS = [500, 1000, 2000, 4000, 8000, 15000];
const KEY_REVOKED = 4001; // close code: the key was revoked or has expired

export class LiveFeed extends EventTarget {
  constructor(key) {
    super();
    this.key = key;
    this.lastSeq = null; // the newest seq applied; null until the first welcome
    this.state = "idle"; // idle | connecting | live | reconnecting | stopped
    this.socket = null;
    this.failures = 0;
    this.retryTimer = null;
    this.everLive = false;
  }

  start() {
    if (this.state !== "idle") return;
    this.connect();
  }

  stop() {
    this.setState("stopped");
    clearTimeout(this.retryTimer);
    if (this.socket) {
      const socket = this.socket;
      this.socket = null;
      socket.close(1000, "signed out");
    }
  }

  /** Resolves once the feed has a position (the first welcome), so a view can load a page after it. */
  ready() {
    if (this.lastSeq !== null || this.state === "stopped" || this.state === "idle") return Promise.resolve();
    return new Promise((resolve) => {
      const done = () => {
        this.removeEventListener("welcome", done);
        this.removeEventListener("state", onState);
        resolve();
      };
      // A feed that cannot connect must not block the page: give up waiting after a moment.
      const onState = () => {
        if (this.state === "reconnecting" || this.state === "stopped") done();
      };
      this.addEventListener("welcome", done);
      this.addEventListener("state", onState);
    });
  }

  setState(state) {
    if (this.state === state) return;
    this.state = state;
    this.dispatchEvent(new CustomEvent("state", { detail: { state } }));
  }

  connect() {
    clearTimeout(this.retryTimer);
    this.setState(this.everLive ? "reconnecting" : "connecting");
    const params = { token: this.key };
    if (this.lastSeq !== null) params.since = this.lastSeq;
    let socket;
    try {
      socket = new WebSocket(socketUrl(PATH, params));
    } catch {
      this.scheduleRetry();
      return;
    }
    this.socket = socket;
    socket.addEventListener("message", (message) => {
      if (this.socket !== socket) return;
      this.receive(message.data);
    });
    socket.addEventListener("close", (closed) => {
      if (this.socket !== socket) return;
      this.socket = null;
      if (this.state === "stopped") return;
      this.dispatchEvent(new CustomEvent("dropped", { detail: { code: closed.code, reason: closed.reason } }));
      if (closed.code === KEY_REVOKED) {
        // The server ended the stream because the key was revoked or expired: retrying
        // could only be refused again.
        this.setState("stopped");
        this.dispatchEvent(new CustomEvent("revoked", { detail: { reason: closed.reason } }));
        return;
      }
      this.scheduleRetry();
    });
  }

  scheduleRetry() {
    if (this.state === "stopped") return;
    this.setState("reconnecting");
    const delay = BACKOFF_MS[Math.min(this.failures, BACKOFF_MS.length - 1)];
    this.failures += 1;
    this.retryTimer = setTimeout(() => this.connect(), delay);
  }

  /** Drop the connection now and resume it at once (used by the "retry now" button). */
  reconnectNow() {
    if (this.state === "stopped") return;
    this.failures = 0;
    if (this.socket) {
      const socket = this.socket;
      this.socket = null;
      socket.close(1000, "reconnecting");
    }
    this.connect();
  }

  receive(data) {
    let frame;
    try {
      frame = JSON.parse(data);
    } catch {
      return;
    }
    if (!frame || typeof frame !== "object") return;
    if (frame.type === "welcome") {
      if (this.lastSeq === null && typeof frame.seq === "number") this.lastSeq = frame.seq;
      this.failures = 0;
      this.everLive = true;
      this.setState("live");
      this.dispatchEvent(new CustomEvent("welcome", { detail: frame }));
      return;
    }
    if (frame.type !== "event" || typeof frame.seq !== "number") return; // heartbeats and the like
    if (this.lastSeq !== null && frame.seq <= this.lastSeq) return; // a replay of something seen
    this.lastSeq = frame.seq;
    this.dispatchEvent(new CustomEvent("frame", { detail: frame }));
  }
}
