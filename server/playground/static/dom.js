// Small DOM helpers: elements are built with text nodes only (never innerHTML).

const SVG_NS = "http://www.w3.org/2000/svg";

function apply(el, props) {
  for (const [key, value] of Object.entries(props || {})) {
    if (value === undefined || value === null || value === false) continue;
    if (key === "class") el.setAttribute("class", value);
    else if (key === "text") el.textContent = value;
    else if (key.startsWith("on")) el.addEventListener(key.slice(2), value);
    else if (key === "dataset") Object.assign(el.dataset, value);
    else el.setAttribute(key, value === true ? "" : String(value));
  }
}

function append(el, children) {
  for (const child of children.flat()) {
    if (child === undefined || child === null || child === false) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return el;
}

export function h(tag, props, ...children) {
  const el = document.createElement(tag);
  apply(el, props);
  return append(el, children);
}

export function svg(tag, props, ...children) {
  const el = document.createElementNS(SVG_NS, tag);
  apply(el, props);
  return append(el, children);
}

export function clear(el, ...children) {
  el.replaceChildren();
  return append(el, children);
}

export function json(value) {
  if (value === undefined) return "";
  return JSON.stringify(value, null, 2);
}

export function ms(value) {
  if (typeof value !== "number") return "";
  return value < 1000 ? `${value.toFixed(value < 10 ? 1 : 0)} ms` : `${(value / 1000).toFixed(2)} s`;
}

export function usd(value) {
  return typeof value === "number" && value > 0 ? `$${value.toFixed(4)}` : "";
}

export function when(value) {
  if (!value) return "";
  const date = new Date(typeof value === "number" ? value * 1000 : value);
  return date.toLocaleTimeString();
}

export function pill(status) {
  return h("span", { class: `pill pill-${status}` }, status);
}
