// Browser layer: /docs, the API reference, in Debian's Chromium (headless, through playwright-core)
// against the real stack the Rust harness started (BASE_URL). The page must render the served
// contract (/openapi.json) completely, from this origin only, under its CSP without inline scripts.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { ARTIFACTS, BASE, launchChromium } from "./chromium.mjs";

// Redoc's sidebar footer always asks for its logo from Redocly's CDN; the page's CSP refuses it
// on purpose (the reference talks to this origin only). Any other violation is a defect.
const EXPECTED_VIOLATION = "https://cdn.redoc.ly/redoc/logo-mini.svg";

let browser;
let page;
let documentJson;
const violations = [];
const offOrigin = [];
const pageErrors = [];

before(async () => {
  browser = await launchChromium();
  documentJson = await (await fetch(`${BASE}/openapi.json`)).json();
  const context = await browser.newContext({ viewport: { width: 1400, height: 900 } });
  page = await context.newPage();
  await page.exposeFunction("reportViolation", (v) => violations.push(v));
  await page.addInitScript(() => {
    document.addEventListener("securitypolicyviolation", (e) =>
      window.reportViolation({ directive: e.effectiveDirective, blocked: e.blockedURI }));
  });
  page.on("pageerror", (error) => pageErrors.push(error.message));
  page.on("requestfinished", (request) => {
    const url = new URL(request.url());
    if (url.origin !== new URL(BASE).origin && url.protocol !== "blob:" && url.protocol !== "data:") {
      offOrigin.push(request.url());
    }
  });
  const response = await page.goto(`${BASE}/docs`);
  assert.equal(response.status(), 200);
  await page.waitForSelector("body[data-reference]", { timeout: 30000 });
});
after(async () => browser?.close());

function operations() {
  const ids = [];
  for (const item of Object.values(documentJson.paths)) {
    for (const operation of Object.values(item)) {
      if (operation && operation.operationId) ids.push(operation.operationId);
    }
  }
  return ids;
}

test("the reference renders from this origin only, under its CSP, with no inline script", async () => {
  assert.equal(await page.getAttribute("body", "data-reference"), "ready");
  assert.deepEqual(pageErrors, []);
  assert.deepEqual(offOrigin, [], "requests left the origin");
  const unexpected = violations.filter((v) => !(v.directive === "img-src" && v.blocked === EXPECTED_VIOLATION));
  assert.deepEqual(unexpected, [], "CSP violations");
  // The CSP the page carries forbids inline scripts; the page has none.
  const csp = await page.getAttribute('meta[http-equiv="Content-Security-Policy"]', "content");
  assert.match(csp, /script-src 'self'(;|$)/);
  const inline = await page.$$eval("script", (scripts) => scripts.filter((s) => !s.src).length);
  assert.equal(inline, 0);
  await page.screenshot({ path: `${ARTIFACTS}/docs-top.png` });
});

test("every operation of the document is rendered, under its tag", async () => {
  const expected = operations();
  assert.ok(expected.length > 40, `the document has its operations (${expected.length})`);
  const rendered = await page.$$eval("[data-section-id*='operation/']", (els) =>
    els.map((e) => e.getAttribute("data-section-id").split("operation/")[1]));
  const missing = expected.filter((id) => !rendered.includes(id));
  assert.deepEqual(missing, [], "operations missing from /docs");
  for (const tag of documentJson.tags) {
    assert.ok(await page.getByRole("menuitem", { name: tag.name, exact: true }).count() > 0, `menu has ${tag.name}`);
  }
});

test("an operation shows its request example, its schema and its error codes", async () => {
  const scan = page.locator("[data-section-id='tag/EPM/operation/scanPayment']");
  await scan.scrollIntoViewIfNeeded();
  const text = await scan.textContent();
  // The request schema's fields.
  for (const field of ["qr_payload", "amount", "pos_reference", "channel"]) assert.match(text, new RegExp(field));
  // The seed's error statuses, each with its code.
  for (const [status, code] of [["410", "QR_EXPIRED"], ["413", "INSUFFICIENT_FUNDS"], ["404", "MERCHANT_NOT_FOUND"]]) {
    assert.match(text, new RegExp(`${status}[^]*${code}`), `${status} ${code}`);
  }
  // The seed's examples, request and 200 answer.
  assert.match(text, /CAISSE-01-TXN-20260604-001/);
  assert.match(text, /A1B2C3D4/);
  await scan.screenshot({ path: `${ARTIFACTS}/docs-scan.png` });
  // The error codes' closed list, from the Problem schema.
  await scan.getByRole("button", { name: /^410/ }).first().click();
  await page.waitForFunction(() => document.querySelector("[data-section-id='tag/EPM/operation/scanPayment']").textContent.includes("IDEMPOTENCY_KEY_REUSED"));
});

test("the French quick start walks through both flows", async () => {
  const quickStart = page.locator("[data-section-id='tag/Demarrage-rapide']");
  const text = await quickStart.textContent();
  assert.match(text, /Démarrage rapide/);
  assert.match(text, /POST \/api\/v1\/pos\/oauth\/token/);
  assert.match(text, /Flux A — EPM[^]*POST \/api\/v1\/pos\/payments\/scan/);
  assert.match(text, /Flux B — PPM[^]*POST \/api\/v1\/pos\/payments\/initiate[^]*webhook[^]*\/status/);
  await quickStart.screenshot({ path: `${ARTIFACTS}/docs-quick-start.png` });
});

test("every webhook is documented with its body, headers and retry schedule", async () => {
  const webhooks = Object.entries(documentJson["x-webhooks"]);
  assert.deepEqual(webhooks.map(([name]) => name),
    ["payment.confirmed", "payment.failed", "payment.expired", "payment.cancelled", "payment.refunded"]);
  for (const [name, item] of webhooks) {
    const section = page.locator(`[data-section-id='tag/Webhooks/operation/${item.post.operationId}']`);
    assert.equal(await section.count(), 1, `${name} is rendered`);
    const text = await section.textContent();
    assert.match(text, new RegExp(name.replace(".", "\\.")));
    assert.match(text, /X-Dyno-Webhook-Signature[^]*webhook-id[^]*webhook-timestamp[^]*webhook-signature/);
    assert.match(text, /2XX[^]*Acknowledged/);
    // The example body, in the right panel: exactly what the document gives.
    for (const field of Object.keys(item.post.requestBody.content["application/json"].example)) {
      assert.match(text, new RegExp(`"${field}"`), `${name} example shows ${field}`);
    }
  }
  const confirmed = await page.locator("[data-section-id='tag/Webhooks/operation/paymentConfirmedWebhook']").textContent();
  assert.doesNotMatch(confirmed, /"reason"|"refund_status"|"cancelled_by"/);
  const failed = await page.locator("[data-section-id='tag/Webhooks/operation/paymentFailedWebhook']").textContent();
  assert.doesNotMatch(failed, /"transaction_id"/, "no money moved: no transaction_id in the example");
  const intro = await page.locator("[data-section-id='tag/Webhooks']").textContent();
  assert.match(intro, /after 2 s, then 4 s, then 8 s/);
  assert.match(intro, /10 s/);
  assert.match(intro, /dead-letter/);
  await page.locator("[data-section-id='tag/Webhooks/operation/paymentConfirmedWebhook']").screenshot({ path: `${ARTIFACTS}/docs-webhook-confirmed.png` });
});

test("the sandbox section has every scenario on both flows", async () => {
  const sandbox = page.locator("[data-section-id='tag/Sandbox']");
  const rows = await sandbox.locator("table tr").evaluateAll((trs) =>
    trs.map((tr) => Array.from(tr.querySelectorAll("td")).map((td) => td.textContent.trim())).filter((cells) => cells.length));
  const scenarios = documentJson.components.parameters.Simulate.schema.enum;
  assert.deepEqual(rows.map((cells) => cells[0]), scenarios, "one row per X-Dyno-Simulate scenario, in the header's order");
  for (const [scenario, scan, initiate] of rows) {
    assert.ok(scan.length > 0 && initiate.length > 0, `${scenario}: both flows described`);
  }
  const scan = Object.fromEntries(rows.map(([scenario, scanCell]) => [scenario, scanCell]));
  assert.match(scan.insufficient_funds, /413 INSUFFICIENT_FUNDS/);
  assert.match(scan.expired_token, /410 QR_EXPIRED/);
  assert.match(scan.pin_failure, /422 INVALID_PIN/);
  const initiate = Object.fromEntries(rows.map(([scenario, , cell]) => [scenario, cell]));
  assert.match(initiate.insufficient_funds, /failed/);
  assert.match(initiate.expired_token, /expired/);
  await sandbox.screenshot({ path: `${ARTIFACTS}/docs-sandbox-scenarios.png` });
});

test("the search finds an operation", async () => {
  await page.fill("input[placeholder='Search...']", "initiate");
  const results = page.locator("[data-role='search:results']");
  await results.waitFor({ timeout: 10000 });
  await page.waitForFunction(() => /PPM — open/.test(document.querySelector("[data-role='search:results']").textContent));
  await page.fill("input[placeholder='Search...']", "");
});
