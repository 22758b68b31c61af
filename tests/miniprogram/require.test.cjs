// The package loads with require() as well as import (Node >= 20.19 loads ES modules that
// have no top-level await synchronously; mini-program tool chains compile them to CommonJS).
const assert = require("node:assert/strict");
const { createHash } = require("node:crypto");
const { readFileSync } = require("node:fs");
const path = require("node:path");
const { test } = require("node:test");

const root = path.join(__dirname, "..", "..", "clients", "miniprogram");

test("require() gives the same API as import", () => {
  const client = require(root);
  for (const name of ["createClient", "wechat", "alipay", "browser", "result", "idempotencyKey", "documents"]) {
    assert.ok(client[name], name);
  }
  const doc = client.documents.CreateWithdrawal;
  const text = readFileSync(path.join(root, "documents", "CreateWithdrawal.graphql"), "utf8");
  assert.equal(doc.text, text);
  assert.equal(doc.hash, createHash("sha256").update(text).digest("hex"));
  assert.match(client.idempotencyKey(), /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
});

test("binary frames decode as UTF-8 without TextDecoder too", () => {
  const { frameText } = require(root);
  const { decodeUtf8, base64Buffer } = require(path.join(root, "src", "utf8.js"));
  const text = '{"type":"next","payload":{"data":{"bank":"光大银行 🏦"}}}';
  const bytes = new TextEncoder().encode(text);
  assert.equal(frameText(bytes.buffer), text);
  assert.equal(decodeUtf8(bytes), text);
  assert.equal(frameText(base64Buffer(Buffer.from(text).toString("base64"))), text);
  assert.equal(decodeUtf8(new Uint8Array([0xe5, 0x85])), "\ufffd\ufffd");
});
