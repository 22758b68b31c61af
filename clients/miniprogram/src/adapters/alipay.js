// Alipay: my.request (with the JSON content type: its default is a form body, which
// cardcash refuses with 415), my.connectSocket, my.getAuthCode and the sync storage API.
//
//   createClient({ url, transport: alipay(my), channel: "ALIPAY" })
//
// my.request reports a non-2xx answer through `fail` with error 19 and, in current base
// libraries, the status and body: those are answers, handed to the client like any other.
import { TransportError } from "../errors.js";
import { base64Buffer } from "../utf8.js";

const TIMEOUT = 13;

export function alipay(my) {
  return {
    request({ url, method, headers, body, timeoutMs }) {
      return new Promise((resolve, reject) => {
        my.request({
          url,
          method,
          headers: { ...headers, "content-type": "application/json" },
          data: body,
          dataType: "text",
          timeout: timeoutMs,
          success: (res) => resolve({ status: res.status, headers: res.headers || {}, body: res.data }),
          fail: (err) => {
            if (err && typeof err.status === "number" && err.status > 0 && err.data !== undefined) {
              resolve({ status: err.status, headers: err.headers || {}, body: err.data });
              return;
            }
            const timeout = err && (err.error === TIMEOUT || /timeout|超时/i.test(err.errorMessage || ""));
            reject(new TransportError(timeout ? "timeout" : "network", (err && err.errorMessage) || "request failed"));
          },
        });
      });
    },

    connect(url, protocols) {
      const header = { "Sec-WebSocket-Protocol": protocols.join(", ") };
      // `multiple: true` gives a SocketTask (current base libraries); older ones have the one
      // global socket with my.onSocket* handlers.
      const task = my.connectSocket({ url, header, protocols, multiple: true });
      return task && typeof task.onOpen === "function" ? fromTask(task) : fromGlobal(my);
    },

    /** A one-time auth code from my.getAuthCode() (silent auth_base scope). */
    loginCode() {
      return new Promise((resolve, reject) => {
        my.getAuthCode({
          scopes: "auth_base",
          success: (res) => (res.authCode ? resolve(res.authCode) : reject(new Error("my.getAuthCode gave no code"))),
          fail: (err) => reject(new Error((err && err.errorMessage) || "my.getAuthCode failed")),
        });
      });
    },

    storage: {
      get: (key) => {
        const res = my.getStorageSync({ key });
        return (res && res.data) || null;
      },
      set: (key, value) => my.setStorageSync({ key, data: value }),
      remove: (key) => my.removeStorageSync({ key }),
    },
  };
}

/** A frame's data: binary frames come as base64 text flagged isBuffer. */
function frameData(res) {
  return res && res.isBuffer ? base64Buffer(res.data) : res && res.data;
}

function fromTask(task) {
  return {
    send: (data) => task.send({ data }),
    close: (code, reason) => task.close({ code, reason }),
    onOpen: (fn) => task.onOpen(() => fn()),
    onMessage: (fn) => task.onMessage((res) => fn(frameData(res))),
    onClose: (fn) => task.onClose((res) => fn({ code: res && res.code, reason: res && res.reason })),
    onError: (fn) => task.onError((res) => fn(res)),
  };
}

function fromGlobal(my) {
  const handlers = [];
  const on = (name, off, fn) => {
    my[name](fn);
    handlers.push(() => my[off] && my[off](fn));
  };
  let closed = false;
  return {
    send: (data) => my.sendSocketMessage({ data }),
    close: (code, reason) => {
      if (closed) return;
      closed = true;
      my.closeSocket({ code, reason });
    },
    onOpen: (fn) => on("onSocketOpen", "offSocketOpen", () => fn()),
    onMessage: (fn) => on("onSocketMessage", "offSocketMessage", (res) => fn(frameData(res))),
    onClose: (fn) =>
      on("onSocketClose", "offSocketClose", (res) => {
        closed = true;
        for (const off of handlers.splice(0)) off();
        fn({ code: res && res.code, reason: res && res.reason });
      }),
    onError: (fn) => on("onSocketError", "offSocketError", (res) => fn(res)),
  };
}
