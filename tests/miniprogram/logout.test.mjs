// Signing out with the client: logout ends the session on the server and the client does not
// sign in again by itself; logoutEverywhere from another device ends this device's live status
// with UNAUTHENTICATED (reason REVOKED) and the server's close 4401, and the dead token is
// never sent again.
import assert from "node:assert/strict";
import { after, test } from "node:test";
import { CardcashError, documents as D } from "../../clients/miniprogram/src/index.js";
import { BASE, closeAll, names, offerAt, quote, weChatClient, withdraw } from "./flow.mjs";

after(closeAll);

let users = 0;
const user = (label) => `wx-${label}-${process.pid}-${++users}`;
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/** What the server says of a token now: the viewer's id, or the UNAUTHENTICATED reason. */
async function tokenSays(token) {
  const response = await fetch(`${BASE}/graphql`, {
    method: "POST",
    headers: { "content-type": "application/json", authorization: `Bearer ${token}` },
    body: JSON.stringify({ query: "{ viewer { id } }" }),
  });
  const body = await response.json();
  return body.data?.viewer?.id ?? body.errors?.[0]?.extensions?.reason;
}

test("logout ends the session on the server, and the client does not sign in again by itself", async () => {
  const { wx, client } = weChatClient({ user: user("logout") });
  await client.request(D.History, { first: 5 });
  assert.equal(wx.logins, 1);
  const dead = client.session.token;
  const viewer = client.session.viewer.id;

  const r = await client.logout();
  assert.ok(r.ok, JSON.stringify(r));
  assert.equal(r.value.__typename, "LogoutSuccess");
  assert.equal(r.value.alreadyLoggedOut, false);
  assert.match(r.value.message, /[\u4e00-\u9fff]/); // the client's locale: zh-CN
  assert.equal(client.session, null);
  assert.equal(client.signedOut, true);
  assert.equal(await tokenSays(dead), "REVOKED");

  // The next requests go without a token and do not sign in: the service page still lists
  // the banks, its offers say a user is needed (UNAUTHENTICATED, MISSING).
  wx.script.calls.length = 0;
  await assert.rejects(client.request(D.ServicePage, { channel: "WECHAT" }), (err) => {
    assert.ok(err instanceof CardcashError);
    assert.equal(err.code, "UNAUTHENTICATED");
    assert.equal(err.extensions.reason, "MISSING");
    assert.ok(err.data.banks.length > 0);
    return true;
  });
  await assert.rejects(client.request(D.History, { first: 5 }), (err) => err.code === "UNAUTHENTICATED");
  assert.equal(wx.logins, 1, "not signed in again by itself");
  assert.ok(wx.script.calls.length >= 2 && wx.script.calls.every((c) => !c.headers.authorization), "no token sent");
  // The next launch (the same storage) is signed out too.
  const relaunched = weChatClient(wx).client;
  assert.equal(relaunched.signedOut, true);
  await assert.rejects(relaunched.request(D.History, { first: 5 }), (err) => err.code === "UNAUTHENTICATED");
  assert.equal(wx.logins, 1);

  // Signing in when the user asks works, and the client signs in by itself again after it.
  const again = await client.login();
  assert.ok(again.ok);
  assert.equal(client.signedOut, false);
  assert.equal(client.session.viewer.id, viewer);
  assert.notEqual(client.session.token, dead);
  await client.request(D.History, { first: 5 });
  // Logging out twice, or with no session, is not an error.
  assert.equal((await client.logout()).ok, true);
  assert.deepEqual(await client.logout(), { ok: true, value: null });
});

test("logoutEverywhere on another device ends this one's socket with 4401, and its token is not sent again", async () => {
  const name = user("everywhere");
  const { wx, client } = weChatClient({ user: name, frames: "binary" });
  const { offer, debit } = await offerAt(client);
  const w = await withdraw(client, (await quote(client, offer)).value, debit);
  assert.ok(w.ok, JSON.stringify(w));
  const dead = client.session.token;

  const seen = [];
  let failed;
  const ended = new Promise((resolve) => (failed = resolve));
  client.subscribe(D.WithdrawalStatus, { id: w.value.id }, {
    next: (data) => seen.push(data.withdrawal.status),
    error: failed,
    complete: () => failed(new Error("completed")),
  });
  while (!seen.length) await sleep(20);
  const socket = wx.socket.sockets[0];
  const closed = new Promise((resolve) => socket.on("close", (code, reason) => resolve({ code, reason: String(reason) })));

  // The same user on another phone signs out everywhere.
  const other = weChatClient({ user: name }).client;
  await other.request(D.History, { first: 1 });
  const r = await other.logout({ everywhere: true });
  assert.ok(r.ok && r.value.__typename === "LogoutEverywhereSuccess", JSON.stringify(r));

  const error = await ended;
  assert.ok(error instanceof CardcashError, String(error));
  assert.equal(error.code, "UNAUTHENTICATED");
  assert.equal(error.extensions.reason, "REVOKED");
  assert.match(error.message, /[\u4e00-\u9fff]/);
  assert.equal((await closed).code, 4401);
  assert.deepEqual(seen, ["VERIFICATION_REQUIRED"]);

  // Nothing goes out with the dead token again: no new socket, no request, no silent sign-in.
  const logins = wx.logins;
  await sleep(2500); // past the client's reconnect delays
  assert.equal(wx.socket.sockets.length, 1, "the socket is not reopened");
  const inits = wx.socket.messages.filter((m) => m && m.type === "connection_init");
  assert.deepEqual(inits.map((m) => m.payload.Authorization), [`Bearer ${dead}`]);
  assert.equal(client.session, null);
  assert.equal(client.signedOut, true);
  wx.script.calls.length = 0;
  await assert.rejects(client.request(D.History, { first: 5 }), (err) => err.code === "UNAUTHENTICATED");
  assert.equal(wx.logins, logins);
  assert.deepEqual(names(wx.script.calls).filter((n) => n === "Login"), []);
  assert.ok(wx.script.calls.every((c) => c.headers.authorization !== `Bearer ${dead}`));
  assert.equal(await tokenSays(dead), "REVOKED");
});
