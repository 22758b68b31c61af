// Fake `wx` and `my` objects that behave as the WeChat and Alipay runtimes do, on top of real
// HTTP (fetch) and real WebSockets (ws) to a running cardcash. A test scripts what goes wrong
// with the next requests (a network error, a timeout before or after the server answered, a
// gateway's 401) and how socket frames are handed over (as sent, all binary, all text).
import WebSocket from "ws";

/**
 * What the next requests do, in order; each entry is consumed by one request:
 * - "network": fail at once, nothing sent;
 * - "timeout": wait for the timeout, nothing sent (the server never saw it);
 * - "lost": send it, let the server answer, then report a timeout (the answer was lost);
 * - "stopped": send it, then answer as a server that stopped it past its time budget (503
 *   OPERATION_TIMEOUT; what it did is kept);
 * - "401": answer 401 as a gateway in front of the server would, nothing sent;
 * - a function(call) deciding to return one of those (or undefined: pass through).
 */
class Script {
  constructor() {
    this.queue = [];
    this.calls = [];
  }
  next(...behaviours) {
    this.queue.push(...behaviours);
  }
  take(call) {
    for (let i = 0; i < this.queue.length; i++) {
      const b = this.queue[i];
      if (typeof b === "function") {
        const decided = b(call);
        if (decided) {
          this.queue.splice(i, 1);
          return decided;
        }
        continue;
      }
      this.queue.splice(i, 1);
      return b;
    }
    return undefined;
  }
}

/** The operation name and variables of a request body, for scripts and assertions. */
function describe(body) {
  try {
    const parsed = JSON.parse(body);
    return { operationName: parsed.operationName, variables: parsed.variables, hasQuery: typeof parsed.query === "string", extensions: parsed.extensions };
  } catch {
    return { raw: body };
  }
}

/** True for the answer "send the query text": the request did not run. */
function unknownHash(answer) {
  return /PERSISTED_QUERY_NOT_FOUND/.test(answer);
}

/** Every socket the fakes opened, so a test run can end them all. */
export const openSockets = new Set();

async function forward({ url, method, headers, data, timeout }) {
  const res = await fetch(url, {
    method,
    headers,
    body: data,
    signal: AbortSignal.timeout(timeout || 60000),
  });
  const text = await res.text();
  return { status: res.status, headers: Object.fromEntries(res.headers.entries()), data: text };
}

/**
 * A real WebSocket handing frames over as `frames` says: "as-sent" (binary frames as an
 * ArrayBuffer, text frames as a string, as the runtimes do), "binary" or "text".
 */
function openSocket(url, protocols, frames, record) {
  const ws = new WebSocket(url, protocols);
  const listeners = { open: [], message: [], close: [], error: [] };
  const emit = (name, value) => listeners[name].forEach((fn) => fn(value));
  ws.on("open", () => emit("open", {}));
  ws.on("message", (data, isBinary) => {
    const buffer = Buffer.isBuffer(data) ? data : Buffer.concat(data);
    record.received.push(isBinary ? "binary" : "text");
    const asBinary = frames === "binary" || (frames === "as-sent" && isBinary);
    const value = asBinary
      ? buffer.buffer.slice(buffer.byteOffset, buffer.byteOffset + buffer.byteLength)
      : buffer.toString("utf8");
    record.delivered.push(typeof value === "string" ? "string" : "ArrayBuffer");
    emit("message", value);
  });
  ws.on("close", (code, reason) => emit("close", { code, reason: reason.toString() }));
  ws.on("error", (err) => emit("error", { errMsg: String(err) }));
  record.sockets.push(ws);
  openSockets.add(ws);
  ws.on("close", () => openSockets.delete(ws));
  return {
    ws,
    on: (name, fn) => listeners[name].push(fn),
    send(data) {
      record.sent.push(typeof data === "string" ? "text" : "binary");
      record.messages.push(typeof data === "string" ? JSON.parse(data) : null);
      ws.send(data);
    },
    close(code, reason) {
      ws.close(code, reason);
    },
  };
}

function sockets() {
  return { sockets: [], received: [], delivered: [], sent: [], messages: [] };
}

/** `wx` as the WeChat runtime gives it: request, connectSocket, login, sync storage. */
export function fakeWx({ user = "alice", frames = "as-sent" } = {}) {
  const script = new Script();
  const store = new Map();
  const socket = sockets();
  let logins = 0;
  let inFlight = 0;
  const wx = {
    script,
    socket,
    store,
    maxInFlight: 0,
    refused: 0,
    get logins() {
      return logins;
    },
    request(options) {
      // As the runtime: at most ten requests in flight, the eleventh fails at once.
      if (inFlight >= 10) {
        wx.refused += 1;
        setTimeout(() => options.fail && options.fail({ errMsg: "request:fail exceed max task count" }), 0);
        return;
      }
      inFlight += 1;
      wx.maxInFlight = Math.max(wx.maxInFlight, inFlight);
      const done = (fn) => (value) => {
        inFlight -= 1;
        if (fn) fn(value);
      };
      const { url, method = "GET", header = {}, data, timeout = 60000 } = options;
      const success = done(options.success);
      const fail = done(options.fail);
      const call = { url, method, headers: header, ...describe(data) };
      script.calls.push(call);
      const behaviour = script.take(call);
      call.behaviour = behaviour || "pass";
      const failWith = (errMsg, errno) => setTimeout(() => fail && fail({ errMsg, errno }), 0);
      if (behaviour === "network") return failWith("request:fail -101 net::ERR_INTERNET_DISCONNECTED", 600001);
      if (behaviour === "timeout") return setTimeout(() => fail && fail({ errMsg: "request:fail timeout", errno: 5 }), timeout);
      if (behaviour === "401") {
        return setTimeout(() => success && success({ statusCode: 401, header: {}, data: "<html>401 Unauthorized</html>" }), 0);
      }
      forward({ url, method, headers: header, data, timeout }).then(
        (res) => {
          call.status = res.status;
          call.answer = res.data;
          if (behaviour === "lost" || behaviour === "stopped") {
            if (unknownHash(res.data)) {
              script.queue.unshift(behaviour); // nothing ran: spoil the answer of the one that does
            } else if (behaviour === "lost") {
              return fail && fail({ errMsg: "request:fail timeout", errno: 5 });
            } else {
              res.status = 503;
              res.data = JSON.stringify({ errors: [{ message: "stopped", extensions: { code: "OPERATION_TIMEOUT" } }] });
            }
          }
          // wx.request calls success whatever the HTTP status; dataType "json" would parse.
          let body = res.data;
          if (options.dataType === undefined || options.dataType === "json") {
            try {
              body = JSON.parse(res.data);
            } catch {
              // left as text, as the runtime does
            }
          }
          success && success({ statusCode: res.status, header: res.headers, data: body });
        },
        (err) => fail && fail({ errMsg: `request:fail ${err.name === "TimeoutError" ? "timeout" : err.message}` }),
      );
    },
    connectSocket({ url, protocols }) {
      const s = openSocket(url, protocols, frames, socket);
      return {
        onOpen: (fn) => s.on("open", fn),
        onMessage: (fn) => s.on("message", (data) => fn({ data })),
        onClose: (fn) => s.on("close", fn),
        onError: (fn) => s.on("error", fn),
        send: ({ data }) => s.send(data),
        close: ({ code = 1000, reason = "" } = {}) => s.close(code, reason),
      };
    },
    login({ success }) {
      logins += 1;
      setTimeout(() => success({ code: `sandbox:${user}`, errMsg: "login:ok" }), 0);
    },
    getStorageSync: (key) => (store.has(key) ? store.get(key) : ""),
    setStorageSync: (key, value) => store.set(key, value),
    removeStorageSync: (key) => store.delete(key),
  };
  return wx;
}

/**
 * `my` as the Alipay runtime gives it. `socketApi`: "task" (my.connectSocket({multiple: true})
 * returns a SocketTask) or "global" (the classic single socket with my.onSocket* handlers,
 * binary frames as base64 text flagged isBuffer).
 */
export function fakeMy({ user = "bob", frames = "as-sent", socketApi = "task" } = {}) {
  const script = new Script();
  const store = new Map();
  const socket = sockets();
  let logins = 0;
  const handlers = { open: [], message: [], close: [], error: [] };
  let current = null;
  const my = {
    script,
    socket,
    store,
    get logins() {
      return logins;
    },
    request(options) {
      const { url, method = "GET", data, timeout = 30000, success, fail } = options;
      // Alipay sends a form body unless told otherwise.
      const headers = { "content-type": "application/x-www-form-urlencoded", ...(options.headers || {}) };
      const call = { url, method, headers, ...describe(data) };
      script.calls.push(call);
      const behaviour = script.take(call);
      call.behaviour = behaviour || "pass";
      const failWith = (err) => setTimeout(() => fail && fail(err), 0);
      if (behaviour === "network") return failWith({ error: 12, errorMessage: "网络出错" });
      if (behaviour === "timeout") return setTimeout(() => fail && fail({ error: 13, errorMessage: "超时" }), timeout);
      if (behaviour === "401") return failWith({ error: 19, errorMessage: "http status error", status: 401, data: "Unauthorized", headers: {} });
      if (behaviour === "429") {
        const data = JSON.stringify({ errors: [{ message: "slow down", extensions: { code: "RATE_LIMITED" } }] });
        return failWith({ error: 19, errorMessage: "http status error", status: 429, data, headers: {} });
      }
      forward({ url, method, headers, data, timeout }).then(
        (res) => {
          call.status = res.status;
          call.answer = res.data;
          if (behaviour === "lost") {
            if (!unknownHash(res.data)) return fail && fail({ error: 13, errorMessage: "超时" });
            script.queue.unshift("lost");
          }
          let body = res.data;
          if (options.dataType === undefined || options.dataType === "json") {
            try {
              body = JSON.parse(res.data);
            } catch {
              return fail && fail({ error: 14, errorMessage: "解码失败" });
            }
          }
          if (res.status < 200 || res.status >= 300) {
            return fail && fail({ error: 19, errorMessage: "http status error", status: res.status, data: body, headers: res.headers });
          }
          success && success({ status: res.status, headers: res.headers, data: body });
        },
        () => fail && fail({ error: 12, errorMessage: "网络出错" }),
      );
    },
    connectSocket({ url, header = {}, multiple }) {
      const protocols = (header["Sec-WebSocket-Protocol"] || "").split(",").map((p) => p.trim()).filter(Boolean);
      const s = openSocket(url, protocols, frames === "as-sent" && socketApi === "global" ? "as-sent" : frames, socket);
      if (socketApi === "task" && multiple) {
        return {
          onOpen: (fn) => s.on("open", fn),
          onMessage: (fn) => s.on("message", (data) => fn({ data })),
          onClose: (fn) => s.on("close", fn),
          onError: (fn) => s.on("error", fn),
          send: ({ data }) => s.send(data),
          close: ({ code = 1000, reason = "" } = {}) => s.close(code, reason),
        };
      }
      current = s;
      for (const name of Object.keys(handlers)) {
        s.on(name, (value) => {
          const payload = name === "message" ? globalFrame(value) : value;
          [...handlers[name]].forEach((fn) => fn(payload));
        });
      }
      return undefined;
    },
    sendSocketMessage: ({ data }) => current.send(data),
    closeSocket: ({ code = 1000, reason = "" } = {}) => current.close(code, reason),
    onSocketOpen: (fn) => handlers.open.push(fn),
    onSocketMessage: (fn) => handlers.message.push(fn),
    onSocketClose: (fn) => handlers.close.push(fn),
    onSocketError: (fn) => handlers.error.push(fn),
    offSocketOpen: (fn) => remove(handlers.open, fn),
    offSocketMessage: (fn) => remove(handlers.message, fn),
    offSocketClose: (fn) => remove(handlers.close, fn),
    offSocketError: (fn) => remove(handlers.error, fn),
    getAuthCode({ scopes, success }) {
      logins += 1;
      my.lastScopes = scopes;
      setTimeout(() => success({ authCode: `sandbox:${user}` }), 0);
    },
    getStorageSync: ({ key }) => ({ data: store.has(key) ? store.get(key) : null }),
    setStorageSync: ({ key, data }) => store.set(key, data),
    removeStorageSync: ({ key }) => store.delete(key),
  };
  return my;
}

function remove(list, fn) {
  const i = list.indexOf(fn);
  if (i >= 0) list.splice(i, 1);
}

/** Alipay's classic socket: binary frames as base64 text with isBuffer set. */
function globalFrame(data) {
  if (typeof data === "string") return { data, isBuffer: false };
  return { data: Buffer.from(data).toString("base64"), isBuffer: true };
}
