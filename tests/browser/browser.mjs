// Shared by the browser tests: Debian's Chromium through playwright-core, with every request
// that is not for this machine aborted and recorded, and the page's CSP violations collected.
import { chromium } from "playwright-core";
import { mkdirSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";

export const ARTIFACTS = process.env.ARTIFACTS_DIR ||
  path.join(path.dirname(fileURLToPath(import.meta.url)), "artifacts");

const FLAGS = [
  "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
  "--disable-background-networking", "--disable-component-update", "--disable-sync",
];

/** True for a URL this test may reach: the server on loopback, or inline data. */
export function isLocal(url) {
  if (url.startsWith("data:") || url.startsWith("blob:") || url.startsWith("about:")) return true;
  const host = new URL(url).hostname;
  return host === "127.0.0.1" || host === "[::1]" || host === "localhost";
}

/**
 * A browser and one page. `blocked` lists every non-local request (HTTP or WebSocket) the page
 * tried; `violations` every Content-Security-Policy violation; `errors` page errors.
 */
export async function openPage({ viewport = { width: 1280, height: 800 }, mobile = false, locale = "zh-CN" } = {}) {
  mkdirSync(ARTIFACTS, { recursive: true });
  const browser = await chromium.launch({
    executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
    args: FLAGS,
  });
  const context = await browser.newContext({
    viewport, isMobile: mobile, hasTouch: mobile, deviceScaleFactor: mobile ? 2 : 1, locale,
  });
  const record = { blocked: [], violations: [], errors: [], console: [] };
  await context.route("**/*", (route) => {
    const url = route.request().url();
    if (isLocal(url)) return route.continue();
    record.blocked.push(url);
    return route.abort("blockedbyclient");
  });
  context.on("websocket", () => {});
  const page = await context.newPage();
  page.on("websocket", (ws) => { if (!isLocal(ws.url().replace(/^ws/, "http"))) record.blocked.push(ws.url()); });
  page.on("pageerror", (err) => record.errors.push(String(err)));
  page.on("console", (msg) => {
    if (msg.type() === "error") record.console.push(msg.text());
  });
  await page.addInitScript(() => {
    window.__cspViolations = [];
    document.addEventListener("securitypolicyviolation", (e) => {
      window.__cspViolations.push(`${e.violatedDirective} ${e.blockedURI}`);
    });
  });
  record.collect = async () => {
    record.violations = await page.evaluate(() => window.__cspViolations || []);
    return record;
  };
  return { browser, context, page, record };
}

/** Prints the outcome as one JSON line for the Python side and exits 0 only when `ok`. */
export function report(result) {
  process.stdout.write(JSON.stringify(result) + "\n");
  process.exit(result.ok ? 0 : 1);
}
