// The runtime flow graph as SVG: planner -> OpenSea -> tool nodes -> Rookery -> planner.

import { api } from "./api.js";
import { clear, svg } from "./dom.js";

const NODE_W = 170;
const NODE_H = 34;

export async function drawFlow() {
  const graph = await api("/api/flow");
  const tools = graph.nodes.filter((n) => n.kind === "tool");
  const height = Math.max(tools.length * (NODE_H + 18) + 40, 160);
  const columns = { planner: 20, ingress: 230, tool: 420, egress: 640 };
  const place = new Map();
  for (const node of graph.nodes) {
    const y = node.kind === "tool" ? 20 + tools.indexOf(node) * (NODE_H + 18) : height / 2 - NODE_H / 2;
    place.set(node.id, { x: columns[node.kind], y, node });
  }
  const shapes = [];
  for (const edge of graph.edges) {
    const a = place.get(edge.from);
    const b = place.get(edge.to);
    if (!a || !b) continue;
    const back = b.x < a.x;
    const d = back
      ? `M${a.x + NODE_W / 2},${a.y + NODE_H} C${a.x + NODE_W / 2},${height + 30} ${b.x + NODE_W / 2},${height + 30} ${b.x + NODE_W / 2},${b.y + NODE_H}`
      : `M${a.x + NODE_W},${a.y + NODE_H / 2} C${a.x + NODE_W + 40},${a.y + NODE_H / 2} ${b.x - 40},${b.y + NODE_H / 2} ${b.x},${b.y + NODE_H / 2}`;
    shapes.push(svg("path", { d, class: "edge", "marker-end": "url(#arrow)" }, svg("title", {}, `${edge.from} → ${edge.to}`)));
  }
  for (const { x, y, node } of place.values()) {
    const policy = node.policy || {};
    const hint = [policy.timeout_s ? `timeout ${policy.timeout_s}s` : "", policy.max_retries ? `${policy.max_retries} retries` : ""].filter(Boolean).join(", ");
    shapes.push(svg("g", { class: `node node-${node.kind}`, tabindex: 0, "aria-label": `${node.kind} ${node.label}${hint ? `, ${hint}` : ""}` },
      svg("rect", { x, y, width: NODE_W, height: NODE_H, rx: node.kind === "tool" ? 4 : 17 }),
      svg("text", { x: x + NODE_W / 2, y: y + NODE_H / 2 + 4, "text-anchor": "middle" }, node.label),
      svg("title", {}, hint || node.label)));
  }
  const defs = svg("defs", {}, svg("marker", { id: "arrow", viewBox: "0 0 10 10", refX: 9, refY: 5, markerWidth: 7, markerHeight: 7, orient: "auto-start-reverse" },
    svg("path", { d: "M0,0 L10,5 L0,10 z", class: "arrow" })));
  clear(document.getElementById("flow"), svg("svg", { class: "flow-graph", viewBox: `0 0 830 ${height + 50}`, role: "img", "aria-label": "Runtime flow graph" }, defs, ...shapes));
  document.getElementById("mermaid").textContent = graph.mermaid || "";
}
