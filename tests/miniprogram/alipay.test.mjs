// The client on a fake Alipay runtime against a running cardcash: my.request with the JSON
// content type, non-2xx answers through `fail` (error 19), both socket APIs.
import assert from "node:assert/strict";
import { after, test } from "node:test";
import { documents as D } from "../../clients/miniprogram/src/index.js";
import { alipayClient, closeAll, offerAt, quote, watch, withdraw } from "./flow.mjs";

after(closeAll);

let users = 0;
const user = (label) => `ali-${label}-${process.pid}-${++users}`;

const cases = [
  { socketApi: "global", frames: "binary" }, // classic API: binary frames as base64 + isBuffer
  { socketApi: "global", frames: "text" },
  { socketApi: "task", frames: "binary" },
  { socketApi: "task", frames: "text" },
];

for (const { socketApi, frames } of cases) {
  test(`the flow on Alipay, ${socketApi} socket API, ${frames} frames`, async () => {
    const { my, client } = alipayClient({ user: user(`${socketApi}-${frames}`), socketApi, frames });
    const { offer, debit } = await offerAt(client, "SPABANK");
    assert.equal(my.lastScopes, "auth_base");
    const q = await quote(client, offer, { repaymentType: "SINGLE_MONTH", periods: 1 });
    assert.ok(q.ok, JSON.stringify(q));
    const w = await withdraw(client, q.value, debit);
    assert.ok(w.ok, JSON.stringify(w));
    const live = watch(client, w.value.id);
    await live.first;
    const confirmed = await client.mutate(D.ConfirmWithdrawal, { withdrawalId: w.value.id, verificationCode: "123456" }, "Withdrawal");
    assert.ok(confirmed.ok);
    const { seen } = await live.done;
    assert.equal(seen.at(-1), "SUCCEEDED");
    // Every request carried the JSON content type (Alipay's default is a form body: 415).
    assert.ok(my.script.calls.every((c) => c.headers["content-type"] === "application/json"));
    assert.ok(my.script.calls.every((c) => c.status === 200));
    assert.ok(my.socket.sent.every((k) => k === "text"));
    const delivered = new Set(my.socket.delivered);
    assert.deepEqual([...delivered], [frames === "binary" ? "ArrayBuffer" : "string"]);
  });
}

test("a 401 reported through fail (error 19) signs in again with my.getAuthCode", async () => {
  const { my, client } = alipayClient({ user: user("401") });
  await client.login();
  my.script.next("401");
  const data = await client.request(D.History, { first: 1 });
  assert.ok(data.viewer.id);
  assert.equal(my.logins, 2);
});

test("a withdrawal timed out (error 13) after the server made it is answered from the same key", async () => {
  const { my, client } = alipayClient({ user: user("lost") });
  const { offer, debit } = await offerAt(client, "CEB");
  const q = await quote(client, offer);
  my.script.next((call) => (call.operationName === "CreateWithdrawal" ? "lost" : undefined));
  const w = await withdraw(client, q.value, debit);
  assert.ok(w.ok);
  const sends = my.script.calls.filter((c) => c.operationName === "CreateWithdrawal");
  assert.equal(new Set(sends.map((c) => c.variables.input.idempotencyKey)).size, 1);
  const history = await client.request(D.History, { first: 10 });
  assert.deepEqual(history.viewer.withdrawals.edges.map((e) => e.node.id), [w.value.id]);
});

test("an answer with a 4xx status reported through fail is read from its body", async () => {
  const { my, client } = alipayClient({ user: user("4xx") });
  await client.login();
  // A gateway refusing the request with a GraphQL-shaped 429 body.
  my.script.next(() => "429");
  await assert.rejects(client.request(D.History, { first: 1 }, { retry: false }), (err) => {
    assert.equal(err.status, 429);
    assert.equal(err.code, "RATE_LIMITED");
    return true;
  });
});
