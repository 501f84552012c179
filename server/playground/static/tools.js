// The tool catalog: schemas, where each tool comes from, allowlist and approval rules.

import { api } from "./api.js";
import { clear, h, json } from "./dom.js";

function access(tool) {
  if (!tool.access) return null;
  const a = tool.access;
  return h("dl", { class: "access" },
    h("dt", {}, "allow"), h("dd", {}, a.allow.join(", ") || "(nothing)"),
    a.deny.length ? [h("dt", {}, "deny"), h("dd", {}, a.deny.join(", "))] : null,
    a.require_approval.length ? [h("dt", {}, "approval for"), h("dd", {}, a.require_approval.join(", "))] : null);
}

export async function drawTools() {
  const { tools } = await api("/api/tools");
  clear(document.getElementById("tools"), tools.map((tool) => h("article", { class: "card tool-entry", "aria-label": `tool ${tool.name}` },
    h("div", { class: "card-head" }, h("strong", {}, tool.name), h("span", { class: `origin origin-${tool.origin.kind}` }, tool.origin.kind)),
    h("p", {}, tool.desc),
    h("p", { class: "muted" }, `from ${tool.origin.source || tool.origin.server || "?"} · ${tool.side_effects}`,
      tool.policy.timeout_s ? ` · timeout ${tool.policy.timeout_s} s` : "", tool.policy.max_retries ? ` · ${tool.policy.max_retries} retries` : ""),
    h("p", { class: `approval approval-${tool.approval.rule}` }, tool.approval.label),
    tool.definition_changed ? h("p", { class: "error" }, "its definition changed since it was first seen") : null,
    access(tool),
    h("details", {}, h("summary", {}, "arguments schema"), h("pre", {}, json(tool.args_schema))),
    h("details", {}, h("summary", {}, "result schema"), h("pre", {}, json(tool.out_schema))))));
}
