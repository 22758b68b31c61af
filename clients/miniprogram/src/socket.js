// Subscriptions over graphql-transport-ws (the protocol of the `graphql-ws` library), on one
// socket shared by every subscription: WeChat allows five sockets per mini-program, Alipay one.
//
// Frames are sent as text. Frames received may be text or binary (an ArrayBuffer from wx/my
// sockets, a Blob-free ArrayBuffer in browsers since the socket's binaryType is set so): both
// are read as UTF-8 JSON. The session token goes in connection_init's payload; when the
// server says it is no longer valid the client signs in again and subscribes again. A socket
// that drops is reopened with a growing delay and every live subscription sent again (the
// server answers a new subscription with the current state first, so nothing is missed).

import { CardcashError, clientMessage } from "./errors.js";
import { frameText } from "./utf8.js";

const PROTOCOL = "graphql-transport-ws";
const UNAUTHORIZED = 4401;
const FORBIDDEN = 4403;
const FATAL = new Set([4400, 4406, 4409, 4429]);

export class Subscriptions {
  constructor(client, { ackTimeoutMs = 10000, maxReconnects = 5, reconnectDelayMs = 500 } = {}) {
    this.client = client;
    this.ackTimeoutMs = ackTimeoutMs;
    this.maxReconnects = maxReconnects;
    this.reconnectDelayMs = reconnectDelayMs;
    this.active = new Map(); // id -> { operation, variables, sink, sent }
    this.socket = null;
    this.acked = false;
    this.nextId = 1;
    this.failures = 0;
    this.reauthenticated = false;
    this._timer = null;
  }

  subscribe(operation, variables, sink) {
    if (operation.type !== "subscription") {
      throw new TypeError(`${operation.name} is not a subscription: use client.request`);
    }
    const id = String(this.nextId++);
    this.active.set(id, { operation, variables, sink, sent: false });
    this._ensureOpen();
    if (this.acked) this._send(id);
    return () => this._end(id, true);
  }

  /** Ends every subscription and closes the socket. */
  close() {
    for (const id of [...this.active.keys()]) this._end(id, true);
    this._closeSocket(1000, "client closed");
  }

  _end(id, tellServer) {
    const sub = this.active.get(id);
    if (!sub) return;
    this.active.delete(id);
    if (tellServer && sub.sent && this.socket && this.acked) {
      this._raw({ id, type: "complete" });
    }
    if (this.active.size === 0) this._closeSocket(1000, "no subscriptions");
  }

  _ensureOpen() {
    if (this.socket) return;
    clearTimeout(this._timer);
    const socket = this.client.transport.connect(this.client.wsUrl, [PROTOCOL]);
    this.socket = socket;
    this.acked = false;
    const ackTimer = setTimeout(() => {
      if (this.socket === socket && !this.acked) socket.close(4408, "connection_ack timeout");
    }, this.ackTimeoutMs);
    socket.onOpen(() => {
      const token = this.client._token();
      // The server picks the language of failure reasons and errors from connection_init.
      const payload = { "Accept-Language": this.client.locale };
      if (token) payload.Authorization = `Bearer ${token}`;
      this._raw({ type: "connection_init", payload }, socket);
    });
    socket.onMessage((data) => {
      if (this.socket !== socket) return;
      let message;
      try {
        message = JSON.parse(frameText(data));
      } catch {
        socket.close(4400, "invalid message");
        return;
      }
      this._receive(message, socket, ackTimer);
    });
    socket.onClose(({ code, reason } = {}) => {
      clearTimeout(ackTimer);
      if (this.socket !== socket) return;
      this.socket = null;
      this.acked = false;
      this._closed(code, reason);
    });
    socket.onError(() => {
      // A close event follows an error; the reconnect decision is made there.
    });
  }

  _receive(message, socket, ackTimer) {
    switch (message.type) {
      case "connection_ack":
        clearTimeout(ackTimer);
        this.acked = true;
        this.failures = 0;
        for (const id of this.active.keys()) this._send(id);
        return;
      case "ping":
        this._raw({ type: "pong", payload: message.payload }, socket);
        return;
      case "pong":
        return;
      case "next": {
        const sub = this.active.get(message.id);
        if (!sub) return;
        const payload = message.payload || {};
        const errors = payload.errors || [];
        if (errors.length) return this._failed(message.id, errors);
        this.reauthenticated = false;
        sub.sink.next && sub.sink.next(payload.data);
        return;
      }
      case "error":
        return this._failed(message.id, Array.isArray(message.payload) ? message.payload : [message.payload]);
      case "complete": {
        const sub = this.active.get(message.id);
        if (!sub) return;
        this.active.delete(message.id);
        sub.sink.complete && sub.sink.complete();
        if (this.active.size === 0) this._closeSocket(1000, "no subscriptions");
        return;
      }
      default:
        socket.close(4400, `unexpected message type ${message.type}`);
    }
  }

  async _failed(id, errors) {
    const sub = this.active.get(id);
    if (!sub) return;
    const first = errors.find((e) => e && e.extensions && e.extensions.code === "UNAUTHENTICATED") || errors[0] || {};
    const code = (first.extensions && first.extensions.code) || "GRAPHQL_ERROR";
    this.active.delete(id);
    const revoked = code === "UNAUTHENTICATED" && first.extensions.reason === "REVOKED";
    if (revoked) {
      // The session was logged out (here or on another device): the server closes the socket
      // with 4401 next. Its token is dropped now, so nothing is sent with it again, and the
      // client does not sign in by itself (see Client#logout).
      this.client._markSignedOut();
    } else if (code === "UNAUTHENTICATED" && !this.reauthenticated) {
      // The token was refused: sign in again, then subscribe again on a new connection (the
      // token travels in connection_init, so the old connection keeps the old one). The
      // subscription gets a new id: what the server still sends for the old one is ignored.
      this.reauthenticated = true;
      this.client.setSession(null);
      if (await this.client._signInAgain()) {
        sub.sent = false;
        this.active.set(String(this.nextId++), sub);
        for (const other of this.active.values()) other.sent = false;
        this._closeSocket(1000, "signed in again");
        this._ensureOpen();
        return;
      }
    }
    sub.sink.error && sub.sink.error(new CardcashError(code, first.message || code, { extensions: first.extensions }));
    // After a logout the server closes the socket itself (4401), once every operation on it
    // has had its error.
    if (this.active.size === 0 && !revoked) this._closeSocket(1000, "no subscriptions");
  }

  _closed(code, reason) {
    for (const sub of this.active.values()) sub.sent = false;
    if (this.active.size === 0) return;
    if (code === UNAUTHORIZED || code === FORBIDDEN) {
      this.client.setSession(null);
      this.client._signInAgain().then((ok) => (ok ? this._ensureOpen() : this._failAll("UNAUTHENTICATED", code)));
      return;
    }
    if (FATAL.has(code) || this.failures >= this.maxReconnects) {
      this._failAll("SOCKET_CLOSED", code, reason);
      return;
    }
    const delay = this.reconnectDelayMs * 2 ** this.failures;
    this.failures += 1;
    this._timer = setTimeout(() => this.active.size && this._ensureOpen(), delay);
  }

  _failAll(clientCode, closeCode, reason) {
    const message = clientMessage(clientCode, this.client.locale);
    for (const [id, sub] of [...this.active]) {
      this.active.delete(id);
      sub.sink.error && sub.sink.error(
        new CardcashError(clientCode, message, { extensions: { closeCode, reason } }),
      );
    }
  }

  _send(id) {
    const sub = this.active.get(id);
    if (!sub || sub.sent) return;
    sub.sent = true;
    this._raw({
      id,
      type: "subscribe",
      payload: { operationName: sub.operation.name, query: sub.operation.text, variables: sub.variables },
    });
  }

  _raw(message, socket = this.socket) {
    if (socket) socket.send(JSON.stringify(message));
  }

  _closeSocket(code, reason) {
    clearTimeout(this._timer);
    const socket = this.socket;
    this.socket = null;
    this.acked = false;
    if (socket) socket.close(code, reason);
  }
}
