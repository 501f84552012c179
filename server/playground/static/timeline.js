// The trajectory of a run, drawn: one row per step on a time axis; the model call and
// each tool call are bars, parallel calls stacked; repairs, pauses and the end marked.
// Long idle stretches (a pause waiting for a human) are folded into a short break.

import { clear, h, json, ms, svg, usd } from "./dom.js";

const LABEL_W = 150;
const LANE_H = 16;
const ROW_PAD = 8;
const BREAK_W = 34;
const MAX_GAP_S = 1.0;

function intervals(steps) {
  const times = [];
  for (const step of steps) {
    times.push(step.start, step.end);
    for (const bar of [...step.llm, ...step.tools]) {
      times.push(bar.start);
      if (bar.end) times.push(bar.end);
    }
    for (const mark of step.marks) times.push(mark.ts);
  }
  return [...new Set(times.filter((t) => typeof t === "number"))].sort((a, b) => a - b);
}

// A piecewise-linear time scale that folds gaps longer than MAX_GAP_S.
function scale(times, width) {
  const gaps = [];
  let busy = 0;
  for (let i = 1; i < times.length; i++) {
    const d = times[i] - times[i - 1];
    if (d > MAX_GAP_S) gaps.push(i);
    else busy += d;
  }
  const room = Math.max(width - LABEL_W - 10 - gaps.length * BREAK_W, 60);
  const perSecond = room / Math.max(busy, 0.001);
  const xs = [LABEL_W];
  const breaks = [];
  for (let i = 1; i < times.length; i++) {
    const d = times[i] - times[i - 1];
    const w = d > MAX_GAP_S ? BREAK_W : d * perSecond;
    if (d > MAX_GAP_S) breaks.push({ x: xs[i - 1] + w / 2, seconds: d });
    xs.push(xs[i - 1] + w);
  }
  const x = (t) => {
    if (!times.length || typeof t !== "number") return LABEL_W;
    let lo = 0;
    let hi = times.length - 1;
    if (t <= times[0]) return xs[0];
    if (t >= times[hi]) return xs[hi];
    while (hi - lo > 1) {
      const mid = (lo + hi) >> 1;
      if (times[mid] <= t) lo = mid;
      else hi = mid;
    }
    const f = (t - times[lo]) / (times[hi] - times[lo] || 1);
    return xs[lo] + f * (xs[hi] - xs[lo]);
  };
  return { x, breaks };
}

function stepLabel(step) {
  const parts = [`step ${step.step}`];
  if (step.tokens) parts.push(`${step.tokens} tok`);
  if (usd(step.cost_usd)) parts.push(usd(step.cost_usd));
  return parts.join(" · ");
}

function describe(step) {
  const tools = step.tools.map((t) => `${t.tool} ${t.status}`).join(", ") || "no tool";
  return `Step ${step.step}: ${tools}; ${step.tokens} tokens`;
}

function bar(x, y, start, end, cls, title) {
  const x0 = x(start);
  const x1 = Math.max(x(end ?? start), x0 + 3);
  return svg("rect", { x: x0, y, width: x1 - x0, height: LANE_H - 4, rx: 3, class: cls },
    svg("title", {}, title));
}

export function drawTimeline(container, detail, onSelect) {
  const trajectory = detail.trajectory;
  const steps = trajectory.steps || [];
  if (!steps.length) {
    clear(container, h("p", { class: "muted" }, "No steps yet."));
    return;
  }
  const width = Math.max(container.clientWidth || 600, 360);
  const { x, breaks } = scale(intervals(steps), width);
  let y = 4;
  const rows = [];
  for (const step of steps) {
    const lanes = 1 + Math.max(step.tools.length, 1);
    const height = lanes * LANE_H + ROW_PAD;
    const g = svg("g", {
      class: "tl-row", tabindex: 0, role: "button", "aria-label": describe(step),
      dataset: { step: String(step.step) },
      onclick: () => onSelect(step),
      onkeydown: (e) => { if (e.key === "Enter" || e.key === " ") { e.preventDefault(); onSelect(step); } },
    });
    g.append(svg("rect", { x: 0, y: y - 2, width, height, class: "tl-hit" }));
    g.append(svg("text", { x: 6, y: y + 12, class: "tl-label" }, stepLabel(step)));
    for (const call of step.llm) {
      g.append(bar(x, y, call.start, call.end, "tl-llm", `model ${ms(call.latency_ms)} · ${call.tokens} tokens`));
    }
    step.tools.forEach((tool, i) => {
      const title = `${tool.tool} ${tool.status} ${ms(tool.latency_ms)}`;
      g.append(bar(x, y + (i + 1) * LANE_H, tool.start, tool.end, `tl-tool tl-${tool.status}`, title));
      g.append(svg("text", { x: x(tool.start) + 4, y: y + (i + 1) * LANE_H + 10, class: "tl-bar-label" }, tool.tool || ""));
    });
    for (const mark of step.marks) {
      const mx = x(mark.ts);
      g.append(svg("path", { d: `M${mx - 5},${y} L${mx + 5},${y} L${mx},${y + 8} Z`, class: `tl-mark tl-mark-${mark.kind}` },
        svg("title", {}, mark.label)));
    }
    rows.push(g);
    y += height;
  }
  const axis = svg("g", { class: "tl-axis" });
  for (const b of breaks) {
    axis.append(svg("line", { x1: b.x, x2: b.x, y1: 0, y2: y, class: "tl-break" }));
    axis.append(svg("text", { x: b.x + 2, y: y + 12, class: "tl-break-label" }, `⋯ ${b.seconds.toFixed(1)} s`));
  }
  const total = (trajectory.t1 - trajectory.t0) * 1000;
  axis.append(svg("text", { x: LABEL_W, y: y + 12, class: "tl-tick" }, "0"));
  axis.append(svg("text", { x: width - 80, y: y + 12, class: "tl-tick" }, `total ${ms(total)}`));
  const note = trajectory.recorded ? null
    : h("p", { class: "muted" }, "Run served by another process: steps are laid end to end from their durations.");
  clear(container,
    svg("svg", { class: "tl", width, height: y + 18, role: "group", "aria-label": "Trajectory timeline" }, ...rows, axis),
    note);
}

function messages(list) {
  return h("ol", { class: "exchange-messages" },
    (list || []).map((m) => h("li", {},
      h("span", { class: `role role-${m.role}` }, m.role),
      h("pre", {}, typeof m.content === "string" ? m.content : json(m.content)))));
}

export function drawStep(container, step, detail) {
  const exchanges = (step.exchanges || []).map((i) => detail.exchanges[i]).filter(Boolean);
  clear(container,
    h("h3", {}, `Step ${step.step}`),
    h("p", { class: "muted" }, [step.tokens ? `${step.tokens} tokens` : "", usd(step.cost_usd)].filter(Boolean).join(" · ")),
    step.tools.map((tool) => h("div", { class: `card tool-card status-${tool.status}` },
      h("div", { class: "card-head" }, h("strong", {}, tool.tool || "?"), h("span", { class: "muted" }, `${tool.status} ${ms(tool.latency_ms)}`)),
      tool.args !== undefined && tool.args !== null ? h("pre", {}, json(tool.args)) : null,
      tool.error ? h("p", { class: "error" }, tool.error) : null,
      tool.result !== undefined && tool.result !== null ? h("details", {}, h("summary", {}, "result"), h("pre", {}, json(tool.result))) : null)),
    step.marks.map((mark) => h("p", { class: `mark mark-${mark.kind}` }, mark.label)),
    exchanges.map((ex, i) => h("details", { class: "exchange", open: i === exchanges.length - 1 },
      h("summary", {}, `Model request ${i + 1} (${ms(ex.latency_ms)}${ex.usage && ex.usage.total_tokens ? `, ${ex.usage.total_tokens} tokens` : ""})`),
      messages(ex.messages),
      h("h4", {}, "Reply"),
      h("pre", { class: "reply" }, ex.reply ?? ex.error ?? ""),
      ex.tool_calls && ex.tool_calls.length ? h("pre", {}, json(ex.tool_calls)) : null)),
    exchanges.length ? null : h("p", { class: "muted" }, "No model request was recorded for this step."));
}
