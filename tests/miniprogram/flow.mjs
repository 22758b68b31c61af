// The cash-advance flow as a mini-program drives it through the client, shared by the tests.
import assert from "node:assert/strict";
import { createClient, documents as D, result, wechat, alipay } from "../../clients/miniprogram/src/index.js";
import { fakeMy, fakeWx, openSockets } from "./fakes.mjs";

const clients = new Set();

/** Ends every client's subscriptions and every socket: call from node:test's after(). */
export function closeAll() {
  for (const client of clients) client.subscriptions.close();
  for (const ws of openSockets) ws.terminate();
}

export const BASE = process.env.CARDCASH_URL;
if (!BASE) throw new Error("CARDCASH_URL is not set: run through tests/miniprogram/test_client.py");
export const URL_ = `${BASE}/graphql`;

/** A client on a fake WeChat runtime; fast retries so the tests do not wait. */
export function weChatClient(fake = {}, options = {}) {
  const wx = fake.request ? fake : fakeWx(fake);
  const client = createClient({
    url: URL_, transport: wechat(wx), channel: "WECHAT", retryDelayMs: 20, timeoutMs: 4000, ...options,
  });
  clients.add(client);
  return { wx, client };
}

export function alipayClient(fake = {}, options = {}) {
  const my = fake.request ? fake : fakeMy(fake);
  const client = createClient({
    url: URL_, transport: alipay(my), channel: "ALIPAY", retryDelayMs: 20, timeoutMs: 4000, ...options,
  });
  clients.add(client);
  return { my, client };
}

/** The bank's offer and the user's own debit card. */
export async function offerAt(client, code = "CEB") {
  const data = await client.request(D.BankOffer, { code, channel: client.channel });
  const offer = result(data.bank.offer, "CashAdvanceOffer");
  assert.ok(offer.ok, JSON.stringify(offer));
  return { offer: offer.value, debit: data.viewer.debitCards[0] };
}

/** A trial calculation; the typed result. */
export async function quote(client, offer, { amount = "1000.00", repaymentType = "INSTALLMENT", periods = 3 } = {}) {
  return client.mutate(
    D.CreateQuote,
    { input: { bankCode: offer.bankCode, creditCardId: offer.creditCardId, amount, repaymentType, periods } },
    "Quote",
  );
}

/** Withdraw as quoted (the user accepted the disclosure and picked a purpose). */
export function withdraw(client, quoteValue, debit, extra = {}) {
  return client.moveMoney(D.CreateWithdrawal, {
    quoteId: quoteValue.id,
    debitCardId: debit.id,
    purpose: "CONSUMPTION",
    acceptedDisclosureVersion: quoteValue.disclosure.version,
    // A mini-program cannot hash with SubtleCrypto: it passes the digest of the text it showed.
    acceptedDisclosureDigest: quoteValue.disclosure.digest,
    acceptedAt: new Date().toISOString(),
    acceptedDataSharingVersion: quoteValue.dataSharingConsent.version,
    ...extra,
  });
}

/**
 * Watches a withdrawal over the subscription: `seen` fills with each new status; `first`
 * resolves at the first update, `done` with `{ seen, withdrawal }` at a status in `until`.
 */
export function watch(client, id, until = ["SUCCEEDED", "FAILED", "CANCELLED"], timeoutMs = 15000) {
  const seen = [];
  let gotFirst;
  const first = new Promise((resolve) => (gotFirst = resolve));
  const done = new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      stop();
      reject(new Error(`no final status over the subscription; saw ${seen.join(" → ") || "nothing"}`));
    }, timeoutMs);
    const stop = client.subscribe(D.WithdrawalStatus, { id }, {
      next(data) {
        const status = data.withdrawal && data.withdrawal.status;
        if (seen[seen.length - 1] !== status) seen.push(status);
        gotFirst();
        if (until.includes(status)) {
          clearTimeout(timer);
          stop();
          resolve({ seen, withdrawal: data.withdrawal });
        }
      },
      error(err) {
        clearTimeout(timer);
        reject(err);
      },
      complete() {
        clearTimeout(timer);
        reject(new Error(`the subscription completed early; saw ${seen.join(" → ") || "nothing"}`));
      },
    });
  });
  return { seen, first, done };
}

/** Operation names of the recorded requests. */
export const names = (calls) => calls.map((c) => c.operationName);
