// A withdrawal's live status through the graphql-ws client (under Node, over `ws`), as a web
// front end subscribes: the owner sees VERIFICATION_REQUIRED -> PROCESSING -> SUCCEEDED; a
// stranger subscribed to the same id sees nothing of it. Usage: node withdrawal_status.mjs URL
import { createClient } from "graphql-ws";
import WebSocket from "ws";
import { gql, report, signIn } from "./client.mjs";

const url = process.argv[2];
const wsUrl = url.replace(/^http/, "ws") + "/graphql";

const SUBSCRIBE = `subscription($id: ID!) { withdrawal(id: $id) { id status } }`;

/** The first server frame after connection_init, raw: is it text, and what does it say? */
function firstFrame() {
  return new Promise((resolve, reject) => {
    const socket = new WebSocket(wsUrl, "graphql-transport-ws");
    socket.on("open", () => socket.send(JSON.stringify({ type: "connection_init" })));
    socket.on("message", (data, isBinary) => {
      resolve({ isBinary, message: JSON.parse(data.toString("utf8")) });
      socket.close();
    });
    socket.on("error", reject);
  });
}

/** Subscribe with graphql-ws; `seen` gets every payload, `done` settles on complete/error. */
function watch(token, id) {
  const seen = [];
  const client = createClient({
    url: wsUrl,
    webSocketImpl: WebSocket,
    connectionParams: { Authorization: `Bearer ${token}` },
    retryAttempts: 0,
  });
  const done = new Promise((resolve, reject) => {
    client.subscribe(
      { query: SUBSCRIBE, variables: { id } },
      {
        next: (payload) => seen.push(payload),
        error: (err) => reject(err instanceof Error ? err : new Error(JSON.stringify(err?.reason ?? err))),
        complete: resolve,
      },
    );
  });
  return { seen, done, client };
}

function within(promise, ms, what) {
  return Promise.race([
    promise,
    new Promise((_, reject) => setTimeout(() => reject(new Error(`timed out: ${what}`)), ms)),
  ]);
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

async function main() {
  const frame = await firstFrame();
  const owner = await signIn(url, "js-owner");
  const stranger = await signIn(url, "js-stranger");
  const cards = (await gql(url, `{ viewer { creditCards { id bankCode } debitCards { id } } }`, {}, { token: owner }))
    .data.viewer;
  const credit = cards.creditCards.find((c) => c.bankCode === "CEB");
  const quote = (await gql(
    url,
    `mutation($input: CreateQuoteInput!) { createQuote(input: $input) {
       __typename ... on Quote { id disclosure { version digest } dataSharingConsent { version } }
       ... on Error { code message } } }`,
    { input: { bankCode: "CEB", creditCardId: credit.id, amount: "2000.00", repaymentType: "INSTALLMENT", periods: 6 } },
    { token: owner },
  )).data.createQuote;
  if (quote.__typename !== "Quote") throw new Error(`quote: ${JSON.stringify(quote)}`);
  const created = (await gql(
    url,
    `mutation($input: CreateWithdrawalInput!) { createWithdrawal(input: $input) {
       __typename ... on Withdrawal { id status } ... on Error { code message } } }`,
    { input: {
      quoteId: quote.id, debitCardId: cards.debitCards[0].id, purpose: "CONSUMPTION",
      acceptedDisclosureVersion: quote.disclosure.version, acceptedDisclosureDigest: quote.disclosure.digest,
      acceptedAt: new Date().toISOString(), acceptedDataSharingVersion: quote.dataSharingConsent.version,
      idempotencyKey: crypto.randomUUID(),
    } },
    { token: owner },
  )).data.createWithdrawal;
  if (created.__typename !== "Withdrawal") throw new Error(`withdrawal: ${JSON.stringify(created)}`);

  const mine = watch(owner, created.id);
  const theirs = watch(stranger, created.id);
  // Wait for the first push (the status now) before moving the withdrawal on.
  for (let i = 0; i < 200 && mine.seen.length === 0; i++) await sleep(25);
  const beforeConfirm = mine.seen.map((p) => p.data?.withdrawal?.status);
  const confirmed = (await gql(
    url,
    `mutation($id: ID!) { confirmWithdrawal(input: {withdrawalId: $id, verificationCode: "123456"}) {
       __typename ... on Withdrawal { status } ... on Error { code message } } }`,
    { id: created.id },
    { token: owner },
  )).data.confirmWithdrawal;
  await within(mine.done, 20000, "the owner's subscription to complete");
  await within(theirs.done, 5000, "the stranger's subscription to complete");
  const statuses = mine.seen.map((p) => p.data?.withdrawal?.status);
  const strangerSaw = theirs.seen.map((p) => p.data?.withdrawal ?? null);
  await Promise.all([mine.client.dispose(), theirs.client.dispose()]);
  const expected = ["VERIFICATION_REQUIRED", "PROCESSING", "SUCCEEDED"];
  report({
    ok:
      !frame.isBinary &&
      frame.message.type === "connection_ack" &&
      JSON.stringify(beforeConfirm) === JSON.stringify(["VERIFICATION_REQUIRED"]) &&
      confirmed.status === "PROCESSING" &&
      JSON.stringify(statuses) === JSON.stringify(expected) &&
      mine.seen.every((p) => !p.errors) &&
      strangerSaw.every((w) => w === null),
    frame,
    beforeConfirm,
    confirmed,
    statuses,
    ownerPayloads: mine.seen,
    strangerPayloads: theirs.seen,
  });
}

main().catch((err) => report({ ok: false, error: String(err?.stack ?? err) }));
