// GraphiQL at /graphql with every non-local request blocked: it renders, runs a query and
// opens the docs panel; nothing leaves the machine and the CSP is never violated.
//   node graphiql.mjs http://127.0.0.1:PORT
import path from "node:path";
import { ARTIFACTS, openPage, report } from "./browser.mjs";

const base = process.argv[2];
const { browser, page, record } = await openPage();
const steps = [];
let ok = false;
let failure = null;
try {
  const response = await page.goto(`${base}/graphql`, { waitUntil: "load" });
  steps.push(`page ${response.status()}`);
  const csp = response.headers()["content-security-policy"] || "";
  steps.push(`csp ${csp}`);
  await page.locator(".graphiql-container").waitFor({ timeout: 15000 });
  await page.locator(".graphiql-query-editor .CodeMirror").waitFor();
  steps.push("editor rendered");
  await page.locator(".graphiql-execute-button").click();
  const result = page.locator(".result-window");
  await result.getByText('"availability"').first().waitFor({ timeout: 15000 });
  const text = await result.innerText();
  if (!text.includes('"CEB"')) throw new Error(`unexpected result: ${text.slice(0, 300)}`);
  steps.push("query ran");
  await page.getByRole("button", { name: /documentation explorer/i }).click();
  const docs = page.locator(".graphiql-doc-explorer");
  await docs.getByText("Root Types").waitFor({ timeout: 10000 });
  await docs.getByRole("link", { name: "Query" }).first().click();
  await docs.getByText("banks").first().waitFor();
  steps.push("docs panel opened");
  await page.screenshot({ path: path.join(ARTIFACTS, "graphiql.png") });
  await record.collect();
  ok = record.blocked.length === 0 && record.violations.length === 0 && record.errors.length === 0;
} catch (err) {
  failure = String(err && err.stack || err);
  await page.screenshot({ path: path.join(ARTIFACTS, "graphiql-failure.png") }).catch(() => {});
  await record.collect().catch(() => {});
} finally {
  await browser.close();
}
report({ ok, steps, failure, blocked: record.blocked, violations: record.violations,
         errors: record.errors, console: record.console,
         screenshot: path.join(ARTIFACTS, "graphiql.png") });
