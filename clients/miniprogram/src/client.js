// The cardcash client: GraphQL over HTTP with persisted queries, the session token, sign-in
// again when the server no longer accepts it, retries that are safe, and subscriptions.
//
//   import { createClient, wechat, documents, result } from "@cardcash/miniprogram";
//   const client = createClient({
//     url: "https://api.example.com/graphql",
//     transport: wechat(wx),
//     channel: "WECHAT",
//   });
//   const { banks } = await client.request(documents.ServicePage, { channel: "WECHAT" });

import { CardcashError, TransportError, clientMessage } from "./errors.js";
import { Login, Logout, LogoutEverywhere } from "./documents.js";
import { result } from "./results.js";
import { Subscriptions } from "./socket.js";

const TOKEN_KEY = "cardcash.session";
// Set by a logout (here, or of every session from another device): the client then does not
// sign in by itself until login() is called, so that a logout is not undone by the next request.
const SIGNED_OUT_KEY = "cardcash.signedOut";
// application/json: a request error (an unknown persisted query, a syntax error) comes back
// 200 with its body. Under graphql-response+json it would be a 400, which my.request reports
// through `fail`, with the body only in recent Alipay base libraries.
const ACCEPT = "application/json";

/** A fresh idempotency key (UUID v4) for one money-moving request. */
export function idempotencyKey() {
  const c = globalThis.crypto;
  if (c && typeof c.randomUUID === "function") return c.randomUUID();
  const bytes = new Uint8Array(16);
  if (c && typeof c.getRandomValues === "function") c.getRandomValues(bytes);
  else for (let i = 0; i < 16; i++) bytes[i] = Math.floor(Math.random() * 256);
  bytes[6] = (bytes[6] & 0x0f) | 0x40;
  bytes[8] = (bytes[8] & 0x3f) | 0x80;
  const hex = Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

/** Codes after which a mutation may or may not have taken effect. */
const STOPPED = new Set(["TIMEOUT", "OPERATION_TIMEOUT"]);

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * A client of one cardcash server.
 *
 * Options:
 * - `url`: the /graphql endpoint (https in production); `wsUrl` defaults to it with ws(s).
 * - `transport`: `wechat(wx)`, `alipay(my)` or `browser()` (see adapters/).
 * - `channel`: "WECHAT" or "ALIPAY"; `getCode`: resolves a one-time login code (the adapters'
 *   `loginCode`, e.g. wx.login). With both, the client signs in by itself when it has no token
 *   or the server answers UNAUTHENTICATED, and repeats the request once; not after a logout
 *   (`logout()`, or the session logged out elsewhere: UNAUTHENTICATED with reason REVOKED),
 *   until `login()` is called.
 * - `locale`: sent as Accept-Language (server messages) and used for the client's own.
 * - `storage`: `{ get(key), set(key, value), remove(key) }` keeping the session (the adapters'
 *   `storage`); in memory when absent.
 * - `timeoutMs` (15000), `retries` (2), `retryDelayMs` (400): retries apply to operations that
 *   are safe to repeat: queries, quotes, and mutations carrying an `idempotencyKey`.
 * - `persistedQueries` (true): send the hash first, the text only when the server asks.
 */
export function createClient(options) {
  return new Client(options);
}

export class Client {
  constructor({
    url,
    wsUrl,
    transport,
    channel,
    getCode,
    locale = "zh-CN",
    storage,
    timeoutMs = 15000,
    retries = 2,
    retryDelayMs = 400,
    persistedQueries = true,
  }) {
    if (!url) throw new TypeError("createClient needs the server's url");
    if (!transport) throw new TypeError("createClient needs a transport: wechat(wx), alipay(my) or browser()");
    this.url = url;
    this.wsUrl = wsUrl || url.replace(/^http/, "ws");
    this.transport = transport;
    this.channel = channel;
    this.getCode = getCode || (transport.loginCode && (() => transport.loginCode()));
    this.locale = locale;
    this.storage = storage || transport.storage || memoryStorage();
    this.timeoutMs = timeoutMs;
    this.retries = retries;
    this.retryDelayMs = retryDelayMs;
    this.persisted = persistedQueries;
    this._signingIn = null;
    this._session = readSession(this.storage);
    this._signedOut = this.storage.get(SIGNED_OUT_KEY) === "1";
    this._listeners = new Set();
    this.subscriptions = new Subscriptions(this);
  }

  // -- the session -----------------------------------------------------------------------

  /** The current session `{ token, expiresAt, viewer }`, or null. */
  get session() {
    return this._session;
  }

  /** Called with the new session (or null) whenever it changes. Returns an unsubscribe. */
  onSession(listener) {
    this._listeners.add(listener);
    return () => this._listeners.delete(listener);
  }

  setSession(session) {
    this._session = session;
    if (session) this.storage.set(TOKEN_KEY, JSON.stringify(session));
    else this.storage.remove(TOKEN_KEY);
    for (const listener of this._listeners) listener(session);
  }

  /** Forgets the session on this device only (the server still accepts its token until it
   * expires) and closes the socket. `logout()` ends it on the server too. */
  signOut() {
    this.setSession(null);
    this.subscriptions.close();
  }

  /** True after a logout: the client does not sign in by itself until `login()`. */
  get signedOut() {
    return this._signedOut;
  }

  _markSignedOut() {
    this._signedOut = true;
    this.storage.set(SIGNED_OUT_KEY, "1");
    this.setSession(null);
  }

  /**
   * Signs out: ends this session on the server (`logout`), or with `{ everywhere: true }`
   * every session of the user's on every device (`logoutEverywhere`); then forgets it here
   * and closes the socket. The client does not sign in by itself afterwards: call `login()`
   * when the user asks. Resolves to the typed result (`{ ok: true, value: LogoutSuccess }` or
   * `LogoutEverywhereSuccess`, with `alreadyLoggedOut` and a `message` to show), or to
   * `{ ok: true, value: null }` when there was no session to end. The session is forgotten
   * here even when the server could not be reached; the error is then thrown.
   */
  async logout({ everywhere = false } = {}) {
    const token = this._token();
    const operation = everywhere ? LogoutEverywhere : Logout;
    try {
      if (!token) return { ok: true, value: null };
      let data;
      try {
        // Safe to repeat: sent again after a network error or a timeout. Never signs in.
        data = await this._withRetries(operation, {}, true, true);
      } catch (err) {
        // Refused: the token was already over (expired, or logged out elsewhere).
        if (err instanceof CardcashError && err.code === "UNAUTHENTICATED") return { ok: true, value: null };
        throw err;
      }
      const field = Object.keys(data)[0];
      return result(data[field], everywhere ? "LogoutEverywhereSuccess" : "LogoutSuccess");
    } finally {
      this._markSignedOut();
      this.subscriptions.close();
    }
  }

  /**
   * Signs in with a code (or with `getCode()` when none is given) on `channel` (or the
   * client's). Resolves to the typed result: `{ ok: true, value: LoginSuccess }` or
   * `{ ok: false, error }` (INVALID_CODE, CODE_ALREADY_USED, RATE_LIMITED…).
   */
  async login({ code, channel } = {}) {
    const ch = channel || this.channel;
    if (!ch) throw new TypeError("login needs a channel: WECHAT or ALIPAY");
    const oneTime = code || (this.getCode ? await this.getCode() : null);
    if (!oneTime) throw new TypeError("login needs a code, or createClient({ getCode })");
    const data = await this.request(Login, { channel: ch, code: oneTime }, { auth: false });
    const r = result(data.login, "LoginSuccess");
    if (r.ok) {
      this.channel = ch;
      this._signedOut = false;
      this.storage.remove(SIGNED_OUT_KEY);
      this.setSession({ token: r.value.token, expiresAt: r.value.expiresAt, viewer: r.value.viewer });
    }
    return r;
  }

  /** Signs in again once, however many requests ask for it at the same time; never after a
   * logout (until `login()`). */
  _signInAgain() {
    if (!this.getCode || !this.channel || this._signedOut) return Promise.resolve(false);
    if (!this._signingIn) {
      this._signingIn = this.login()
        .then((r) => r.ok)
        .catch(() => false)
        .finally(() => {
          this._signingIn = null;
        });
    }
    return this._signingIn;
  }

  _token() {
    const s = this._session;
    if (!s) return null;
    // A token the clock says is over is not sent: signing in first saves a round trip.
    if (s.expiresAt && Date.parse(s.expiresAt) <= Date.now()) return null;
    return s.token;
  }

  // -- requests --------------------------------------------------------------------------

  /**
   * Runs an operation (one of `documents`, or any `{ name, type, text, hash }`) and resolves
   * to its `data`. Rejects with a CardcashError for a failed request: a transport failure,
   * or an error in `errors[]` (its `extensions.code`). Typed failures are not errors here:
   * they are members of the result union (see `result()`).
   *
   * `options.auth` (default true): send the session token, and sign in again on
   * UNAUTHENTICATED. `options.retry`: override whether a failure in transit is retried.
   */
  async request(operation, variables = {}, options = {}) {
    if (operation.type === "subscription") {
      throw new TypeError(`${operation.name} is a subscription: use client.subscribe`);
    }
    const auth = options.auth !== false;
    const retry = options.retry ?? isSafeToRepeat(operation, variables);
    if (auth && !this._token() && this._session) this.setSession(null);
    if (auth && !this._token() && this.getCode && this.channel) await this._signInAgain();
    const sessionSent = this._session;
    try {
      return await this._withRetries(operation, variables, auth, retry);
    } catch (err) {
      if (auth && err instanceof CardcashError && err.code === "UNAUTHENTICATED") {
        // Refused with a session another request has already replaced: just send it again.
        if (this._session && this._session !== sessionSent) {
          return this._withRetries(operation, variables, auth, retry);
        }
        if (isRevoked(err) && this._session === sessionSent) {
          // Logged out (here or on another device): not undone by signing in again.
          this._markSignedOut();
          this.subscriptions.close();
          throw err;
        }
        this.setSession(null);
        if (await this._signInAgain()) return this._withRetries(operation, variables, auth, retry);
      }
      throw err;
    }
  }

  async _withRetries(operation, variables, auth, retry) {
    for (let attempt = 0; ; attempt++) {
      try {
        return await this._persisted(operation, variables, auth);
      } catch (err) {
        const again = retry && err instanceof CardcashError && err.retryable && attempt < this.retries;
        if (!again) {
          if (!retry && err instanceof CardcashError && STOPPED.has(err.code)) {
            // A mutation that may have run (no answer in time, or the server stopped it past
            // its time budget, keeping what it did): the outcome is unknown, not a failure.
            throw new CardcashError("OUTCOME_UNKNOWN", clientMessage("OUTCOME_UNKNOWN", this.locale), {
              retryable: false,
              cause: err,
            });
          }
          throw err;
        }
        await sleep(this.retryDelayMs * 2 ** attempt);
      }
    }
  }

  /** Hash first; the text too when the server does not know the hash (and then it will). */
  async _persisted(operation, variables, auth) {
    const withHash = this.persisted && operation.hash;
    if (withHash) {
      const body = await this._post(operation, variables, auth, false);
      const code = firstCode(body);
      if (code !== "PERSISTED_QUERY_NOT_FOUND" && code !== "PERSISTED_QUERY_NOT_SUPPORTED") {
        return this._data(body);
      }
      if (code === "PERSISTED_QUERY_NOT_SUPPORTED") this.persisted = false;
    }
    return this._data(await this._post(operation, variables, auth, true));
  }

  async _post(operation, variables, auth, withText) {
    const payload = { operationName: operation.name, variables };
    if (withText) payload.query = operation.text;
    if (this.persisted && operation.hash) {
      payload.extensions = { persistedQuery: { version: 1, sha256Hash: operation.hash } };
    }
    const headers = {
      "content-type": "application/json",
      accept: ACCEPT,
      "accept-language": this.locale,
    };
    const token = auth ? this._token() : null;
    if (token) headers.authorization = `Bearer ${token}`;
    let response;
    try {
      response = await this.transport.request({
        url: this.url,
        method: "POST",
        headers,
        body: JSON.stringify(payload),
        timeoutMs: this.timeoutMs,
      });
    } catch (err) {
      if (err instanceof TransportError) {
        const code = err.kind === "timeout" ? "TIMEOUT" : "NETWORK_ERROR";
        throw new CardcashError(code, clientMessage(code, this.locale), { retryable: true, cause: err });
      }
      throw err;
    }
    return this._body(response);
  }

  /** The JSON body of a response, or the CardcashError its status means. */
  _body({ status, body }) {
    if (status === 401) {
      throw new CardcashError("UNAUTHENTICATED", clientMessage("UNAUTHENTICATED", this.locale), { status });
    }
    let parsed = body;
    if (typeof body === "string") {
      try {
        parsed = JSON.parse(body);
      } catch {
        parsed = null;
      }
    }
    if (!parsed || typeof parsed !== "object" || (!("data" in parsed) && !("errors" in parsed))) {
      const code = status >= 500 || status === 429 ? "SERVER_ERROR" : "BAD_RESPONSE";
      throw new CardcashError(code, clientMessage(code, this.locale), {
        status,
        retryable: status >= 500 || status === 429,
      });
    }
    parsed.status = status;
    return parsed;
  }

  _data(body) {
    const errors = body.errors || [];
    if (errors.length) {
      const first = errors.find((e) => code(e) === "UNAUTHENTICATED") || errors[0];
      const c = code(first) || "GRAPHQL_ERROR";
      throw new CardcashError(c, first.message, {
        status: body.status,
        extensions: first.extensions,
        data: body.data,
        retryable: c === "INTERNAL_SERVER_ERROR" || c === "INTERNAL_ERROR" || body.status >= 500 || body.status === 429,
      });
    }
    return body.data;
  }

  // -- conveniences for the flow ------------------------------------------------------------

  /**
   * Runs a money-moving mutation whose input carries an `idempotencyKey` (one is made when
   * absent) and resolves to its typed result. After a timeout or a dropped connection the
   * very same input (same key) is sent again, so the server answers with the withdrawal the
   * first attempt made instead of making a second. CARD_BUSY (the first attempt is still with
   * the bank) is waited out the same way.
   */
  async moveMoney(operation, input, success = "Withdrawal") {
    const key = input.idempotencyKey || idempotencyKey();
    const variables = { input: { ...input, idempotencyKey: key } };
    for (let attempt = 0; ; attempt++) {
      let data;
      try {
        data = await this.request(operation, variables, { retry: true });
      } catch (err) {
        // Still unanswered after the retries: the caller may try again later with this key.
        err.idempotencyKey = key;
        throw err;
      }
      const field = Object.keys(data)[0];
      const r = result(data[field], success);
      if (!r.ok && r.error.code === "CARD_BUSY" && attempt < this.retries + 3) {
        await sleep(this.retryDelayMs * 2 ** Math.min(attempt, 4));
        continue;
      }
      r.idempotencyKey = key;
      return r;
    }
  }

  /** Runs a mutation and resolves to its typed result (`success`: the success type name). */
  async mutate(operation, variables, success) {
    const data = await this.request(operation, variables);
    const field = Object.keys(data)[0];
    return result(data[field], success);
  }

  /**
   * Subscribes over graphql-transport-ws. `sink`: `{ next(data), error(err), complete() }`.
   * Returns a function that ends the subscription. See socket.js.
   */
  subscribe(operation, variables, sink) {
    return this.subscriptions.subscribe(operation, variables, sink);
  }
}

function code(error) {
  return error && error.extensions && error.extensions.code;
}

/** UNAUTHENTICATED because the session was logged out (logout, logoutEverywhere). */
export function isRevoked(err) {
  return Boolean(err && err.code === "UNAUTHENTICATED" && err.extensions && err.extensions.reason === "REVOKED");
}

function firstCode(body) {
  return body.errors && body.errors.length ? code(body.errors[0]) : undefined;
}

/** Mutations the server documents as safe to send twice: a quote (a trial calculation changes
 * nothing) and a verification code (the server answers a repeat with the same outcome). */
const REPEATABLE = new Set(["CreateQuote", "ConfirmWithdrawal"]);

/** Queries, the REPEATABLE mutations and anything with an idempotency key. */
export function isSafeToRepeat(operation, variables) {
  if (operation.type === "query") return true;
  if (REPEATABLE.has(operation.name)) return true;
  const input = variables && variables.input;
  return Boolean((input && input.idempotencyKey) || (variables && variables.idempotencyKey));
}

function memoryStorage() {
  const values = new Map();
  return {
    get: (k) => (values.has(k) ? values.get(k) : null),
    set: (k, v) => values.set(k, v),
    remove: (k) => values.delete(k),
  };
}

function readSession(storage) {
  try {
    const raw = storage.get(TOKEN_KEY);
    return raw ? JSON.parse(raw) : null;
  } catch {
    return null;
  }
}
