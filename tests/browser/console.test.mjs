// Browser layer: the merchant console's day at a glance, in Debian's Chromium (headless, through
// playwright-core), against the real stack the Rust harness started (BASE_URL). A merchant of its
// own (CONSOLE_CLIENT_ID/SECRET) takes known payments through the API — an EPM scan, a PPM the
// employee confirms, a failure on each flow — and its webhooks go to the sandbox receiver; the
// console must then draw exactly those figures, say them as text, and show the verified receipts.
// Screenshots go to target/browser-artifacts.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { ARTIFACTS, BASE, launchChromium } from "./chromium.mjs";

const env = (name) => {
  const value = process.env[name];
  assert.ok(value, `${name} is set by tests/e2e/tests/browser.rs`);
  return value;
};
const CLIENT_ID = env("CONSOLE_CLIENT_ID");
const CLIENT_SECRET = env("CONSOLE_CLIENT_SECRET");
// Its own source address, so the other browser tests' logins never share its throttles.
const SOURCE = { "CF-Connecting-IP": "10.77.0.1" };

let browser;
let page;
let posToken;
const violations = [];
const pageErrors = [];
const paid = {};
// The Tunis hours at which the payments could have been made: the hour before the first and the
// hour after the last (equal unless the payments straddle an hour boundary).
const paymentHours = new Set();
const tunisHour = (when) => new Intl.DateTimeFormat("en-GB", { timeZone: "Africa/Tunis", hour: "2-digit", hourCycle: "h23" })
  .formatToParts(when).find((part) => part.type === "hour").value;

async function api(method, path, { token, body, expect = [200] } = {}) {
  const headers = { ...SOURCE };
  if (token) headers.Authorization = `Bearer ${token}`;
  if (body !== undefined) headers["Content-Type"] = "application/json";
  const response = await fetch(`${BASE}${path}`, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  const text = await response.text();
  assert.ok(expect.includes(response.status), `${method} ${path}: ${response.status} ${text}`);
  return text ? JSON.parse(text) : null;
}

async function scan(walletToken, card, amount, reference, expect) {
  const { qr_payload } = await api("POST", "/api/v1/wallet/qr", { token: walletToken, body: { card_number: card } });
  return api("POST", "/api/v1/pos/payments/scan", {
    token: posToken, body: { qr_payload, amount, pos_reference: reference, channel: "qr" }, expect,
  });
}

before(async () => {
  paymentHours.add(tunisHour(new Date()));
  posToken = (await api("POST", "/api/v1/pos/oauth/token", {
    body: { grant_type: "client_credentials", client_id: CLIENT_ID, client_secret: CLIENT_SECRET },
  })).access_token;
  // The client's own endpoint: the sandbox's receiver, which verifies with the client's secret.
  await api("PUT", "/api/v1/pos/webhooks/endpoint", {
    token: posToken,
    body: { url: `${BASE}/api/v1/sandbox/webhook-receiver`, events: ["payment.confirmed", "payment.failed"] },
  });
  // EPM: one payment, and one the card cannot cover.
  paid.epm = await scan(env("CONSOLE_WALLET_TOKEN"), env("CONSOLE_CARD"), 12.5, "CONSOLE-EPM-1");
  const refused = await scan(env("CONSOLE_POOR_WALLET_TOKEN"), env("CONSOLE_POOR_CARD"), 9, "CONSOLE-EPM-2", [413]);
  assert.equal(refused.code, "INSUFFICIENT_FUNDS");
  // PPM: one the employee confirms with the link's tag and the PIN, one that fails.
  const request = await api("POST", "/api/v1/pos/payments/initiate", {
    token: posToken, body: { amount: 45, pos_reference: "CONSOLE-PPM-1", channel: "qr", description: "Déjeuner" },
  });
  const link = JSON.parse(Buffer.from(request.nfc_payload, "base64").toString("utf8")).Url;
  const sig = new URL(link).hash.match(/sig=([^&]+)/)[1];
  paid.ppm = await api("POST", `/api/v1/wallet/payment-requests/${request.payment_request_id}/confirm`, {
    token: env("CONSOLE_WALLET_TOKEN"), body: { card_number: env("CONSOLE_CARD"), pin: env("CONSOLE_WALLET_PIN"), sig },
  });
  paid.ppmId = request.payment_request_id;
  const failing = await api("POST", "/api/v1/pos/payments/initiate", {
    token: posToken, body: { amount: 3, pos_reference: "CONSOLE-PPM-2", channel: "qr" },
  });
  await api("POST", `/api/v1/pos/sandbox/payment-requests/${failing.payment_request_id}/fail`, {
    token: posToken, body: { reason: "insufficient_funds" },
  });
  paymentHours.add(tunisHour(new Date()));

  browser = await launchChromium();
  const context = await browser.newContext({ viewport: { width: 1280, height: 900 }, extraHTTPHeaders: SOURCE });
  page = await context.newPage();
  await page.exposeFunction("reportViolation", (v) => violations.push(v));
  await page.addInitScript(() => {
    document.addEventListener("securitypolicyviolation", (e) =>
      window.reportViolation({ directive: e.effectiveDirective, blocked: e.blockedURI, sample: e.sample }));
  });
  page.on("pageerror", (error) => pageErrors.push(error.message));
  await page.goto(`${BASE}/console.html`);
  await page.fill("#client-id", CLIENT_ID);
  await page.fill("#client-secret", CLIENT_SECRET);
  await page.click("#login button[type=submit]");
  await page.waitForSelector("#summary[data-loaded]");
  // The figures come through the events queue and the webhooks queue: refresh until they are in.
  const deadline = Date.now() + 30000;
  for (;;) {
    const ready = await page.evaluate(() =>
      document.querySelector("#outcomes-chart rect[data-key='failed']") !== null
      && document.querySelectorAll("#outcomes-chart rect.seg").length >= 4
      && document.querySelector("#health-text li[data-state='delivered']")?.dataset.count === "2"
      && document.querySelector("#receipts details.receipt") !== null
      && document.querySelectorAll("#tx tr").length === 2);
    if (ready) break;
    assert.ok(Date.now() < deadline, "the console never showed the day's figures");
    await page.waitForTimeout(1500);
    await page.click("#refresh");
    await page.waitForLoadState("networkidle");
  }
});
after(async () => browser?.close());

test("outcomes by flow: the counts drawn, and the same counts as text", async () => {
  const drawn = await page.$$eval("#outcomes-chart g[data-row]", (rows) => Object.fromEntries(rows.map((g) => [
    g.dataset.row,
    Object.fromEntries(Array.from(g.querySelectorAll("rect.seg")).map((r) => [r.dataset.key, Number(r.dataset.value)])),
  ])));
  assert.deepEqual(drawn, { epm: { succeeded: 1, failed: 1 }, ppm: { succeeded: 1, failed: 1 } });
  assert.equal(await page.textContent("#outcomes-text li[data-flow='epm']"), "EPM : 1 réussi · 1 échoué · 0 expiré · 0 annulé");
  assert.equal(await page.textContent("#outcomes-text li[data-flow='ppm']"), "PPM : 1 réussi · 1 échoué · 0 expiré · 0 annulé");
  const reasons = await page.$$eval("#outcomes-reasons li", (lis) => lis.map((li) => li.textContent));
  assert.deepEqual(reasons, ["EPM — solde insuffisant : 1", "PPM — solde insuffisant : 1"]);
  // Each segment names itself for a pointer, and the chart for a screen reader.
  assert.equal(await page.textContent("#outcomes-chart g[data-row='ppm'] rect[data-key='failed'] title"), "PPM — échoués : 1");
  const description = await page.$eval("#outcomes-chart svg", (svg) =>
    svg.getAttribute("aria-labelledby").split(" ").map((id) => document.getElementById(id).textContent).join(" | "));
  assert.match(description, /^Paiements réussis et échoués, par flux \| EPM : 1 réussi · 1 échoué/);
});

test("volume by hour: the money that moved, in the hour it moved", async () => {
  assert.equal(paid.epm.status, "succeeded");
  assert.equal(paid.ppm.status, "confirmed");
  // 12.500 + 45.000 TND; the refused and failed payments moved nothing.
  assert.match(await page.textContent("#volume-total"), /^57,500 TND · 2 paiements$/);
  const bars = await page.$$eval("#volume-chart rect.bar", (rects) => rects.map((r) => ({ label: r.dataset.label, value: Number(r.dataset.value) })));
  assert.equal(bars.length, 24, "every hour of the day has its bar");
  const busy = bars.filter((b) => b.value > 0);
  assert.ok(busy.length >= 1 && busy.length <= 2, `the payments' hour (or two, across an hour boundary): ${JSON.stringify(busy)}`);
  assert.equal(busy.reduce((sum, b) => sum + b.value, 0), 57.5);
  // The hour the payments were made, in Tunis: taken around the payments, not when the chart is
  // read, which may already be the next hour.
  const expected = [...paymentHours].map((hour) => `${hour}h`);
  assert.ok(busy.every((b) => expected.includes(b.label)), `${JSON.stringify(busy)} within ${expected}`);
  // The same as text: the busy hours' rows add up to the day.
  const rows = await page.$$eval("#volume-rows tr", (trs) => trs.map((tr) => Array.from(tr.cells).map((td) => td.textContent)));
  assert.equal(rows.length, busy.length);
  assert.equal(rows.reduce((sum, [, count]) => sum + Number(count), 0), 2);
  assert.match(rows[0][0], /^\d\d:00 – \d\d:00$/);
});

test("webhook health: what was delivered, and how fast", async () => {
  const states = await page.$$eval("#health-text li", (lis) => Object.fromEntries(lis.map((li) => [li.dataset.state, Number(li.dataset.count)])));
  assert.deepEqual(states, { delivered: 2, failed: 0, dead_lettered: 0, pending: 0 });
  assert.equal(await page.textContent("#health-text li[data-state='delivered']"), "2 livrés");
  assert.match(await page.textContent("#latency-text"), /^Latence des 2 dernières tentatives : médiane \d+ ms · 95e centile \d+ ms · max \d+ ms\.$/);
  const attempts = await page.$$eval("#latency-chart rect.bar", (rects) => rects.map((r) => r.getAttribute("class")));
  assert.deepEqual(attempts, ["bar ok", "bar ok"]);
});

test("the sandbox receiver's receipts: body, headers, and a verified signature", async () => {
  const receipts = page.locator("#receipts details.receipt");
  assert.equal(await receipts.count(), 2);
  const first = receipts.first();
  assert.equal(await first.getAttribute("open"), "", "the latest is open");
  assert.equal(await first.getAttribute("data-verified"), "true");
  assert.match(await first.locator("summary").textContent(), /payment\.(confirmed|failed) · reçu le .* Signature vérifiée$/);
  const bodies = await page.$$eval("#receipts pre.body", (pres) => pres.map((pre) => JSON.parse(pre.textContent)));
  const confirmed = bodies.find((b) => b.event === "payment.confirmed");
  assert.equal(confirmed.payment_request_id, paid.ppmId);
  assert.equal(confirmed.amount, 45);
  const headers = await first.locator("table.headers th").allTextContents();
  for (const name of ["Content-Type", "X-Dyno-Event", "X-Dyno-Webhook-Signature", "webhook-id", "webhook-timestamp", "webhook-signature"]) {
    assert.ok(headers.includes(name), `${name} in ${headers}`);
  }
  assert.match(await first.locator("td.mono").nth(headers.indexOf("X-Dyno-Webhook-Signature")).textContent(), /^sha256=[0-9a-f]{64}$/);
});

test("every chart is a named image, under the CSP, without a page error; screenshots", async () => {
  const charts = await page.$$eval("svg.chart", (svgs) => svgs.map((svg) => ({
    role: svg.getAttribute("role"),
    names: svg.getAttribute("aria-labelledby").split(" ").map((id) => document.getElementById(id)?.textContent || ""),
    inlineStyles: svg.querySelectorAll("[style]").length,
  })));
  assert.equal(charts.length, 4, "volume, outcomes, deliveries, latency");
  for (const chart of charts) {
    assert.equal(chart.role, "img");
    assert.ok(chart.names.length === 2 && chart.names.every((t) => t.length > 0), JSON.stringify(chart));
    assert.equal(chart.inlineStyles, 0);
  }
  assert.deepEqual(violations, [], "CSP violations");
  assert.deepEqual(pageErrors, []);
  await page.screenshot({ path: `${ARTIFACTS}/console-charts.png`, fullPage: true });
  await page.locator("#summary").screenshot({ path: `${ARTIFACTS}/console-day.png` });
  // On a phone the panels stack and the charts scale down.
  await page.setViewportSize({ width: 390, height: 844 });
  await page.waitForFunction(() => document.querySelector("#volume-chart svg").viewBox.baseVal.width < 400);
  await page.locator("#summary").screenshot({ path: `${ARTIFACTS}/console-day-phone.png` });
});
