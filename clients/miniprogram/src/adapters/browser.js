// Browsers (and H5 pages inside the channels' web views): fetch and WebSocket.
//
//   createClient({ url: location.origin + "/graphql", transport: browser(), channel: "ALIPAY" })
import { TransportError } from "../errors.js";

export function browser({ fetch = globalThis.fetch, WebSocket = globalThis.WebSocket, storage } = {}) {
  return {
    async request({ url, method, headers, body, timeoutMs }) {
      const controller = new AbortController();
      let timedOut = false;
      const timer = setTimeout(() => {
        timedOut = true;
        controller.abort();
      }, timeoutMs);
      try {
        const res = await fetch(url, { method, headers, body, signal: controller.signal, credentials: "omit" });
        const text = await res.text();
        return { status: res.status, headers: Object.fromEntries(res.headers.entries()), body: text };
      } catch (err) {
        throw new TransportError(timedOut ? "timeout" : "network", String((err && err.message) || err));
      } finally {
        clearTimeout(timer);
      }
    },

    connect(url, protocols) {
      const ws = new WebSocket(url, protocols);
      ws.binaryType = "arraybuffer";
      return {
        send: (data) => ws.send(data),
        close: (code, reason) => ws.close(code, reason),
        onOpen: (fn) => ws.addEventListener("open", () => fn()),
        onMessage: (fn) => ws.addEventListener("message", (e) => fn(e.data)),
        onClose: (fn) => ws.addEventListener("close", (e) => fn({ code: e.code, reason: e.reason })),
        onError: (fn) => ws.addEventListener("error", (e) => fn(e)),
      };
    },

    storage: storage || webStorage(),
  };
}

function webStorage() {
  try {
    const s = globalThis.sessionStorage;
    if (s) {
      return { get: (k) => s.getItem(k), set: (k, v) => s.setItem(k, v), remove: (k) => s.removeItem(k) };
    }
  } catch {
    // Storage refused (privacy mode): keep the session in memory.
  }
  return undefined;
}
