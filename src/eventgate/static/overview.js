// The overview above the board: how many events are ongoing now, and a chart of events per
// hour over the last 24 hours by severity, from GET stats/overview (counted by the server).
// The chart is inline SVG built element by element.

import { el, svg, replaceChildren } from "./dom.js";
import { SEVERITIES, hourLabel, severityLabel, absoluteTime } from "./format.js";

// Wide and short: the board's events, not the chart, should fill the screen.
const WIDTH = 960;
const HEIGHT = 104;
const PAD = { top: 8, right: 8, bottom: 24, left: 32 };

function niceMax(value) {
  if (value <= 4) return 4;
  const magnitude = 10 ** Math.floor(Math.log10(value));
  for (const step of [1, 2, 2.5, 5, 10]) {
    if (step * magnitude >= value) return step * magnitude;
  }
  return 10 * magnitude;
}

function chart(hours) {
  const peak = niceMax(Math.max(0, ...hours.map((h) => h.total)));
  const plotWidth = WIDTH - PAD.left - PAD.right;
  const plotHeight = HEIGHT - PAD.top - PAD.bottom;
  const slot = plotWidth / Math.max(1, hours.length);
  const barWidth = Math.max(2, slot * 0.72);
  const y = (count) => PAD.top + plotHeight - (count / peak) * plotHeight;
  const total = hours.reduce((sum, h) => sum + h.total, 0);

  const grid = [];
  for (const fraction of [0, 0.5, 1]) {
    const value = Math.round(peak * fraction);
    grid.push(
      svg("line", { class: "grid", x1: PAD.left, x2: WIDTH - PAD.right, y1: y(value), y2: y(value) }),
      svg("text", { class: "axis", x: PAD.left - 6, y: y(value) + 4, "text-anchor": "end" }, String(value)),
    );
  }
  const bars = hours.map((hour, index) => {
    const x = PAD.left + index * slot + (slot - barWidth) / 2;
    let base = 0;
    const parts = [];
    // Stack the least severe at the bottom so red sits on top where the eye lands.
    for (const severity of [...SEVERITIES].reverse()) {
      const count = hour[severity] || 0;
      if (!count) continue;
      parts.push(svg("rect", {
        class: ["bar", `sev-fill-${severity}`], x, width: barWidth,
        y: y(base + count), height: Math.max(0.5, y(base) - y(base + count)),
      }));
      base += count;
    }
    const words = SEVERITIES.filter((s) => hour[s]).map((s) => `${hour[s]} ${severityLabel(s).toLowerCase()}`);
    const label = `${absoluteTime(hour.start)}: ${hour.total} event${hour.total === 1 ? "" : "s"}` +
      (words.length ? ` (${words.join(", ")})` : "");
    return svg("g", { class: "hour" }, svg("title", null, label),
      svg("rect", { class: "hit", x: PAD.left + index * slot, y: PAD.top, width: slot, height: plotHeight }),
      parts);
  });
  const ticks = hours.map((hour, index) => index % 6 === 0 || index === hours.length - 1
    ? svg("text", { class: "axis", x: PAD.left + index * slot + slot / 2, y: HEIGHT - 4, "text-anchor": "middle" },
      index === hours.length - 1 ? "now" : hourLabel(hour.start))
    : null);

  return svg("svg", {
    class: "chart", viewBox: `0 0 ${WIDTH} ${HEIGHT}`, role: "img",
    "aria-label": `Events per hour over the last 24 hours: ${total} in total`,
    preserveAspectRatio: "none",
  }, grid, bars, ticks);
}

function counter(label, value, extra) {
  return el("div", { class: "counter" },
    el("div", { class: "counter-value" }, String(value)),
    el("div", { class: "counter-label" }, label),
    extra || null);
}

function severityBreakdown(counts) {
  return el("ul", { class: "breakdown" }, SEVERITIES.map((severity) =>
    el("li", { class: `sev-text-${severity}` },
      el("span", { class: ["swatch", `sev-fill-${severity}`], "aria-hidden": "true" }),
      `${counts[severity] || 0} ${severityLabel(severity).toLowerCase()}`)));
}

function legend() {
  return el("ul", { class: "legend", "aria-hidden": "true" }, SEVERITIES.map((severity) =>
    el("li", null, el("span", { class: ["swatch", `sev-fill-${severity}`] }), severityLabel(severity))));
}

export class Overview {
  constructor(api) {
    this.api = api;
    this.root = el("section", { class: "overview card", "aria-label": "Overview" },
      el("p", { class: "muted" }, "Loading the overview…"));
    this.timer = null;
    this.pending = null;
    this.lastLoad = 0;
  }

  async load() {
    this.lastLoad = Date.now();
    try {
      const reply = await this.api.get("stats/overview");
      this.render(reply.data);
    } catch (error) {
      replaceChildren(this.root, el("p", { class: "error" }, `The overview is unavailable: ${error.message}`));
    }
  }

  render(data) {
    this.root.dataset.ongoing = String(data.ongoing.total);
    replaceChildren(this.root,
      el("div", { class: "counters" },
        counter("ongoing now", data.ongoing.total, severityBreakdown(data.ongoing)),
        counter("events in the last 24\u00a0h", data.last_24h.total, severityBreakdown(data.last_24h))),
      el("figure", { class: "chart-box" },
        chart(data.hours),
        el("figcaption", null, el("span", null, "Events per hour, last 24 hours"), legend())));
  }

  /** Reload soon after live activity, at most every few seconds. */
  nudge() {
    if (this.pending) return;
    const wait = Math.max(0, 3000 - (Date.now() - this.lastLoad));
    this.pending = setTimeout(() => {
      this.pending = null;
      this.load();
    }, wait);
  }

  start() {
    this.load();
    this.timer = setInterval(() => this.load(), 60000);
  }

  stop() {
    clearInterval(this.timer);
    clearTimeout(this.pending);
  }
}
