// What a front end on the npm graphql-ws client (under Node, over `ws`) receives when an
// operation goes wrong: each case runs on the socket of its connection, in order, and is
// reported as it ended (complete, or the error sink's value: GraphQL errors, or the socket's
// close event), with the payloads seen before.
// Usage: node error_contract.mjs URL JSON, JSON = {connections: {name: connectionParams},
// cases: [{name, connection, request, logoutAfterFirst?: token}]}: with logoutAfterFirst,
// that token's session is logged out over HTTP once the operation's first payload arrived.
import { createClient } from "graphql-ws";
import WebSocket from "ws";
import { gql, report } from "./client.mjs";

const url = process.argv[2];
const given = JSON.parse(process.argv[3]);
const wsUrl = url.replace(/^http/, "ws") + "/graphql";

/** One client a connection, counting its sockets and how they closed. */
function connection(params) {
  const stats = { opened: 0, closed: [] };
  const client = createClient({
    url: wsUrl,
    webSocketImpl: WebSocket,
    connectionParams: params,
    retryAttempts: 0,
    lazy: true,
    lazyCloseTimeout: 60000, // one socket for the connection's cases, one after the other
    on: {
      connected: () => (stats.opened += 1),
      closed: (event) => stats.closed.push({ code: event?.code, reason: event?.reason }),
    },
  });
  return { client, stats };
}

const LOGOUT = "mutation { logout { __typename ... on LogoutSuccess { alreadyLoggedOut } } }";

function run(client, request, { logoutAfterFirst, ms = 20000 } = {}) {
  const seen = [];
  return new Promise((resolve) => {
    const timer = setTimeout(() => resolve({ seen, end: "timeout" }), ms);
    client.subscribe(request, {
      next: (payload) => {
        seen.push(payload);
        if (logoutAfterFirst && seen.length === 1) gql(url, LOGOUT, {}, { token: logoutAfterFirst });
      },
      error: (err) => {
        clearTimeout(timer);
        resolve(
          Array.isArray(err)
            ? { seen, end: "error", errors: err }
            : { seen, end: "closed", code: err?.code, reason: err?.reason, message: err?.message },
        );
      },
      complete: () => {
        clearTimeout(timer);
        resolve({ seen, end: "complete" });
      },
    });
  });
}

async function main() {
  const connections = {};
  for (const [name, params] of Object.entries(given.connections)) {
    connections[name] = connection(params);
  }
  const results = {};
  for (const { name, connection: which, request, logoutAfterFirst } of given.cases) {
    results[name] = await run(connections[which].client, request, { logoutAfterFirst });
  }
  const sockets = {};
  for (const [name, { client, stats }] of Object.entries(connections)) {
    sockets[name] = { opened: stats.opened, closed: [...stats.closed] }; // before dispose's own
    await client.dispose();
  }
  report({ ok: true, results, sockets });
}

main().catch((err) => report({ ok: false, error: String(err?.stack ?? err) }));
