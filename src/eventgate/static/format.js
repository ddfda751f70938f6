// Turning wire values into words: times, severities, states.

import { el } from "./dom.js";

export const SEVERITIES = ["critical", "high", "normal", "low"];
// The order live subscriptions and `GET /events?min_severity=` use (domain/fields.py SEVERITY_RANK);
// an event without a severity counts as normal, as it does on the server.
export const SEVERITY_RANK = { low: 0, normal: 1, high: 2, critical: 3 };

/** Is `severity` at `minimum` or above? */
export function atLeast(severity, minimum) {
  return (SEVERITY_RANK[severity || "normal"] ?? SEVERITY_RANK.normal) >= SEVERITY_RANK[minimum];
}
const SEVERITY_LABEL = { critical: "Critical", high: "High", normal: "Normal", low: "Low" };

/** A Unix time in seconds → Date (or null). */
export function fromUnix(seconds) {
  if (typeof seconds !== "number" || !Number.isFinite(seconds)) return null;
  return new Date(seconds * 1000);
}

const absoluteFormat = new Intl.DateTimeFormat(undefined, {
  year: "numeric", month: "short", day: "numeric", hour: "2-digit", minute: "2-digit", second: "2-digit",
});
const timeOfDay = new Intl.DateTimeFormat(undefined, { hour: "2-digit", minute: "2-digit" });

export function absoluteTime(seconds) {
  const date = fromUnix(seconds);
  return date ? absoluteFormat.format(date) : "—";
}

export function hourLabel(seconds) {
  const date = fromUnix(seconds);
  return date ? timeOfDay.format(date) : "";
}

export function relativeTime(seconds, now = Date.now() / 1000) {
  if (typeof seconds !== "number") return "—";
  const delta = Math.round(now - seconds);
  const future = delta < 0;
  const span = Math.abs(delta);
  let text;
  if (span < 45) text = "just now";
  else if (span < 90 * 60) text = `${Math.max(1, Math.round(span / 60))} min`;
  else if (span < 36 * 3600) text = `${Math.round(span / 3600)} h`;
  else text = `${Math.round(span / 86400)} d`;
  if (text === "just now") return text;
  return future ? `in ${text}` : `${text} ago`;
}

/** A <time> element: relative words, the exact time on hover and for screen readers. */
export function timeElement(seconds, { relative = true } = {}) {
  const date = fromUnix(seconds);
  if (!date) return el("span", { class: "muted" }, "—");
  return el("time", {
    datetime: date.toISOString(),
    title: absoluteTime(seconds),
    dataset: relative ? { unix: String(seconds) } : undefined,
  }, relative ? relativeTime(seconds) : absoluteTime(seconds));
}

/** Refresh the words of every relative <time> under `root`. */
export function refreshRelativeTimes(root) {
  for (const node of root.querySelectorAll("time[data-unix]")) {
    node.textContent = relativeTime(Number(node.dataset.unix));
  }
}

export function severityLabel(severity) {
  return SEVERITY_LABEL[severity] || String(severity || "unknown");
}

/** Severity as colour and as text (colour alone is not enough for everyone). */
export function severityBadge(severity) {
  const known = SEVERITIES.includes(severity) ? severity : "unknown";
  return el("span", { class: ["badge", "severity", `sev-${known}`] }, severityLabel(severity));
}

export function stateBadge(state) {
  const known = ["ongoing", "closed", "deleted"].includes(state) ? state : "unknown";
  return el("span", { class: ["badge", "state", `state-${known}`] },
    el("span", { class: "state-dot", "aria-hidden": "true" }), String(state || "unknown"));
}

/** Any JSON value as short text (objects and arrays as JSON). */
export function valueText(value) {
  if (value === null || value === undefined) return "—";
  if (typeof value === "string") return value;
  return JSON.stringify(value);
}

export function shortId(id) {
  const text = String(id || "");
  return text.length > 12 ? `${text.slice(0, 6)}…${text.slice(-4)}` : text;
}
