// The client on a fake WeChat runtime against a running cardcash: sign-in, persisted queries,
// the flow with live status (binary and text frames), what a flaky network does to it.
import assert from "node:assert/strict";
import { after, test } from "node:test";
import { CardcashError, documents as D, idempotencyKey, result } from "../../clients/miniprogram/src/index.js";
import { closeAll, names, offerAt, quote, watch, weChatClient, withdraw } from "./flow.mjs";

after(closeAll);

let users = 0;
const user = (label) => `wx-${label}-${process.pid}-${++users}`;

test("signs in with wx.login and sends each document's text once, then its hash only", async () => {
  const { wx, client } = weChatClient({ user: user("apq") });
  const { banks } = await client.request(D.ServicePage, { channel: "WECHAT" });
  assert.equal(wx.logins, 1);
  assert.ok(client.session.token);
  // Each operation goes as its hash; the text follows only when the server did not know it.
  const calls = wx.script.calls;
  assert.deepEqual([...new Set(names(calls))], ["Login", "ServicePage"]);
  calls.forEach((call, i) => {
    assert.equal(call.extensions.persistedQuery.sha256Hash, D[call.operationName].hash);
    if (call.hasQuery) {
      assert.equal(calls[i - 1].operationName, call.operationName);
      assert.match(calls[i - 1].answer, /PERSISTED_QUERY_NOT_FOUND/);
    } else {
      assert.ok(i === 0 || calls[i - 1].operationName !== call.operationName);
    }
  });
  // Usable banks first, then the ones still onboarding ("即将上线").
  const usable = banks.map((b) => b.usable);
  assert.ok(usable.includes(true) && usable.includes(false));
  assert.deepEqual(usable, [...usable].sort((a, b) => Number(b) - Number(a)));
  assert.ok(banks.filter((b) => !b.usable).every((b) => b.availability === "ONBOARDING"));

  wx.script.calls.length = 0;
  await client.request(D.ServicePage, { channel: "WECHAT" });
  assert.deepEqual(wx.script.calls.map((c) => [c.operationName, c.hasQuery, c.status]), [["ServicePage", false, 200]]);
  // The session is kept in wx storage: a new client (the next launch) does not sign in.
  const again = weChatClient(wx).client;
  await again.request(D.History, { first: 5 });
  assert.equal(wx.logins, 1);
});

for (const frames of ["binary", "text", "as-sent"]) {
  test(`the whole flow with live status, socket frames handed over as ${frames}`, async () => {
    const { wx, client } = weChatClient({ user: user(frames), frames });
    const { offer, debit } = await offerAt(client);
    assert.ok(offer.repaymentOptions.length > 0);
    const q = await quote(client, offer);
    assert.ok(q.ok, JSON.stringify(q));
    assert.match(q.value.apr, /^\d+\.\d{2}$/);
    const w = await withdraw(client, q.value, debit);
    assert.ok(w.ok, JSON.stringify(w));
    assert.equal(w.value.status, "VERIFICATION_REQUIRED");

    const live = watch(client, w.value.id);
    await live.first;
    const wrong = await client.mutate(D.ConfirmWithdrawal, { withdrawalId: w.value.id, verificationCode: "000000" }, "Withdrawal");
    assert.equal(wrong.ok, false);
    assert.equal(wrong.error.code, "VERIFICATION_FAILED");
    assert.equal(wrong.error.typename, "VerificationError");
    assert.ok(wrong.error.attemptsLeft >= 1 && wrong.error.message);
    const right = await client.mutate(D.ConfirmWithdrawal, { withdrawalId: w.value.id, verificationCode: "123456" }, "Withdrawal");
    assert.ok(right.ok, JSON.stringify(right));
    const { seen, withdrawal } = await live.done;
    assert.equal(seen[0], "VERIFICATION_REQUIRED");
    assert.equal(seen.at(-1), "SUCCEEDED");
    assert.ok(withdrawal.events.some((e) => e.toStatus === "SUCCEEDED"));

    assert.ok(wx.socket.sent.length > 0 && wx.socket.sent.every((k) => k === "text"), "the client sends text frames");
    const init = wx.socket.messages[0];
    assert.equal(init.type, "connection_init");
    assert.equal(init.payload["Accept-Language"], "zh-CN");
    assert.match(init.payload.Authorization, /^Bearer /);
    const delivered = new Set(wx.socket.delivered);
    if (frames === "binary") assert.deepEqual([...delivered], ["ArrayBuffer"]);
    if (frames === "text") assert.deepEqual([...delivered], ["string"]);

    const history = await client.request(D.History, { first: 5 });
    assert.equal(history.viewer.withdrawals.edges[0].node.id, w.value.id);
  });
}

for (const failure of ["lost", "stopped", "timeout", "network"]) {
  test(`a withdrawal whose request ended in "${failure}" is sent again with the same key and made once`, async () => {
    const { wx, client } = weChatClient({ user: user(failure) });
    const { offer, debit } = await offerAt(client);
    const q = await quote(client, offer);
    wx.script.next((call) => (call.operationName === "CreateWithdrawal" ? failure : undefined));
    const w = await withdraw(client, q.value, debit);
    assert.ok(w.ok, JSON.stringify(w));

    const sends = wx.script.calls.filter((c) => c.operationName === "CreateWithdrawal");
    const keys = new Set(sends.map((c) => c.variables.input.idempotencyKey));
    assert.deepEqual([...keys], [w.idempotencyKey]);
    assert.ok(sends.some((c) => c.behaviour === failure));
    if (failure === "lost" || failure === "stopped") {
      // The server made it on the first attempt; the retry got that very withdrawal back.
      const lost = sends.find((c) => c.behaviour === failure);
      assert.equal(JSON.parse(lost.answer).data.createWithdrawal.id, w.value.id);
    }
    const history = await client.request(D.History, { first: 10 });
    assert.deepEqual(history.viewer.withdrawals.edges.map((e) => e.node.id), [w.value.id]);
  });
}

test("a network that stays down ends in a coded error in the user's language", async () => {
  const { wx, client } = weChatClient({ user: user("down") });
  await client.login();
  wx.script.next("network", "network", "network");
  await assert.rejects(client.request(D.ServicePage, { channel: "WECHAT" }), (err) => {
    assert.ok(err instanceof CardcashError);
    assert.equal(err.code, "NETWORK_ERROR");
    assert.match(err.message, /网络/);
    return true;
  });
  assert.equal(wx.script.calls.filter((c) => c.operationName === "ServicePage").length, 3);
  const en = weChatClient(wx, { locale: "en" }).client;
  wx.script.next("network", "network", "network");
  await assert.rejects(en.request(D.ServicePage, { channel: "WECHAT" }), /network is unreachable/);

  // A money request still unanswered after the retries hands its key back for a later try.
  const { offer, debit } = await offerAt(client);
  const q = await quote(client, offer);
  wx.script.next("network", "network", "network");
  const key = idempotencyKey();
  await assert.rejects(withdraw(client, q.value, debit, { idempotencyKey: key }), (err) => err.idempotencyKey === key);
  const later = await withdraw(client, q.value, debit, { idempotencyKey: key });
  assert.ok(later.ok);
});

for (const failure of ["lost", "stopped"]) {
test(`a mutation that is not safe to repeat is not sent twice after "${failure}": its outcome is unknown`, async () => {
  const { wx, client } = weChatClient({ user: user(`cancel-${failure}`) });
  const { offer, debit } = await offerAt(client);
  const w = await withdraw(client, (await quote(client, offer)).value, debit);
  wx.script.next((call) => (call.operationName === "CancelWithdrawal" ? failure : undefined));
  await assert.rejects(client.mutate(D.CancelWithdrawal, { id: w.value.id }, "Withdrawal"), (err) => {
    assert.equal(err.code, "OUTCOME_UNKNOWN");
    return true;
  });
  const ran = wx.script.calls.filter((c) => c.operationName === "CancelWithdrawal" && !/PERSISTED_QUERY_NOT_FOUND/.test(c.answer));
  assert.equal(ran.length, 1);
  // It did happen: the page must look before acting again, which is what the code says.
  const { withdrawal } = await client.request(D.Withdrawal, { id: w.value.id });
  assert.equal(withdrawal.status, "CANCELLED");
});
}

test("a token the server refuses (UNAUTHENTICATED) signs in again, once for concurrent requests", async () => {
  const { wx, client } = weChatClient({ user: user("forged") });
  await client.login();
  const good = client.session;
  client.setSession({ ...good, token: `${good.token.slice(0, -6)}AAAAAA` });
  const pages = await Promise.all([
    client.request(D.History, { first: 1 }),
    offerAt(client),
    client.request(D.BankOffer, { code: "SPABANK", channel: "WECHAT" }),
  ]);
  assert.equal(pages.length, 3);
  assert.equal(wx.logins, 2, "one sign-in for the three refused requests");
  const refused = wx.script.calls.filter((c) => c.status === 200 && /UNAUTHENTICATED/.test(c.answer || ""));
  assert.ok(refused.length >= 1);
  assert.notEqual(client.session.token, good.token.slice(0, -6) + "AAAAAA");
  assert.equal(JSON.parse(wx.store.get("cardcash.session")).token, client.session.token);
});

test("a gateway's 401 signs in again too", async () => {
  const { wx, client } = weChatClient({ user: user("401") });
  await client.login();
  wx.script.next("401");
  const data = await client.request(D.History, { first: 1 });
  assert.ok(data.viewer.id);
  assert.equal(wx.logins, 2);
  const history = wx.script.calls.filter((c) => c.operationName === "History");
  assert.deepEqual(history.map((c) => c.behaviour), ["401", "pass"]);
});

test("a subscription whose token is refused signs in again and subscribes again", async () => {
  const { wx, client } = weChatClient({ user: user("ws-auth"), frames: "binary" });
  const { offer, debit } = await offerAt(client);
  const w = await withdraw(client, (await quote(client, offer)).value, debit);
  const good = client.session;
  client.setSession({ ...good, token: `${good.token.slice(0, -6)}AAAAAA` });
  const live = watch(client, w.value.id);
  await live.first;
  assert.equal(wx.logins, 2, "signed in again after the socket refused the token");
  const right = await client.mutate(D.ConfirmWithdrawal, { withdrawalId: w.value.id, verificationCode: "123456" }, "Withdrawal");
  assert.ok(right.ok);
  const { seen } = await live.done;
  assert.equal(seen.at(-1), "SUCCEEDED");
  assert.ok(wx.socket.sockets.length >= 2, "a new connection carries the new token");
});

test("a socket that drops is reopened and the subscription sent again", async () => {
  const { wx, client } = weChatClient({ user: user("drop") });
  const { offer, debit } = await offerAt(client);
  const w = await withdraw(client, (await quote(client, offer)).value, debit);
  const live = watch(client, w.value.id);
  await live.first;
  wx.socket.sockets[0].terminate();
  await client.mutate(D.ConfirmWithdrawal, { withdrawalId: w.value.id, verificationCode: "123456" }, "Withdrawal");
  const { seen } = await live.done;
  assert.equal(seen.at(-1), "SUCCEEDED");
  assert.equal(wx.socket.sockets.length, 2);
});

test("no more than ten requests in flight, as wx.request allows", async () => {
  const { wx, client } = weChatClient({ user: user("burst") });
  await client.login();
  const pages = await Promise.all(
    Array.from({ length: 25 }, (_, i) => client.request(D.History, { first: 1 + (i % 3) })),
  );
  assert.equal(pages.length, 25);
  assert.ok(pages.every((p) => p.viewer.id));
  assert.equal(wx.maxInFlight, 10);
  assert.equal(wx.refused, 0, "the runtime refused requests over its limit");
  assert.ok(!wx.script.calls.some((c) => c.behaviour !== "pass"));
});

test("typed errors: a union's error member becomes a coded error with the server's message", async () => {
  const { client } = weChatClient({ user: user("typed") });
  const { offer } = await offerAt(client);
  const small = await quote(client, offer, { amount: "1.00" });
  assert.equal(small.ok, false);
  assert.equal(small.error.code, "AMOUNT_OUT_OF_RANGE");
  assert.equal(small.error.typename, "AmountError");
  assert.ok(small.error.message.length > 0);
  const tenor = await quote(client, offer, { periods: 7 });
  assert.equal(tenor.ok, false);
  assert.equal(tenor.error.code, "UNSUPPORTED_TENOR");
  const login = await client.login({ code: "sandbox:" });
  assert.equal(login.ok, false);
  assert.ok(login.error.code, JSON.stringify(login));
  assert.throws(() => result({ __typename: "Quote" }, "Withdrawal"), /__typename/);
});
