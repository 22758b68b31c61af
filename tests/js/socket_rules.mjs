// The WebSocket's rules as the npm graphql-ws client meets them (under Node, over `ws`):
// a present but expired token is refused at connection_init with 4403 before any ack;
// a mutation is refused with HTTP_REQUIRED and a query runs; a subscription whose token
// expires ends through the client's error sink with UNAUTHENTICATED.
// Usage: node socket_rules.mjs URL JSON, JSON = {token, expired, shortLived, withdrawalId}.
import { createClient } from "graphql-ws";
import WebSocket from "ws";
import { report } from "./client.mjs";

const url = process.argv[2];
const given = JSON.parse(process.argv[3]);
const wsUrl = url.replace(/^http/, "ws") + "/graphql";

function client(token, events) {
  return createClient({
    url: wsUrl,
    webSocketImpl: WebSocket,
    connectionParams: { Authorization: `Bearer ${token}` },
    retryAttempts: 0,
    lazy: true,
    on: events,
  });
}

/** Every payload of one operation, and how it ended: complete, or the error sink's value. */
function run(c, request, ms = 15000) {
  const seen = [];
  return new Promise((resolve) => {
    const timer = setTimeout(() => resolve({ seen, end: "timeout" }), ms);
    c.subscribe(request, {
      next: (payload) => seen.push(payload),
      error: (err) => {
        clearTimeout(timer);
        resolve({ seen, end: "error", error: Array.isArray(err) ? err : { code: err?.code, reason: err?.reason } });
      },
      complete: () => {
        clearTimeout(timer);
        resolve({ seen, end: "complete" });
      },
    });
  });
}

async function main() {
  // 1. An expired token: closed with 4403, never acknowledged.
  let acked = false;
  const refused = client(given.expired, { connected: () => (acked = true) });
  const refusal = await run(refused, { query: "{ __typename }" });
  await refused.dispose();

  // 2. A good token: a mutation is refused, a query runs on the same socket.
  const good = client(given.token);
  const mutation = await run(good, {
    query: `mutation { login(input: {channel: ALIPAY, code: "sandbox:js-socket-other"}) { __typename } }`,
  });
  const query = await run(good, { query: "query Banks { banks(channel: WECHAT) { code } }" });
  await good.dispose();

  // 3. A token that expires in a few seconds ends the subscription with an error.
  const short = client(given.shortLived);
  const watched = await run(short, {
    query: "subscription($id: ID!) { withdrawal(id: $id) { id status } }",
    variables: { id: given.withdrawalId },
  });
  await short.dispose();

  const codes = (r) => (Array.isArray(r.error) ? r.error.map((e) => e.extensions?.code) : []);
  report({
    ok:
      !acked &&
      refusal.end === "error" &&
      refusal.error?.code === 4403 &&
      mutation.end === "error" &&
      JSON.stringify(codes(mutation)) === JSON.stringify(["HTTP_REQUIRED"]) &&
      query.end === "complete" &&
      query.seen[0]?.data?.banks?.some((b) => b.code === "CEB") &&
      watched.seen[0]?.data?.withdrawal?.status === "VERIFICATION_REQUIRED" &&
      watched.end === "error" &&
      JSON.stringify(codes(watched)) === JSON.stringify(["UNAUTHENTICATED"]),
    acked,
    refusal,
    mutation,
    query: { end: query.end, count: query.seen.length },
    watched,
  });
}

main().catch((err) => report({ ok: false, error: String(err?.stack ?? err) }));
