// WeChat: wx.request, wx.connectSocket, wx.login and the sync storage API.
//
//   createClient({ url, transport: wechat(wx), channel: "WECHAT" })
//
// wx.request calls `success` for any HTTP status, so the status and body are handed to the
// client as they are; `fail` means no HTTP answer (its errMsg says "timeout" for a timeout).
import { TransportError } from "../errors.js";

/** wx.request refuses more than ten requests in flight ("exceed max task count"). */
const MAX_IN_FLIGHT = 10;

export function wechat(wx, { maxInFlight = MAX_IN_FLIGHT } = {}) {
  let inFlight = 0;
  const waiting = [];
  const acquire = () =>
    inFlight < maxInFlight ? (inFlight++, Promise.resolve()) : new Promise((go) => waiting.push(go));
  const release = () => {
    const next = waiting.shift();
    if (next) next();
    else inFlight--;
  };
  return {
    async request(options) {
      await acquire();
      try {
        return await send(wx, options);
      } finally {
        release();
      }
    },

    connect(url, protocols) {
      const task = wx.connectSocket({ url, protocols });
      return {
        send: (data) => task.send({ data }),
        close: (code, reason) => task.close({ code, reason }),
        onOpen: (fn) => task.onOpen(() => fn()),
        onMessage: (fn) => task.onMessage((res) => fn(res.data)),
        onClose: (fn) => task.onClose((res) => fn({ code: res && res.code, reason: res && res.reason })),
        onError: (fn) => task.onError((res) => fn(res)),
      };
    },

    /** A one-time login code from wx.login() (valid about five minutes). */
    loginCode() {
      return new Promise((resolve, reject) => {
        wx.login({
          success: (res) => (res.code ? resolve(res.code) : reject(new Error(res.errMsg || "wx.login gave no code"))),
          fail: (err) => reject(new Error((err && err.errMsg) || "wx.login failed")),
        });
      });
    },

    storage: {
      get: (key) => wx.getStorageSync(key) || null,
      set: (key, value) => wx.setStorageSync(key, value),
      remove: (key) => wx.removeStorageSync(key),
    },
  };
}

function transportError(err) {
  const msg = (err && err.errMsg) || "request:fail";
  // errno 5 / 5010x are the base library's timeouts; older ones only say so in errMsg.
  const timeout = /timeout|超时/i.test(msg) || (err && (err.errno === 5 || err.errno === 600003));
  return new TransportError(timeout ? "timeout" : "network", msg);
}

function send(wx, { url, method, headers, body, timeoutMs }) {
  return new Promise((resolve, reject) => {
    wx.request({
      url,
      method,
      header: headers,
      data: body,
      // Anything but "json" leaves the body as text: the client parses it itself, so a
      // non-JSON answer (a proxy's error page) is reported, not thrown by the runtime.
      dataType: "text",
      responseType: "text",
      timeout: timeoutMs,
      success: (res) => resolve({ status: res.statusCode, headers: res.header || {}, body: res.data }),
      fail: (err) => reject(transportError(err)),
    });
  });
}
