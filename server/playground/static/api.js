// Talking to the playground server: the access token, JSON calls and event streams.

const TOKEN_KEY = "penguiflow.playground.token";
const CLIENT_KEY = "penguiflow.playground.client";

export class ApiError extends Error {
  constructor(status, body) {
    super((body && body.detail) || `HTTP ${status}`);
    this.status = status;
    this.body = body || {};
  }
}

// The token comes once in the URL; it moves to this tab's sessionStorage and out of the
// address bar (and so out of the history and of anything copied from it).
export function takeToken() {
  const url = new URL(window.location.href);
  const given = url.searchParams.get("token");
  if (given) {
    sessionStorage.setItem(TOKEN_KEY, given);
    url.searchParams.delete("token");
    history.replaceState(null, "", url.pathname + url.search + url.hash);
  }
  return sessionStorage.getItem(TOKEN_KEY);
}

export function clientLabel() {
  let label = sessionStorage.getItem(CLIENT_KEY);
  if (!label) {
    const bytes = crypto.getRandomValues(new Uint8Array(2));
    label = "tab " + Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
    sessionStorage.setItem(CLIENT_KEY, label);
  }
  return label;
}

function headers() {
  return {
    Authorization: `Bearer ${sessionStorage.getItem(TOKEN_KEY) || ""}`,
    "X-Playground-Client": clientLabel(),
  };
}

export async function api(path, { method = "GET", body } = {}) {
  const init = { method, headers: headers() };
  if (body !== undefined) {
    init.headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  const response = await fetch(path, init);
  const data = await response.json().catch(() => ({}));
  if (!response.ok) throw new ApiError(response.status, data);
  return data;
}

// Server-Sent Events read with fetch, so the token travels in a header, not the URL.
export async function stream(path, onEvent) {
  const response = await fetch(path, { headers: headers() });
  if (!response.ok) throw new ApiError(response.status, await response.json().catch(() => ({})));
  const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = "";
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return;
    buffer += value;
    let cut;
    while ((cut = buffer.indexOf("\n\n")) >= 0) {
      const block = buffer.slice(0, cut);
      buffer = buffer.slice(cut + 2);
      let kind = "message";
      const data = [];
      for (const line of block.split("\n")) {
        if (line.startsWith("event: ")) kind = line.slice(7);
        else if (line.startsWith("data: ")) data.push(line.slice(6));
      }
      if (data.length) onEvent(kind, JSON.parse(data.join("\n")));
    }
  }
}
