// /demo on a phone-sized screen, every non-local request blocked: a user signs in with a
// sandbox code, picks a bank, reads the offer (the APR larger than any other rate), runs a
// trial calculation, accepts the disclosure (nothing pre-ticked), withdraws, mistypes and then
// types the verification code, watches the status arrive over the subscription, pages through
// the history, and switches to English. Screenshots of each step go to ARTIFACTS/demo-*.png.
//   node demo.mjs http://127.0.0.1:PORT <sandbox user>
import path from "node:path";
import { ARTIFACTS, openPage, report } from "./browser.mjs";

const [base, user] = process.argv.slice(2);
const { browser, page, record } = await openPage({
  viewport: { width: 390, height: 844 }, mobile: true, locale: "zh-CN",
});
const steps = [];
const shots = [];
const facts = {};
let ok = false;
let failure = null;

async function shot(name) {
  const file = path.join(ARTIFACTS, `demo-${name}.png`);
  // From the top, so the sticky header is where a phone shows it.
  await page.evaluate(() => window.scrollTo(0, 0));
  await page.screenshot({ path: file, fullPage: true });
  shots.push(path.basename(file));
}

function check(condition, message) {
  if (!condition) throw new Error(message);
}

const CJK = /[\u4e00-\u9fff]/;
const fontSize = (locator) => locator.evaluate((el) => parseFloat(getComputedStyle(el).fontSize));

try {
  const started = Date.now();
  const response = await page.goto(`${base}/demo`, { waitUntil: "load" });
  steps.push(`page ${response.status()}`);
  facts.csp = response.headers()["content-security-policy"];

  // Channel and sign-in: nothing chosen for the user.
  await page.locator("#sign-in").waitFor();
  check(await page.locator("input[name=channel]:checked").count() === 0, "a channel was preselected");
  await shot("01-sign-in");
  await page.getByLabel("支付宝").check();
  await page.locator("#sandbox-name").fill(user);
  await page.locator("#sign-in").click();

  // The service page: usable banks first, the onboarding ones marked 即将上线 and disabled.
  await page.locator(".bank").first().waitFor();
  const usable = await page.locator(".bank").evaluateAll((els) => els.map((e) => e.dataset.usable === "true"));
  check(usable.includes(false) && usable.indexOf(false) > usable.lastIndexOf(true), `usable banks not first: ${usable}`);
  const soon = page.locator(".bank.disabled", { hasText: "即将上线" });
  check(await soon.count() >= 1, "no bank marked 即将上线");
  check(await soon.first().isDisabled(), "an onboarding bank can be entered");
  steps.push(`service page: ${usable.filter(Boolean).length} usable, ${usable.filter((u) => !u).length} coming soon`);
  await shot("02-service-page");

  // The bank's offer: each option's APR is the largest rate shown.
  await page.locator(".bank[data-bank=CEB]").click();
  await page.locator(".option").first().waitFor();
  const option = page.locator(".option", { has: page.locator("input[data-type=INSTALLMENT][data-periods='12']") });
  const aprSize = await fontSize(option.locator(".apr-value"));
  const rateSize = await fontSize(option.locator(".option-rate"));
  check(aprSize > rateSize * 1.5, `APR ${aprSize}px is not more prominent than the monthly rate ${rateSize}px`);
  check(/每期利息 0\.60%/.test(await option.locator(".option-rate").innerText()), "the monthly rate is not shown");
  // The highest APR is shown, not only the flattering one: small single-month advances cost
  // far more because of the minimum fee.
  const single = page.locator(".option", { has: page.locator("input[data-type=SINGLE_MONTH]") });
  const [lowest, highest] = (await single.locator(".apr-value").innerText()).match(/[\d.]+/g).map(Number);
  check(highest > 2 * lowest, `single-month APR range ${lowest}–${highest}`);
  facts.singleMonthApr = [lowest, highest];
  facts.aprFontPx = aprSize;
  facts.monthlyRateFontPx = rateSize;
  await shot("03-offer");

  // A typed error: an amount below the minimum, shown with its code and message.
  await option.locator("input").check();
  await page.locator("#amount").fill("1");
  await page.locator("#trial").click();
  await page.locator("#error[data-code=AMOUNT_OUT_OF_RANGE]").waitFor();
  facts.amountError = await page.locator("#error").innerText();
  check(CJK.test(facts.amountError), `the error is not in Chinese: ${facts.amountError}`);
  check(!/null|undefined/.test(facts.amountError), `the error shows a placeholder: ${facts.amountError}`);
  await shot("04-amount-error");

  // The trial calculation with the schedule.
  await page.locator("#amount").fill("10000");
  await page.locator("#trial").click();
  await page.locator("#schedule").waitFor();
  const apr = await page.locator("#quote-apr").innerText();
  check(apr === "13.03%", `the quote's APR is ${apr}, expected 13.03% for 10,000 over 12 months at 0.6%`);
  const rows = await page.locator("#schedule tbody tr").count();
  check(rows === 12, `${rows} schedule rows`);
  steps.push(`quote APR ${apr}, ${rows} installments`);
  await shot("05-quote");

  // Disclosure and fund-use declaration: nothing pre-ticked, no purpose preselected.
  check(!(await page.locator("#accept-disclosure").isChecked()), "the disclosure was pre-ticked");
  check(!(await page.locator("#declare-use").isChecked()), "the fund-use declaration was pre-ticked");
  check(await page.locator("#purpose").inputValue() === "", "a purpose was preselected");
  check(await page.locator("#withdraw").isDisabled(), "withdraw is possible before consent");
  check((await page.locator("#disclosure").innerText()).includes("年化利率"), "no APR in the disclosure");
  await page.locator("#purpose").selectOption("TRAVEL");
  await page.locator("#accept-disclosure").check();
  check(await page.locator("#withdraw").isDisabled(), "withdraw is possible without the declaration");
  check(!(await page.locator("#accept-data-sharing").isChecked()), "data sharing was pre-ticked");
  check((await page.locator("#data-sharing").innerText()).includes("个人信息"), "no data-sharing text");
  await page.locator("#declare-use").check();
  check(await page.locator("#withdraw").isDisabled(), "withdraw is possible without sharing consent");
  await page.locator("#accept-data-sharing").check();
  check(await page.locator("#withdraw").isEnabled(), "withdraw stays disabled after consent");
  await page.locator("#withdraw").scrollIntoViewIfNeeded();
  await shot("06-consent");
  await page.locator("#withdraw").click();

  // The verification code: a wrong one first.
  await page.locator("#code").waitFor();
  await shot("07-verification");
  await page.locator("#code").fill("000000");
  await page.locator("#confirm").click();
  await page.locator("#error[data-code=VERIFICATION_FAILED]").waitFor();
  facts.verificationError = await page.locator("#error").innerText();
  check(CJK.test(facts.verificationError), `the error is not in Chinese: ${facts.verificationError}`);
  await shot("08-verification-error");
  await page.locator("#code").fill("123456");
  await page.locator("#confirm").click();

  // Live status over the subscription, to the money on the card.
  await page.locator("#status[data-status=SUCCEEDED]").waitFor({ timeout: 20000 });
  const timeline = await page.locator("#timeline li").evaluateAll((els) => els.map((e) => e.dataset.status));
  check(timeline.includes("PROCESSING") && timeline.at(-1) === "SUCCEEDED", `timeline ${timeline}`);
  await page.locator("#live.ended").waitFor();
  steps.push(`status ${timeline.join(" → ")}`);
  facts.flowSeconds = (Date.now() - started) / 1000;
  await shot("09-status");

  // History with paging (five a page; the test made others before).
  await page.locator("#history-link").click();
  await page.locator("#history .history-item").first().waitFor();
  const firstPage = await page.locator("#history .history-item").count();
  check(firstPage === 5 && await page.locator("#more").isVisible(), `first page ${firstPage}`);
  await shot("10-history");
  await page.locator("#more").click();
  await page.waitForFunction(() => document.querySelectorAll("#history .history-item").length > 5);
  const all = await page.locator("#history .history-item").count();
  const ids = await page.locator("#history .history-item").evaluateAll((els) => els.map((e) => e.dataset.id));
  check(new Set(ids).size === all, "a withdrawal listed twice across pages");
  check(await page.locator("#more").isHidden(), "'load more' still offered after the last page");
  steps.push(`history ${firstPage} + ${all - firstPage}`);
  facts.historyItems = all;
  await shot("11-history-more");

  // A session the server no longer accepts: the page signs in again by itself.
  await page.evaluate(() => {
    const s = JSON.parse(sessionStorage.getItem("cardcash.session"));
    sessionStorage.setItem("cardcash.session", JSON.stringify({ ...s, token: `${s.token.slice(0, -6)}AAAAAA` }));
  });
  await page.reload();
  await page.locator("#history .history-item").first().waitFor();
  check(await page.locator("#error").isHidden(), "a refused session showed an error instead of signing in again");
  const token = await page.evaluate(() => JSON.parse(sessionStorage.getItem("cardcash.session")).token);
  check(!token.endsWith("AAAAAA"), "the refused token was kept");
  steps.push("signed in again after a refused session");

  // English.
  await page.locator("#lang").click();
  await page.locator("h2", { hasText: "History" }).waitFor();
  await page.locator("#history .history-item").first().waitFor();
  check((await page.locator("#history").innerText()).includes("Paid out"), "statuses not in English");
  await shot("12-history-en");
  await page.locator("#back").click();
  await page.locator("#status[data-status=SUCCEEDED]").waitFor();
  check(await page.locator("#status").innerText() === "Paid out", "status not in English");
  await shot("13-status-en");

  // Errors in English too: the server's message follows the page's language.
  await page.getByRole("button", { name: "New withdrawal" }).click();
  await page.locator(".bank[data-bank=CEB]").click();
  await page.locator(".option input[data-type=SINGLE_MONTH]").check();
  await page.locator("#amount").fill("1");
  await page.locator("#trial").click();
  await page.locator("#error[data-code=AMOUNT_OUT_OF_RANGE]").waitFor();
  facts.amountErrorEn = await page.locator("#error").innerText();
  check(!CJK.test(facts.amountErrorEn), `the error is not in English: ${facts.amountErrorEn}`);
  await shot("14-error-en");

  await record.collect();
  ok = record.blocked.length === 0 && record.violations.length === 0 && record.errors.length === 0;
} catch (err) {
  failure = String((err && err.stack) || err);
  await page.screenshot({ path: path.join(ARTIFACTS, "demo-failure.png"), fullPage: true }).catch(() => {});
  await record.collect().catch(() => {});
} finally {
  await browser.close();
}
report({ ok, steps, facts, shots, failure, blocked: record.blocked, violations: record.violations,
         errors: record.errors, console: record.console });
