// The cash-advance flow as a mini-program shows it, as a mobile web page on the mini-program
// client (clients/miniprogram) through its browser adapter. No framework and no build step:
// views are built with the DOM (never from HTML strings), one per route of the location hash.
import { browser, createClient, documents as D, idempotencyKey, result } from "/demo/client/index.js";
import { TEXT } from "/demo/i18n.js";

const store = (() => {
  try {
    return window.localStorage;
  } catch {
    return null;
  }
})();
const remembered = (key) => (store ? store.getItem(key) : null);
const remember = (key, value) => store && store.setItem(key, value);

const state = {
  lang: remembered("cardcash.demo.lang") === "en" ? "en" : "zh-CN",
  channel: remembered("cardcash.demo.channel"),
  name: remembered("cardcash.demo.name") || "",
  offers: new Map(), // bank code -> { bank, offer, debit }
  quote: null,
  debit: null,
  withdrawKey: null, // the idempotency key of the withdrawal being made from `quote`
  stopLive: null,
};

const client = createClient({
  url: `${location.origin}/graphql`,
  transport: browser(),
  channel: state.channel || undefined,
  locale: state.lang,
  // Signing in again (an expired token) uses the same sandbox user.
  getCode: () => (state.name ? `sandbox:${state.name}` : null),
});

// -- small helpers ------------------------------------------------------------------------

const $ = (id) => document.getElementById(id);
const t = (key, ...args) => {
  const value = TEXT[state.lang][key] ?? TEXT["zh-CN"][key] ?? key;
  return typeof value === "function" ? value(...args) : value;
};

/** An element: `h("p", { class: "x", on: { click } }, "text", child)`. */
function h(tag, props = {}, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(props)) {
    if (value === undefined || value === null || value === false) continue;
    if (key === "class") el.className = value;
    else if (key === "on") for (const [name, fn] of Object.entries(value)) el.addEventListener(name, fn);
    else if (key === "dataset") Object.assign(el.dataset, value);
    else if (key in el && typeof value !== "string") el[key] = value;
    else el.setAttribute(key, value === true ? "" : value);
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return el;
}

/** "35000.00" → "¥35,000.00", from the decimal string (money is never a float here). */
function money(m) {
  if (!m) return "";
  const [whole, cents = "00"] = String(m.amount).split(".");
  const sign = whole.startsWith("-") ? "-" : "";
  const digits = whole.replace("-", "").replace(/\B(?=(\d{3})+(?!\d))/g, ",");
  return `${sign}¥${digits}.${cents.padEnd(2, "0")}`;
}

/** A rate given as a fraction ("0.0005") as a percentage ("0.05%"), by moving the point. */
function percent(fraction) {
  if (fraction === null || fraction === undefined) return "";
  let [whole, frac = ""] = String(fraction).split(".");
  frac = frac.padEnd(2, "0");
  let digits = `${whole}${frac.slice(0, 2)}`.replace(/^0+(?=\d)/, "");
  let rest = frac.slice(2).replace(/0+$/, "");
  if (rest.length < 2) rest = rest.padEnd(2, "0");
  return `${digits}.${rest}%`;
}

const aprText = (apr) => `${apr}%`;
const aprRange = (lowest, highest) => (lowest === highest ? aprText(lowest) : `${lowest}%–${highest}%`);
const when = (iso) =>
  iso ? new Date(iso).toLocaleString(state.lang, { month: "numeric", day: "numeric", hour: "2-digit", minute: "2-digit" }) : "";
const day = (iso) => (iso ? new Date(`${iso}T00:00:00`).toLocaleDateString(state.lang) : "");
const bankName = (b) => (state.lang === "en" ? b.nameEn : b.name);

// -- errors, from their codes ---------------------------------------------------------------

/** Shows a coded error: the server's (or the client's) message for the user, and the code. */
function showError(error) {
  const box = $("error");
  const parts = [h("strong", { class: "error-message" }, error.message || error.code)];
  if (typeof error.attemptsLeft === "number") parts.push(h("span", {}, t("attemptsLeft", error.attemptsLeft)));
  parts.push(h("code", { class: "error-code" }, error.code || "ERROR"));
  box.replaceChildren(...parts);
  box.dataset.code = error.code || "";
  box.hidden = false;
  box.scrollIntoView({ block: "nearest" });
}

function clearError() {
  $("error").hidden = true;
  $("error").dataset.code = "";
}

/** Runs an action; a thrown CardcashError is shown by its code, not swallowed. */
async function guarded(action) {
  try {
    return await action();
  } catch (err) {
    if (err && err.code === "UNAUTHENTICATED") {
      client.signOut();
      go("#/signin");
    }
    showError(err && err.code ? err : { code: "ERROR", message: String(err) });
    return undefined;
  }
}

// -- routing ----------------------------------------------------------------------------------

const go = (hash) => {
  if (location.hash === hash) render();
  else location.hash = hash;
};

const routes = [
  [/^#\/signin$/, signIn],
  [/^#\/banks$/, banks],
  [/^#\/bank\/([A-Z0-9_]+)$/, bankOffer],
  [/^#\/quote$/, quotePage],
  [/^#\/verify\/([\w-]+)$/, verify],
  [/^#\/status\/([\w-]+)$/, status],
  [/^#\/history$/, historyPage],
];

async function render() {
  if (state.stopLive) {
    state.stopLive();
    state.stopLive = null;
  }
  clearError();
  const signedIn = Boolean(client.session);
  const hash = location.hash || "#/banks";
  if (!signedIn && hash !== "#/signin") return go("#/signin");
  $("history-link").hidden = !signedIn || hash === "#/history";
  $("back").hidden = hash === "#/signin" || hash === "#/banks";
  $("lang").textContent = t("langSwitch");
  $("history-link").textContent = t("history");
  $("back").setAttribute("aria-label", t("back"));
  document.title = `${t("title")} · cardcash`;
  const view = $("view");
  for (const [pattern, page] of routes) {
    const match = pattern.exec(hash);
    if (match) {
      view.replaceChildren(h("p", { class: "muted" }, t("loading")));
      const content = await guarded(() => page(...match.slice(1)));
      // Unless the user moved on while it loaded.
      if (content && (location.hash || "#/banks") === hash) view.replaceChildren(content);
      return;
    }
  }
  go("#/banks");
}

// -- views --------------------------------------------------------------------------------

function signIn() {
  const channels = ["WECHAT", "ALIPAY"].map((ch) =>
    h("label", { class: "choice" },
      h("input", { type: "radio", name: "channel", value: ch, checked: state.channel === ch }),
      h("span", {}, t(ch))),
  );
  const name = h("input", { id: "sandbox-name", name: "name", autocomplete: "username", required: true, value: state.name, placeholder: "alice", maxlength: "40" });
  const button = h("button", { type: "submit", class: "primary", id: "sign-in" }, t("signIn"));
  const form = h("form", { class: "card", on: { submit: onSubmit } },
    h("h2", {}, t("signInTitle")),
    h("p", { class: "muted" }, t("signInLead")),
    h("fieldset", {}, h("legend", {}, t("channel")), h("div", { class: "choices" }, channels)),
    h("label", { for: "sandbox-name" }, t("sandboxName")),
    h("div", { class: "prefixed" }, h("span", { class: "prefix" }, "sandbox:"), name),
    h("p", { class: "hint" }, t("sandboxHint")),
    button,
  );
  async function onSubmit(event) {
    event.preventDefault();
    clearError();
    const channel = form.querySelector("input[name=channel]:checked");
    if (!channel) return showError({ code: "VALIDATION", message: t("channel") + " ?" });
    state.channel = channel.value;
    state.name = name.value.trim();
    remember("cardcash.demo.channel", state.channel);
    remember("cardcash.demo.name", state.name);
    button.disabled = true;
    const r = await guarded(() => client.login({ code: `sandbox:${state.name}`, channel: state.channel }));
    button.disabled = false;
    if (!r) return;
    if (!r.ok) return showError(r.error);
    state.offers.clear();
    go("#/banks");
  }
  return form;
}

async function banks() {
  const { banks: list } = await client.request(D.ServicePage, { channel: client.channel });
  const items = list.map((bank) => {
    const offer = bank.offer && bank.offer.__typename === "CashAdvanceOffer" ? bank.offer : null;
    // The range over every option and amount: the lowest alone would flatter the offer.
    const rates = offer ? offer.repaymentOptions.flatMap((o) => [o.aprRange.lowest, o.aprRange.highest]) : [];
    rates.sort((a, b) => Number(a) - Number(b));
    const range = rates.length ? aprRange(rates[0], rates[rates.length - 1]) : null;
    let badge = null;
    if (bank.availability === "ONBOARDING") badge = h("span", { class: "badge soon" }, t("comingSoon"));
    else if (!bank.usable) badge = h("span", { class: "badge soon" }, t("notInPilot"));
    else if (bank.availability === "PILOT") badge = h("span", { class: "badge" }, t("pilot"));
    const logo = h("img", { class: "logo", src: `/static/banks/${encodeURIComponent(bank.code)}.svg`, alt: "", width: "40", height: "40" });
    return h("li", {},
      h("button", {
        type: "button",
        class: `bank${bank.usable ? "" : " disabled"}`,
        disabled: !bank.usable,
        dataset: { bank: bank.code, usable: String(bank.usable) },
        on: { click: () => go(`#/bank/${bank.code}`) },
      },
        logo,
        h("span", { class: "bank-text" },
          h("span", { class: "bank-name" }, bankName(bank), " ", badge),
          h("span", { class: "muted small" }, bank.tagline),
          offer ? h("span", { class: "small" }, `${t("available")} ${money(offer.availableLimit)}`) : null),
        range ? h("span", { class: "bank-apr" }, h("span", { class: "small" }, t("apr")), h("strong", {}, range)) : null,
      ),
    );
  });
  return h("section", {},
    h("h2", {}, t("servicePage")),
    h("p", { class: "muted small" }, t("servicePageLead")),
    h("ul", { class: "banks" }, items),
    h("p", { class: "footer" }, `${t(client.channel)} · sandbox:${state.name} `,
      h("button", { type: "button", class: "link", id: "sign-out", on: { click: signOut } }, t("signOut"))),
  );
}

/** Ends the session on the server (logout), not only on this page, then back to sign-in. */
async function signOut() {
  await guarded(() => client.logout());
  go("#/signin");
}

async function bankOffer(code) {
  const data = await client.request(D.BankOffer, { code, channel: client.channel });
  if (!data.bank) return go("#/banks");
  const r = result(data.bank.offer, "CashAdvanceOffer");
  const head = h("div", { class: "bank-head" },
    h("img", { class: "logo", src: `/static/banks/${encodeURIComponent(code)}.svg`, alt: "", width: "48", height: "48" }),
    h("div", {}, h("h2", {}, bankName(data.bank)), h("p", { class: "muted small" }, data.bank.tagline)));
  if (!r.ok) {
    showError(r.error);
    return h("section", {}, head);
  }
  const offer = r.value;
  const debit = data.viewer.debitCards[0];
  state.offers.set(code, { bank: data.bank, offer, debit });

  const options = offer.repaymentOptions.map((o, i) => {
    const rates = [];
    if (o.monthlyFeeRate) rates.push(t("monthlyRate", percent(o.monthlyFeeRate)));
    if (o.dailyInterestRate) rates.push(t("dailyRate", percent(o.dailyInterestRate)));
    if (o.feeRate) rates.push(t("feeRate", percent(o.feeRate), o.minFee && money(o.minFee)));
    const label = o.repaymentType === "SINGLE_MONTH" ? t("SINGLE_MONTH") : `${t("INSTALLMENT")} · ${t("periods", o.periods)}`;
    return h("label", { class: "option" },
      h("input", { type: "radio", name: "option", value: String(i), dataset: { type: o.repaymentType, periods: String(o.periods) } }),
      h("span", { class: "option-body" },
        h("span", { class: "option-name" }, label),
        h("span", { class: "option-apr" }, h("span", { class: "apr-label" }, t("apr")), " ",
          h("strong", { class: "apr-value" }, aprRange(o.aprRange.lowest, o.aprRange.highest))),
        o.aprRange.lowest !== o.aprRange.highest
          ? h("span", { class: "option-range" }, t("aprAt", aprText(o.aprRange.highest), money(o.aprRange.highestAt), aprText(o.aprRange.lowest), money(o.aprRange.lowestAt)))
          : null,
        h("span", { class: "option-rate" }, rates.join(" · ")),
        o.highCost ? h("span", { class: "warning small" }, o.highCostWarning) : null),
    );
  });
  const amount = h("input", {
    id: "amount", name: "amount", inputmode: "decimal", autocomplete: "off", required: true,
    placeholder: t("amountHint", money(offer.minAmount), money(offer.maxAmount)),
  });
  const button = h("button", { type: "submit", class: "primary", id: "trial" }, t("trial"));
  const form = h("form", { class: "card", on: { submit: onSubmit } },
    h("fieldset", {}, h("legend", {}, t("repayment")), h("div", { class: "options" }, options)),
    h("p", { class: "hint" }, t("aprNote")),
    h("label", { for: "amount" }, t("amount")),
    amount,
    button,
  );
  async function onSubmit(event) {
    event.preventDefault();
    clearError();
    const chosen = form.querySelector("input[name=option]:checked");
    if (!chosen) return showError({ code: "VALIDATION", message: `${t("repayment")} ?` });
    button.disabled = true;
    const q = await guarded(() =>
      client.mutate(D.CreateQuote, {
        input: {
          bankCode: code,
          creditCardId: offer.creditCardId,
          amount: amount.value.trim(),
          repaymentType: chosen.dataset.type,
          periods: Number(chosen.dataset.periods),
        },
      }, "Quote"),
    );
    button.disabled = false;
    if (!q) return;
    if (!q.ok) return showError(q.error);
    state.quote = q.value;
    state.debit = debit;
    state.withdrawKey = null;
    go("#/quote");
  }
  return h("section", {},
    head,
    h("div", { class: "card limit" },
      h("span", { class: "muted small" }, t("available")),
      h("strong", { class: "limit-value" }, money(offer.availableLimit)),
      h("dl", { class: "facts" },
        fact(t("creditLimit"), money(offer.creditLimit)),
        fact(t("perWithdrawal"), `${money(offer.minAmount)} – ${money(offer.maxAmount)}`),
        fact(t("dailyRemaining"), money(offer.dailyRemaining)),
        fact(t("arrival"), offer.arrivalDescription),
        fact(t("platformFee"), money(offer.platformFee)))),
    form,
  );
}

function fact(name, value) {
  return h("div", { class: "fact" }, h("dt", {}, name), h("dd", {}, value));
}

// The digest of what this page showed (docs/terms.md): SHA-256 of version, "\n", text.
async function shownDigest(document) {
  if (!globalThis.crypto?.subtle) return document.digest; // not a secure context
  const bytes = new TextEncoder().encode(`${document.version}\n${document.text}`);
  const hash = new Uint8Array(await crypto.subtle.digest("SHA-256", bytes));
  return Array.from(hash, (b) => b.toString(16).padStart(2, "0")).join("");
}

function quotePage() {
  const q = state.quote;
  if (!q) return go("#/banks");
  const rows = q.schedule.map((p) =>
    h("tr", {}, h("td", {}, String(p.period)), h("td", {}, day(p.dueDate)), h("td", {}, money(p.principal)),
      h("td", {}, money(p.interest)), h("td", {}, money(p.fee)), h("td", {}, h("strong", {}, money(p.total)))),
  );
  const purposes = ["CONSUMPTION", "EDUCATION", "MEDICAL", "TRAVEL", "HOME_IMPROVEMENT", "WEDDING", "RENT"];
  const purpose = h("select", { id: "purpose", name: "purpose", required: true },
    h("option", { value: "", selected: true }, t("choosePurpose")),
    purposes.map((p) => h("option", { value: p }, t(p))));
  const accept = h("input", { type: "checkbox", id: "accept-disclosure", name: "accept" });
  const share = h("input", { type: "checkbox", id: "accept-data-sharing", name: "share" });
  const declare = h("input", { type: "checkbox", id: "declare-use", name: "declare" });
  const button = h("button", { type: "submit", class: "primary", id: "withdraw", disabled: true }, t("withdraw"));
  // The time of acceptance is when the user ticked the disclosure, by this device's clock.
  let acceptedAt = null;
  accept.addEventListener("change", () => { acceptedAt = accept.checked ? new Date() : null; });
  const update = () => {
    button.disabled = !(accept.checked && share.checked && declare.checked && purpose.value);
  };
  for (const el of [accept, share, declare, purpose]) el.addEventListener("change", update);

  const form = h("form", { class: "card", on: { submit: onSubmit } },
    h("h3", {}, t("disclosure")),
    h("div", { class: "disclosure", id: "disclosure", tabindex: "0" }, q.disclosure.text),
    h("p", { class: "muted small" }, `v${q.disclosure.version}`),
    h("label", { for: "purpose" }, t("purpose")),
    purpose,
    h("label", { class: "check" }, accept, h("span", {}, t("acceptDisclosure"))),
    h("h3", {}, t("dataSharing")),
    h("div", { class: "disclosure", id: "data-sharing", tabindex: "0" }, q.dataSharingConsent.text),
    h("p", { class: "muted small" }, `v${q.dataSharingConsent.version}`),
    h("label", { class: "check" }, share, h("span", {}, t("acceptDataSharing"))),
    h("label", { class: "check" }, declare, h("span", {}, t("declareUse"))),
    h("p", { class: "small" }, `${t("payoutTo")}: `, h("strong", {}, state.debit ? state.debit.maskedNumber : "")),
    button,
  );
  async function onSubmit(event) {
    event.preventDefault();
    clearError();
    if (button.disabled) return;
    button.disabled = true;
    // One key per withdrawal: pressing again after a timeout asks for the same one.
    state.withdrawKey = state.withdrawKey || idempotencyKey();
    const disclosureDigest = await shownDigest(q.disclosure);
    const r = await guarded(() =>
      client.moveMoney(D.CreateWithdrawal, {
        quoteId: q.id,
        debitCardId: state.debit.id,
        purpose: purpose.value,
        acceptedDisclosureVersion: q.disclosure.version,
        acceptedDisclosureDigest: disclosureDigest,
        acceptedAt: acceptedAt.toISOString(),
        acceptedDataSharingVersion: q.dataSharingConsent.version,
        idempotencyKey: state.withdrawKey,
      }),
    );
    update();
    if (!r) return;
    if (!r.ok) return showError(r.error);
    state.quote = null;
    go(r.value.status === "VERIFICATION_REQUIRED" ? `#/verify/${r.value.id}` : `#/status/${r.value.id}`);
  }

  return h("section", {},
    h("h2", {}, t("quoteTitle")),
    h("div", { class: "card apr-hero" },
      h("span", { class: "apr-label" }, t("apr")),
      h("strong", { class: "apr-value", id: "quote-apr" }, aprText(q.apr)),
      h("span", { class: "muted small" }, t(`aprMethod_${q.aprMethod}`)),
      q.highCost ? h("p", { class: "warning", id: "high-cost" }, q.highCostWarning) : null,
      h("dl", { class: "facts" },
        fact(t("receive"), money(q.amount)),
        fact(`${t("repayment")}`, q.repaymentType === "SINGLE_MONTH" ? t("SINGLE_MONTH") : `${t("INSTALLMENT")} · ${t("periods", q.periods)}`),
        fact(t("totalInterest"), money(q.totalInterest)),
        fact(t("totalFee"), money(q.totalFee)),
        fact(t("totalRepayment"), money(q.totalRepayment))),
      h("p", { class: "muted small" }, t("expires", when(q.expiresAt)))),
    h("div", { class: "card" },
      h("h3", {}, t("schedule")),
      h("div", { class: "table-wrap" },
        h("table", { class: "schedule", id: "schedule" },
          h("thead", {}, h("tr", {}, ["period", "dueDate", "principal", "interest", "fee", "total"].map((k) => h("th", {}, t(k))))),
          h("tbody", {}, rows)))),
    form,
  );
}

function verify(id) {
  const code = h("input", { id: "code", name: "code", inputmode: "numeric", autocomplete: "one-time-code", maxlength: "8", required: true, pattern: "[0-9]*" });
  const button = h("button", { type: "submit", class: "primary", id: "confirm" }, t("confirm"));
  const form = h("form", { class: "card", on: { submit: onSubmit } },
    h("h2", {}, t("verifyTitle")),
    h("p", { class: "muted" }, t("verifyLead")),
    h("label", { for: "code" }, t("code")),
    code,
    button,
    h("button", { type: "button", class: "link danger", id: "cancel", on: { click: onCancel } }, t("cancel")),
  );
  async function onSubmit(event) {
    event.preventDefault();
    clearError();
    button.disabled = true;
    const r = await guarded(() =>
      client.mutate(D.ConfirmWithdrawal, { withdrawalId: id, verificationCode: code.value.trim() }, "Withdrawal"),
    );
    button.disabled = false;
    if (!r) return;
    if (!r.ok) {
      code.value = "";
      return showError(r.error);
    }
    go(`#/status/${id}`);
  }
  async function onCancel() {
    const r = await guarded(() => client.mutate(D.CancelWithdrawal, { id }, "Withdrawal"));
    if (!r) return;
    if (!r.ok) return showError(r.error);
    go(`#/status/${id}`);
  }
  return form;
}

function status(id) {
  const badge = h("strong", { class: "status-value", id: "status" }, "…");
  const live = h("span", { class: "live", id: "live" }, t("live"));
  const amount = h("p", { class: "status-amount" });
  const note = h("p", { class: "muted small" });
  const timeline = h("ol", { class: "timeline", id: "timeline" });
  const section = h("section", {},
    h("h2", {}, t("statusTitle")),
    h("div", { class: "card status-card" }, live, badge, amount, note, timeline),
    h("div", { class: "actions" },
      h("button", { type: "button", class: "secondary", on: { click: () => go("#/history") } }, t("toHistory")),
      h("button", { type: "button", class: "secondary", on: { click: () => go("#/banks") } }, t("again"))),
  );
  const final = ["SUCCEEDED", "FAILED", "CANCELLED"];
  state.stopLive = client.subscribe(D.WithdrawalStatus, { id }, {
    next({ withdrawal: w }) {
      if (!w) return;
      badge.textContent = t(w.status);
      badge.dataset.status = w.status;
      amount.textContent = money(w.amount);
      if (w.status === "SUCCEEDED") note.textContent = state.debit ? t("arrivedTo", state.debit.maskedNumber) : "";
      else if (w.status === "FAILED") note.textContent = w.failureReason || "";
      else note.textContent = w.expectedArrival ? t("expectedArrival", when(w.expectedArrival)) : "";
      if (w.status === "VERIFICATION_REQUIRED") {
        note.replaceChildren(h("a", { href: `#/verify/${w.id}` }, t("verifyTitle")));
      }
      timeline.replaceChildren(...w.events.map((e) =>
        h("li", { dataset: { status: e.toStatus } },
          h("strong", {}, t(e.toStatus)), " ",
          h("span", { class: "muted small" }, `${when(e.occurredAt)} · ${TEXT[state.lang].source[e.source] || e.source}`))));
      if (final.includes(w.status)) {
        live.textContent = t("liveEnded");
        live.classList.add("ended");
      }
    },
    error: (err) => showError(err),
    complete() {
      live.textContent = t("liveEnded");
      live.classList.add("ended");
    },
  });
  return section;
}

async function historyPage() {
  const list = h("ul", { class: "history", id: "history" });
  const more = h("button", { type: "button", class: "secondary", id: "more" }, t("more"));
  const end = h("p", { class: "muted small center", hidden: true }, t("noMore"));
  let after = null;
  async function load() {
    more.disabled = true;
    const data = await guarded(() => client.request(D.History, { first: 5, after }));
    more.disabled = false;
    if (!data) return;
    const { edges, pageInfo } = data.viewer.withdrawals;
    for (const { node: w } of edges) {
      list.append(h("li", {},
        h("a", { href: `#/status/${w.id}`, class: "history-item", dataset: { id: w.id } },
          h("span", { class: "history-main" },
            h("strong", {}, money(w.amount)),
            h("span", { class: `status-chip s-${w.status.toLowerCase()}` }, t(w.status))),
          h("span", { class: "muted small" },
            `${bankName(w.bank)} · ${w.repaymentType === "SINGLE_MONTH" ? t("SINGLE_MONTH") : t("periods", w.periods)} · ${t("apr")} ${aprText(w.quote.apr)} · ${when(w.createdAt)}`))));
    }
    after = pageInfo.endCursor;
    more.hidden = !pageInfo.hasNextPage;
    end.hidden = pageInfo.hasNextPage || list.children.length === 0;
    if (!list.children.length) list.append(h("li", { class: "muted" }, t("empty")));
  }
  more.addEventListener("click", load);
  await load();
  return h("section", {}, h("h2", {}, t("historyTitle")), list, more, end);
}

// -- the page -------------------------------------------------------------------------------

function setLanguage(lang) {
  state.lang = lang;
  client.locale = lang;
  remember("cardcash.demo.lang", lang);
  document.documentElement.lang = lang;
  $("title").textContent = t("title");
  render();
}

$("lang").addEventListener("click", () => setLanguage(state.lang === "en" ? "zh-CN" : "en"));
$("back").addEventListener("click", () => history.back());
$("history-link").addEventListener("click", () => go("#/history"));
window.addEventListener("hashchange", render);
document.documentElement.lang = state.lang;
$("title").textContent = t("title");
render();
