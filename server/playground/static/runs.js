// Runs from the store, filtered by status and session, and any run's trajectory.

import { api } from "./api.js";
import { clear, h, pill, usd, when } from "./dom.js";
import { drawStep, drawTimeline } from "./timeline.js";

export class Runs {
  constructor(app) {
    this.app = app;
    document.getElementById("run-filters").addEventListener("submit", (e) => { e.preventDefault(); this.refresh(); });
    for (const id of ["filter-status", "filter-session"]) {
      document.getElementById(id).addEventListener("change", () => this.refresh());
    }
  }

  sessions(list) {
    const select = document.getElementById("filter-session");
    const chosen = select.value;
    clear(select, h("option", { value: "" }, "any"), list.map((s) => h("option", { value: s.session_id }, s.session_id)));
    select.value = chosen;
  }

  async refresh() {
    const status = document.getElementById("filter-status").value;
    const session = document.getElementById("filter-session").value;
    const params = new URLSearchParams({ limit: "100" });
    if (status) params.set("status", status);
    if (session) params.set("session_id", session);
    const { runs } = await api(`/api/runs?${params}`);
    const body = document.querySelector("#runs-table tbody");
    clear(body, runs.map((run) => h("tr", {
      tabindex: 0, dataset: { run: run.run_id }, "aria-label": `run: ${run.query}`,
      onclick: () => this.open(run.run_id),
      onkeydown: (e) => { if (e.key === "Enter") this.open(run.run_id); },
    },
    h("td", {}, pill(run.status)), h("td", { class: "query" }, run.query || ""), h("td", {}, run.session_id || ""),
    h("td", {}, String(run.steps)), h("td", {}, String(run.total_tokens || "")), h("td", {}, usd(run.cost_usd)),
    h("td", {}, when(run.updated_at)))));
    if (!runs.length) body.append(h("tr", {}, h("td", { colspan: 7, class: "muted" }, "No runs match.")));
  }

  async open(runId) {
    const detail = await api(`/api/runs/${runId}`);
    const box = document.getElementById("run-detail");
    const result = detail.result || {};
    const timeline = h("div", { class: "timeline" });
    const stepBox = h("div", { class: "step-detail" });
    clear(box,
      h("h3", {}, detail.run.query || runId),
      h("p", {}, pill(detail.run.status), " ", h("span", { class: "muted" }, `${detail.run.session_id || "no session"} · ${runId}`)),
      result.answer ? h("p", { class: "answer" }, result.answer) : null,
      result.type === "error" ? h("p", { class: "error" }, result.error.message) : null,
      timeline, stepBox);
    drawTimeline(timeline, detail, (step) => drawStep(stepBox, step, detail));
  }
}
