// Errors the client raises, each with a stable English code and a user-facing message in the
// client's language. Codes that come from the server keep the server's code and message (the
// server localizes by Accept-Language); the codes below are the client's own, for failures
// the server never saw or could not answer.

const MESSAGES = {
  "zh-CN": {
    NETWORK_ERROR: "网络连接失败，请检查网络后重试",
    TIMEOUT: "请求超时，请稍后重试",
    OUTCOME_UNKNOWN: "请求超时，结果未知：请在记录中查看后再操作，不要重复提交",
    SERVER_ERROR: "服务暂时不可用，请稍后重试",
    BAD_RESPONSE: "服务返回了无法识别的内容，请稍后重试",
    UNAUTHENTICATED: "登录已失效，请重新登录",
    SOCKET_CLOSED: "实时连接已断开",
  },
  en: {
    NETWORK_ERROR: "The network is unreachable: check the connection and try again",
    TIMEOUT: "The request timed out: try again in a moment",
    OUTCOME_UNKNOWN: "The request timed out and its outcome is unknown: check your history before trying again",
    SERVER_ERROR: "The service is unavailable for now: try again in a moment",
    BAD_RESPONSE: "The service answered with something unexpected: try again in a moment",
    UNAUTHENTICATED: "Your session has ended: sign in again",
    SOCKET_CLOSED: "The live connection was closed",
  },
};

/** The language a locale tag maps to: "en" for any English tag, else zh-CN. */
export function language(locale) {
  return /^en\b/i.test(locale || "") ? "en" : "zh-CN";
}

/** The client's own message for `code` in `locale`. */
export function clientMessage(code, locale) {
  const table = MESSAGES[language(locale)];
  return table[code] || MESSAGES["zh-CN"][code] || code;
}

/**
 * A request that did not produce a result: a transport failure, or a GraphQL error in
 * `errors[]`. `code` is stable (the server's `extensions.code`, or one of the client's own);
 * `retryable` says whether trying again may help; `data` holds any partial data.
 */
export class CardcashError extends Error {
  constructor(code, message, { retryable = false, status, extensions, data, cause } = {}) {
    super(message);
    this.name = "CardcashError";
    this.code = code;
    this.retryable = retryable;
    this.status = status;
    this.extensions = extensions || {};
    this.data = data;
    if (cause !== undefined) this.cause = cause;
  }
}

/** A failure of the transport itself (no HTTP answer): `kind` is "timeout" or "network". */
export class TransportError extends Error {
  constructor(kind, message) {
    super(message);
    this.name = "TransportError";
    this.kind = kind;
  }
}
