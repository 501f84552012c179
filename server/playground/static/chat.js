// The chat: questions, streamed answers, a live card per tool call, and the trajectory
// of the current run beside it.

import { api, stream } from "./api.js";
import { clear, h, json, ms } from "./dom.js";
import { drawStep, drawTimeline } from "./timeline.js";

const list = () => document.getElementById("messages");

function scrollDown() {
  const el = list();
  el.scrollTop = el.scrollHeight;
}

function retries(error) {
  const found = /after (\d+) attempt/.exec(error || "");
  return found && Number(found[1]) > 1 ? `${found[1]} attempts` : "";
}

// One assistant bubble: its step groups of tool cards, and its answer.
class Reply {
  constructor(runId) {
    this.runId = runId;
    this.cards = new Map();
    this.approved = new Map();
    this.groups = new Map();
    this.tools = h("div", { class: "tool-groups" });
    this.answer = h("div", { class: "answer" });
    this.note = h("div", { class: "run-note", role: "status" });
    this.el = h("li", { class: "msg msg-agent", dataset: { run: runId } }, this.tools, this.answer, this.note);
    list().append(this.el);
  }

  group(step) {
    let group = this.groups.get(step);
    if (!group) {
      group = h("div", { class: "step-group", dataset: { step: String(step) } }, h("span", { class: "step-tag" }, `step ${step}`));
      this.groups.set(step, group);
      this.tools.append(group);
    }
    return group;
  }

  card(id, tool, step, args) {
    let card = this.cards.get(id);
    if (!card) {
      const status = h("span", { class: "card-status" }, "running");
      const result = h("div", { class: "card-result" });
      card = { status, result, el: h("div", { class: "card tool-card status-running", dataset: { tool } },
        h("div", { class: "card-head" }, h("strong", {}, tool), status),
        args === undefined || args === null ? null : h("pre", { class: "card-args", "aria-label": `arguments of ${tool}` }, json(args)),
        result) };
      this.cards.set(id, card);
      const group = this.group(step);
      group.append(card.el);
      group.classList.toggle("parallel", group.querySelectorAll(".tool-card").length > 1);
    }
    return card;
  }

  settle(card, status, detail, result, latency) {
    card.el.className = `card tool-card status-${status}`;
    card.status.textContent = [status, ms(latency), retries(detail)].filter(Boolean).join(" · ");
    clear(card.result,
      detail ? h("p", { class: "error" }, detail) : null,
      result !== undefined && result !== null ? h("pre", { class: "card-out" }, json(result)) : null);
  }

  event(kind, data) {
    const extra = data.extra || {};
    if (kind === "tool_call_start") this.started(data, extra);
    else if (kind === "tool_call_result") this.settle(this.card(data.trace_id, data.node_name, data.step), "ok", null, extra.result, data.latency_ms);
    else if (kind === "tool_call_error") {
      const id = data.trace_id || extra.call_id || `${data.node_name}-${data.step}-${this.cards.size}`;
      const status = extra.code === "rejected_by_reviewer" ? "rejected" : "error";
      this.settle(this.card(id, data.node_name, data.step), status, data.error, null, data.latency_ms);
    } else if (kind === "stream_chunk" && extra.source === "llm") this.answer.append(data.text || "");
    else if (kind === "repair_attempt") this.group(data.step).append(h("span", { class: "repair" }, `repair (${extra.stage})`));
    else if (kind === "pause") this.paused(data.step, extra);
    else if (kind === "resume") this.resumed(extra);
    scrollDown();
  }

  // An approved call runs under a new id: its pending card becomes the running card.
  started(data, extra) {
    const waiting = this.approved.get(data.node_name);
    if (waiting) {
      this.approved.delete(data.node_name);
      this.cards.set(data.trace_id, waiting);
      waiting.el.className = "card tool-card status-running";
      waiting.status.textContent = "running";
      return;
    }
    this.card(data.trace_id, data.node_name, data.step, extra.args);
  }

  resumed(extra) {
    this.note.textContent = "resumed";
    for (const [callId, verdict] of Object.entries(extra.decisions || {})) {
      const card = this.cards.get(callId);
      if (!card) continue;
      if (verdict.startsWith("approved")) {
        this.approved.set(card.el.dataset.tool, card);
        card.status.textContent = verdict.replace("_", " ");
      } else if (verdict === "rejected") this.settle(card, "rejected", "rejected by the reviewer", null);
      else this.settle(card, "input", null, null);
    }
  }

  paused(step, extra) {
    for (const call of extra.calls || []) {
      const card = this.card(call.call_id, call.tool, step);
      this.settle(card, "pending", null, null);
    }
    clear(this.note, h("span", {}, `Paused (${extra.reason}): decide in `),
      h("button", { type: "button", class: "link", onclick: () => document.getElementById("tab-approvals").click() }, "Approvals"));
  }

  ended(record) {
    this.el.dataset.status = record.status;
    const result = record.result || {};
    if (record.status === "finished" && !this.answer.textContent) this.answer.textContent = result.answer || "";
    if (record.status === "failed") this.note.textContent = `failed: ${(record.error || {}).message || ""}`;
    else if (record.status === "cancelled") this.note.textContent = "cancelled";
    else if (record.status === "finished") this.note.textContent = result.partial ? `incomplete (${result.reason})` : "";
  }
}

export class Chat {
  constructor(app) {
    this.app = app;
    this.replies = new Map();
    this.current = null;
    this.pendingDraw = null;
    const form = document.getElementById("composer");
    const input = document.getElementById("question");
    form.addEventListener("submit", (e) => { e.preventDefault(); this.send(); });
    input.addEventListener("keydown", (e) => {
      if (e.key === "Enter" && !e.shiftKey && !e.isComposing) { e.preventDefault(); this.send(); }
    });
  }

  async send() {
    const input = document.getElementById("question");
    const query = input.value.trim();
    if (!query) return;
    input.value = "";
    list().append(h("li", { class: "msg msg-user" }, query));
    scrollDown();
    try {
      const record = await api("/api/runs", { method: "POST", body: { query, session_id: this.app.session } });
      const reply = new Reply(record.planner_run_id);
      this.replies.set(record.planner_run_id, reply);
      await this.follow(record.run_id, record.planner_run_id);
      this.app.sessionsChanged();
    } catch (err) {
      list().append(h("li", { class: "msg msg-error", role: "alert" }, err.message));
    }
  }

  // Stream a live run (or a resume of one) into its bubble and redraw its trajectory.
  async follow(handleId, runId) {
    this.current = runId;
    const reply = this.replies.get(runId);
    await stream(`/api/runs/${handleId}/events`, (kind, data) => {
      if (kind === "end") {
        if (reply) reply.ended(data);
        this.redraw(runId);
        this.app.approvalsChanged();
        return;
      }
      if (reply) reply.event(kind, data);
      if (["step_start", "tool_call_result", "tool_call_error", "pause", "finish"].includes(kind)) this.redraw(runId);
    });
  }

  redraw(runId) {
    clearTimeout(this.pendingDraw);
    this.pendingDraw = setTimeout(() => this.drawRun(runId), 120);
  }

  async drawRun(runId) {
    if (runId !== this.current) return;
    const detail = await api(`/api/runs/${runId}`);
    const box = document.getElementById("chat-timeline");
    box.dataset.run = runId;
    drawTimeline(box, detail, (step) => drawStep(document.getElementById("chat-step"), step, detail));
  }

  // The session's earlier runs, oldest first, from the store.
  async load(session) {
    clear(list());
    clear(document.getElementById("chat-step"));
    this.replies.clear();
    if (!session) return;
    const { runs } = await api(`/api/runs?session_id=${encodeURIComponent(session)}&limit=50`);
    const details = await Promise.all(runs.reverse().map((r) => api(`/api/runs/${r.run_id}`)));
    for (const detail of details) {
      list().append(h("li", { class: "msg msg-user" }, detail.run.query || ""));
      const reply = new Reply(detail.run.run_id);
      this.replies.set(detail.run.run_id, reply);
      for (const step of detail.trajectory.steps) {
        for (const tool of step.tools) {
          const card = reply.card(tool.id || `${tool.tool}-${step.step}`, tool.tool, step.step, tool.args);
          reply.settle(card, tool.status, tool.error, tool.result, tool.latency_ms);
        }
      }
      const result = detail.result || {};
      reply.el.dataset.status = detail.run.status;
      if (detail.run.status === "running") this.follow(detail.run.run_id, detail.run.run_id).catch(() => {});
      else if (result.type === "finish") reply.answer.textContent = result.answer || "";
      else if (detail.run.status === "paused") reply.note.textContent = "Paused: waiting for a decision in Approvals";
      else if (result.type === "error") reply.note.textContent = `failed: ${result.error.message}`;
    }
    scrollDown();
    const last = details[details.length - 1];
    if (last) {
      this.current = last.run.run_id;
      this.drawRun(last.run.run_id);
    } else {
      clear(document.getElementById("chat-timeline"), h("p", { class: "muted" }, "Ask something: each step of the run appears here."));
    }
  }
}
