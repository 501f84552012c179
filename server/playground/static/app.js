// The playground page: the token, the tabs, the session picker, and the views.

import { ApiError, api, clientLabel, takeToken } from "./api.js";
import { Inbox } from "./approvals.js";
import { Chat } from "./chat.js";
import { clear, h } from "./dom.js";
import { drawFlow } from "./graph.js";
import { Runs } from "./runs.js";
import { drawTools } from "./tools.js";

const SESSION_KEY = "penguiflow.playground.session";
const TABS = ["chat", "approvals", "runs", "tools", "flow"];

function newSessionId() {
  const stamp = new Date().toISOString().slice(0, 16).replace(/[-:T]/g, "");
  return `pg-${stamp}-${Math.random().toString(16).slice(2, 6)}`;
}

class App {
  constructor() {
    this.session = localStorage.getItem(SESSION_KEY) || newSessionId();
    localStorage.setItem(SESSION_KEY, this.session);
    this.chat = new Chat(this);
    this.inbox = new Inbox(this);
    this.runs = new Runs(this);
    this.setupTabs();
    document.getElementById("session").addEventListener("change", (e) => this.useSession(e.target.value));
    document.getElementById("new-session").addEventListener("click", () => this.useSession(newSessionId(), true));
  }

  setStatus(text) {
    document.getElementById("status").textContent = text;
  }

  setupTabs() {
    const buttons = TABS.map((name) => document.getElementById(`tab-${name}`));
    buttons.forEach((button, index) => {
      button.addEventListener("click", () => this.show(TABS[index]));
      button.addEventListener("keydown", (e) => {
        const step = e.key === "ArrowRight" ? 1 : e.key === "ArrowLeft" ? -1 : 0;
        if (!step) return;
        const next = buttons[(index + step + buttons.length) % buttons.length];
        next.focus();
        next.click();
      });
    });
  }

  show(name) {
    for (const tab of TABS) {
      const selected = tab === name;
      const button = document.getElementById(`tab-${tab}`);
      button.setAttribute("aria-selected", String(selected));
      button.tabIndex = selected ? 0 : -1;
      document.getElementById(`view-${tab}`).hidden = !selected;
    }
    const refresh = { approvals: () => this.inbox.refresh(), runs: () => this.runs.refresh(), tools: drawTools, flow: drawFlow }[name];
    if (refresh) refresh().catch((err) => this.fail(err));
  }

  async sessionsChanged() {
    const { sessions } = await api("/api/sessions");
    const ids = sessions.map((s) => s.session_id);
    if (!ids.includes(this.session)) ids.unshift(this.session);
    clear(document.getElementById("session"), ids.map((id) => h("option", { value: id }, id)));
    document.getElementById("session").value = this.session;
    this.runs.sessions(sessions);
  }

  async useSession(id, fresh = false) {
    this.session = id;
    localStorage.setItem(SESSION_KEY, id);
    if (fresh) await this.sessionsChanged();
    await this.chat.load(id);
  }

  approvalsChanged() {
    this.inbox.refresh().catch((err) => this.fail(err));
  }

  fail(err) {
    if (err instanceof ApiError && (err.status === 401 || err.status === 403)) {
      document.getElementById("auth-missing").hidden = false;
      this.setStatus("not connected");
      return;
    }
    this.setStatus(`error: ${err.message}`);
  }

  async start() {
    const info = await api("/api/info");
    document.getElementById("agent-name").textContent = info.name;
    document.getElementById("agent-model").textContent = `${info.model} · ${info.tools} tools`;
    document.getElementById("whoami").textContent = `you are ${clientLabel()}`;
    await this.sessionsChanged();
    await this.chat.load(this.session);
    await this.inbox.refresh();
    this.setStatus("connected");
    setInterval(() => this.inbox.refresh().catch(() => {}), 4000);
    document.body.dataset.ready = "true";
  }
}

const token = takeToken();
const app = new App();
if (!token) {
  document.getElementById("auth-missing").hidden = false;
  app.setStatus("not connected");
} else {
  app.start().catch((err) => app.fail(err));
}
