// Building the page from data without ever parsing data as markup.
//
// Every string child becomes a text node; attributes go through setAttribute with a
// fixed rule for URLs. No script of the dashboard uses any API that parses a string as
// markup (tests/test_dashboard_page.py greps the sources for them).

const SVG_NS = "http://www.w3.org/2000/svg";
const URL_ATTRIBUTES = new Set(["href", "src", "action", "formaction", "xlink:href"]);

/** An http(s) URL as a string, or null: the only URLs taken from event data. */
export function httpUrl(value) {
  if (typeof value !== "string" || value.length > 4096) return null;
  let url;
  try {
    url = new URL(value);
  } catch {
    return null;
  }
  return url.protocol === "http:" || url.protocol === "https:" ? url.href : null;
}

/** Links inside the dashboard: "#/…" fragments only. */
function isInternalLink(value) {
  return typeof value === "string" && value.startsWith("#");
}

function safeUrlAttribute(value) {
  if (isInternalLink(value)) return value;
  return httpUrl(value);
}

function applyProps(node, props) {
  for (const [name, value] of Object.entries(props || {})) {
    if (value === undefined || value === null || value === false) continue;
    if (name === "class") node.setAttribute("class", Array.isArray(value) ? value.filter(Boolean).join(" ") : value);
    else if (name === "text") node.textContent = String(value);
    else if (name === "on") for (const [type, handler] of Object.entries(value)) node.addEventListener(type, handler);
    else if (name === "dataset") Object.assign(node.dataset, value);
    else if (name === "value") {
      node.value = value;
      if ("defaultValue" in node) node.defaultValue = value; // what form.reset() returns to
    } else if (name === "checked") {
      node.checked = node.defaultChecked = value;
    } else if (name === "selected") {
      node.selected = node.defaultSelected = value;
    } else if (name === "disabled") node.disabled = value;
    else if (name.startsWith("on")) throw new Error(`event handlers go in props.on, not ${name}`);
    else if (name === "style") throw new Error("use classes, not inline styles (the page's CSP forbids them)");
    else if (URL_ATTRIBUTES.has(name)) {
      const url = safeUrlAttribute(String(value));
      if (url !== null) node.setAttribute(name, url);
    } else node.setAttribute(name, value === true ? "" : String(value));
  }
}

function appendChildren(node, children) {
  for (const child of children.flat(Infinity)) {
    if (child === undefined || child === null || child === false) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
}

/** el("a", {href: "#/", class: "x"}, "text", otherNode) */
export function el(tag, props, ...children) {
  const node = document.createElement(tag);
  applyProps(node, props);
  appendChildren(node, children);
  return node;
}

/** The same for SVG elements (the chart). */
export function svg(tag, props, ...children) {
  const node = document.createElementNS(SVG_NS, tag);
  applyProps(node, props);
  appendChildren(node, children);
  return node;
}

export function clear(node) {
  while (node.firstChild) node.firstChild.remove();
  return node;
}

export function replaceChildren(node, ...children) {
  clear(node);
  appendChildren(node, children);
  return node;
}
