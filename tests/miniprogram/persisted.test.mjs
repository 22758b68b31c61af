// Against a server that runs only the operations of its manifest (CARDCASH_PERSISTED_ONLY),
// the manifest built from clients/miniprogram/documents: the whole flow runs on hashes alone.
import assert from "node:assert/strict";
import { after, test } from "node:test";
import { documents as D } from "../../clients/miniprogram/src/index.js";
import { closeAll, offerAt, quote, watch, weChatClient, withdraw } from "./flow.mjs";

after(closeAll);

test("the package's documents are the manifest: no query text is ever sent", async () => {
  const { wx, client } = weChatClient({ user: `persisted-${process.pid}` });
  const { offer, debit } = await offerAt(client);
  const q = await quote(client, offer);
  const w = await withdraw(client, q.value, debit);
  assert.ok(w.ok, JSON.stringify(w));
  const live = watch(client, w.value.id);
  await live.first;
  await client.mutate(D.ConfirmWithdrawal, { withdrawalId: w.value.id, verificationCode: "123456" }, "Withdrawal");
  assert.equal((await live.done).seen.at(-1), "SUCCEEDED");
  await client.request(D.History, { first: 5 });
  assert.ok(wx.script.calls.length >= 6);
  assert.ok(wx.script.calls.every((c) => !c.hasQuery && c.status === 200), JSON.stringify(wx.script.calls.map((c) => [c.operationName, c.hasQuery])));
});

test("an operation outside the manifest is refused with its code", async () => {
  const { client } = weChatClient({ user: `outside-${process.pid}` });
  const custom = { name: "Custom", type: "query", text: "query Custom { banks(channel: WECHAT) { code } }", hash: null };
  await assert.rejects(client.request(custom, {}, { auth: false }), (err) => err.code === "PERSISTED_QUERY_NOT_ALLOWED");
});
