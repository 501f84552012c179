// The approvals inbox: pauses waiting for a human, decided through the planner's resume.
// A pause decided elsewhere meanwhile shows who won instead of being decided twice.

import { ApiError, api } from "./api.js";
import { clear, h, json, when } from "./dom.js";

function summary(decision) {
  if (!decision) return "a decision";
  if (decision.user_input !== null && decision.user_input !== undefined) return `answered ${JSON.stringify(decision.user_input)}`;
  if (decision.edited_args) return "approved with edited arguments";
  if (decision.approve === true) return "approved";
  if (decision.approve === false) return `rejected${decision.reason ? `: ${decision.reason}` : ""}`;
  if (decision.approvals) return Object.entries(decision.approvals).map(([k, v]) => `${k}: ${v === true ? "approved" : `rejected ${v === false ? "" : v}`}`).join(", ");
  return "a decision";
}

function fieldErrors(errors) {
  return (errors || []).map((e) => h("li", {}, e.loc ? `${e.loc}: ${e.msg}` : e.msg));
}

class PauseCard {
  constructor(inbox, pause) {
    this.inbox = inbox;
    this.pause = pause;
    this.outcome = h("div", { class: "outcome", role: "status", "aria-live": "polite" });
    this.token = pause.token_held ? null : h("input", { type: "password", id: `token-${pause.pause_id}`, autocomplete: "off" });
    this.calls = pause.pending_calls.map((call) => this.callView(call));
    this.reason = h("input", { type: "text", id: `reason-${pause.pause_id}`, placeholder: "why (shown to the model)" });
    this.el = h("article", { class: "card pause-card", dataset: { pause: pause.pause_id }, "aria-label": `pause of ${pause.pending_calls.map((c) => c.tool).join(", ")}` },
      h("div", { class: "card-head" }, h("strong", {}, pause.reason), h("span", { class: "muted" }, `run ${pause.run_id.slice(0, 8)} · ${when(pause.created_at)}${pause.expires_at ? ` · expires ${new Date(pause.expires_at).toLocaleString()}` : ""}`)),
      pause.payload && pause.payload.message ? h("p", {}, pause.payload.message) : null,
      this.calls.map((c) => c.el),
      this.token ? h("div", { class: "field" }, h("label", { for: this.token.id }, "Resume token (printed by the process that paused)"), this.token) : null,
      h("div", { class: "actions" },
        h("button", { type: "button", class: "primary", onclick: () => this.decide({ approve: true }) }, "Approve"),
        h("label", { for: this.reason.id, class: "sr-only" }, "Rejection reason"), this.reason,
        h("button", { type: "button", class: "danger", onclick: () => this.decide({ approve: false, reason: this.reason.value || undefined }) }, "Reject")),
      this.outcome);
  }

  callView(call) {
    const id = `${this.pause.pause_id}-${call.call_id}`;
    const errors = h("ul", { class: "field-errors", id: `${id}-errors`, "aria-live": "polite" });
    const view = { call, errors };
    if (call.kind === "input") {
      view.input = h("input", { type: "text", id: `${id}-input` });
      view.el = h("div", { class: "pending-call" },
        h("p", {}, h("strong", {}, call.tool), " asks: ", (call.payload && call.payload.question) || call.reason || "input"),
        h("label", { for: view.input.id }, "Answer"), view.input,
        h("button", { type: "button", onclick: () => this.decide({ user_input: view.input.value }) }, "Send answer"),
        errors);
      return view;
    }
    view.args = h("textarea", { id: `${id}-args`, rows: 4, spellcheck: "false", "aria-describedby": errors.id }, json(call.args));
    const schema = (this.pause.schemas || {})[call.tool];
    view.el = h("div", { class: "pending-call" },
      h("p", {}, h("strong", {}, call.tool), h("span", { class: "muted" }, ` ${call.call_id}`)),
      h("label", { for: view.args.id }, "Arguments (edit, then Approve edited)"), view.args, errors,
      schema ? h("details", {}, h("summary", {}, "schema"), h("pre", {}, json(schema))) : null,
      h("button", { type: "button", onclick: () => this.approveEdited(view) }, "Approve edited"));
    return view;
  }

  async approveEdited(view) {
    clear(view.errors);
    let args;
    try {
      args = JSON.parse(view.args.value);
    } catch (err) {
      view.args.setAttribute("aria-invalid", "true");
      view.errors.append(h("li", {}, `not JSON: ${err.message}`));
      return;
    }
    const checked = await api(`/api/pauses/${this.pause.pause_id}/validate`, { method: "POST", body: { call_id: view.call.call_id, args } });
    if (!checked.ok) {
      view.args.setAttribute("aria-invalid", "true");
      view.errors.append(...fieldErrors(checked.errors));
      return;
    }
    view.args.removeAttribute("aria-invalid");
    await this.decide({ edited_args: { [view.call.call_id]: args } });
  }

  async decide(decision) {
    const body = { ...decision };
    if (this.token) body.token = this.token.value || undefined;
    clear(this.outcome, "deciding…");
    for (const button of this.el.querySelectorAll("button")) button.disabled = true;
    try {
      const record = await api(`/api/pauses/${this.pause.pause_id}/decide`, { method: "POST", body });
      clear(this.outcome, h("p", { class: "won" }, `Done: ${summary(decision)} by you. The run continues.`));
      this.el.classList.add("decided");
      this.inbox.app.chat.follow(record.run_id, record.planner_run_id).catch(() => {});
    } catch (err) {
      for (const button of this.el.querySelectorAll("button")) button.disabled = false;
      this.refused(err);
    }
  }

  refused(err) {
    if (!(err instanceof ApiError)) return clear(this.outcome, h("p", { class: "error" }, err.message));
    const body = err.body;
    if (err.status === 409 && body.winner) {
      const w = body.winner;
      this.el.classList.add("decided");
      for (const button of this.el.querySelectorAll("button")) button.disabled = true;
      return clear(this.outcome, h("p", { class: "lost", role: "alert" },
        `Already decided by ${w.decided_by}: ${summary(w.decision)} (${w.status}). Nothing was done twice.`));
    }
    if (err.status === 422 && body.errors) {
      for (const view of this.calls) {
        const errors = body.errors[view.call.call_id];
        if (errors) { clear(view.errors, ...fieldErrors(errors)); if (view.args) view.args.setAttribute("aria-invalid", "true"); }
      }
    }
    clear(this.outcome, h("p", { class: "error", role: "alert" }, body.detail || err.message));
  }
}

export class Inbox {
  constructor(app) {
    this.app = app;
    this.cards = new Map();
  }

  async refresh() {
    const { pauses } = await api("/api/pauses?status=pending");
    const badge = document.getElementById("approvals-count");
    badge.textContent = pauses.length ? String(pauses.length) : "";
    const inbox = document.getElementById("inbox");
    const ids = new Set(pauses.map((p) => p.pause_id));
    for (const [id, card] of this.cards) {
      if (!ids.has(id) && !card.el.classList.contains("decided")) { card.el.remove(); this.cards.delete(id); }
    }
    for (const pause of pauses) {
      if (!this.cards.has(pause.pause_id)) {
        const card = new PauseCard(this, pause);
        this.cards.set(pause.pause_id, card);
        inbox.append(card.el);
      }
    }
    if (!inbox.children.length) inbox.append(h("p", { class: "muted empty" }, "Nothing waits for you."));
    else for (const empty of inbox.querySelectorAll(".empty")) empty.remove();
    const decided = await api("/api/pauses?status=resolved");
    clear(document.getElementById("decided"), decided.pauses.slice(0, 10).map((p) => h("div", { class: "card decided-card" },
      h("strong", {}, p.pending_calls.map((c) => c.tool).join(", ")), " ",
      h("span", { class: "muted" }, `${summary(p.decision)} · ${when(p.resolved_at)}`))));
  }
}
