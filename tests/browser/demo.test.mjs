// Browser layer: the demo pages in Debian's Chromium (headless, through playwright-core), against
// the real stack the Rust harness started (BASE_URL). Screenshots go to target/browser-artifacts.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { ARTIFACTS, BASE, launchChromium } from "./chromium.mjs";

let browser;

before(async () => {
  browser = await launchChromium();
});
after(async () => browser?.close());

async function posPage() {
  const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
  const page = await context.newPage();
  await page.goto(`${BASE}/pos.html`);
  await page.click("#login button[type=submit]");
  await page.waitForSelector("#terminal:not(.hidden)");
  return page;
}

async function walletPage(url = `${BASE}/wallet.html`) {
  const context = await browser.newContext({ viewport: { width: 390, height: 844 }, isMobile: true });
  const page = await context.newPage();
  await page.goto(url);
  await page.click("#login button[type=submit]");
  await page.waitForSelector("#app:not(.hidden)");
  await page.waitForSelector(".wallet-card");
  return page;
}

test("first load of the POS page is light", async () => {
  const context = await browser.newContext();
  const page = await context.newPage();
  let bytes = 0;
  page.on("response", async (response) => {
    try { bytes += (await response.body()).length; } catch (_) { /* redirects have no body */ }
  });
  await page.goto(`${BASE}/pos.html`, { waitUntil: "networkidle" });
  console.log(`[browser] first load of /pos.html: ${bytes} bytes transferred (uncompressed bodies)`);
  assert.ok(bytes > 0);
  await page.screenshot({ path: `${ARTIFACTS}/pos-login.png`, fullPage: true });
  await context.close();
});

test("PPM across two pages: the POS initiates, the wallet confirms, the POS shows confirmed", async () => {
  const pos = await posPage();
  await pos.fill("#amount", "4,500");
  await pos.click("#tab-ppm");
  await pos.click("#initiate");
  await pos.waitForSelector("#session:not(.hidden)");
  await pos.waitForFunction(() => document.querySelector("#ppm-qr").naturalWidth > 0);
  const link = await pos.getAttribute("#ppm-link", "href");
  assert.match(link, /wallet\.html#pr=[0-9a-f-]{36}&sig=/);
  await pos.screenshot({ path: `${ARTIFACTS}/pos-ppm-pending.png`, fullPage: true });

  const wallet = await walletPage(link);
  await wallet.waitForSelector("#request:not(.hidden)");
  assert.match(await wallet.textContent("#req-amount"), /4,500/);
  await wallet.screenshot({ path: `${ARTIFACTS}/wallet-request.png`, fullPage: true });
  await pos.waitForFunction(() => document.querySelector("#ppm-status").textContent.includes("Scanné"));
  await wallet.fill("#req-pin", "1234");
  await wallet.click("#req-confirm");
  await wallet.waitForSelector("#req-result.ok");
  await wallet.screenshot({ path: `${ARTIFACTS}/wallet-confirmed.png`, fullPage: true });

  await pos.waitForFunction(() => document.querySelector("#result").dataset.confirmationCode, null, { timeout: 10000 });
  const text = await pos.textContent("#result");
  assert.match(text, /Paiement confirmé/);
  assert.match(text, /[A-Z0-9]{8}/);
  await pos.screenshot({ path: `${ARTIFACTS}/pos-ppm-confirmed.png`, fullPage: true });
});

test("EPM: the wallet shows a QR, the POS submits its payload", async () => {
  const wallet = await walletPage();
  await wallet.click("#make-qr");
  await wallet.waitForSelector("#qr-box:not(.hidden) svg");
  const payload = await wallet.inputValue("#qr-text");
  assert.match(payload, /^eyJRclR5cGUiOiJ0cmFuc2FjdGlvbiIs/);
  await wallet.screenshot({ path: `${ARTIFACTS}/wallet-qr.png`, fullPage: true });

  const pos = await posPage();
  await pos.fill("#amount", "2.750");
  await pos.fill("#qr-payload", payload);
  await pos.click("#scan");
  await pos.waitForSelector("#result.ok");
  assert.match(await pos.textContent("#result"), /Paiement réussi : 2,750/);
  await pos.screenshot({ path: `${ARTIFACTS}/pos-epm-paid.png`, fullPage: true });
});

test("errors read as people's words, on each page", async () => {
  const pos = await posPage();
  await pos.selectOption("#scenario", "insufficient_funds");
  await pos.fill("#qr-payload", "simulation");
  await pos.click("#scan");
  await pos.waitForSelector("#result.ko");
  assert.equal(await pos.textContent("#result"), "Solde insuffisant sur la carte.");
  await pos.screenshot({ path: `${ARTIFACTS}/pos-error.png`, fullPage: true });

  await pos.selectOption("#scenario", "");
  await pos.click("#tab-ppm");
  await pos.click("#initiate");
  await pos.waitForSelector("#session:not(.hidden)");
  const wallet = await walletPage(await pos.getAttribute("#ppm-link", "href"));
  await wallet.waitForSelector("#request:not(.hidden)");
  await wallet.fill("#req-pin", "0000");
  await wallet.click("#req-confirm");
  await wallet.waitForSelector("#req-result.ko");
  assert.match(await wallet.textContent("#req-result"), /Code PIN incorrect ?: 2 essai/);
  await wallet.screenshot({ path: `${ARTIFACTS}/wallet-error.png`, fullPage: true });
  await pos.click("#ppm-cancel");
  await pos.waitForSelector("#result.ko");
  assert.match(await pos.textContent("#result"), /Annulé/);
});

test("offline: the banner shows, polling resumes, and a PPM session survives a reload", async () => {
  const pos = await posPage();
  await pos.click("#tab-ppm");
  await pos.click("#initiate");
  await pos.waitForSelector("#session:not(.hidden)");
  const qr = await pos.getAttribute("#ppm-qr", "src");

  await pos.reload();
  await pos.waitForSelector("#session:not(.hidden)");
  assert.equal(await pos.getAttribute("#ppm-qr", "src"), qr, "the same request after a reload");

  await pos.context().setOffline(true);
  await pos.waitForSelector("#offline:not(.hidden)");
  await pos.screenshot({ path: `${ARTIFACTS}/pos-offline.png`, fullPage: true });
  await pos.context().setOffline(false);
  await pos.waitForSelector("#offline", { state: "hidden" });

  const wallet = await walletPage(await pos.getAttribute("#ppm-link", "href"));
  await wallet.waitForSelector("#request:not(.hidden)");
  await wallet.fill("#req-pin", "1234");
  await wallet.click("#req-confirm");
  await pos.waitForFunction(() => document.querySelector("#result").dataset.confirmationCode, null, { timeout: 10000 });
});

test("the console lists transactions and deliveries and offers the report", async () => {
  const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
  const page = await context.newPage();
  await page.goto(`${BASE}/console.html`);
  await page.click("#login button[type=submit]");
  await page.waitForSelector("#app:not(.hidden)");
  await page.waitForFunction(() => document.querySelectorAll("#tx tr").length > 0, null, { timeout: 15000 });
  await page.click("#refresh");
  await page.waitForFunction(() => document.querySelectorAll("#hooks tr").length > 0, null, { timeout: 15000 });
  const download = page.waitForEvent("download");
  await page.click("#download");
  assert.match((await download).suggestedFilename(), /^rapprochement-\d{4}-\d{2}-\d{2}\.csv$/);
  await page.waitForSelector("#report-result.ok");
  await page.screenshot({ path: `${ARTIFACTS}/console.png`, fullPage: true });
});

// Last: it signs the demo wallet out everywhere, which would end the other tests' sessions.
test("the wallet's sign-out ends its session on the gateway, not only in the page", async () => {
  const wallet = await walletPage();
  const token = await wallet.evaluate(() => sessionStorage.getItem("dyno.wallet.token"));
  assert.ok(token);
  await wallet.click("#logout");
  await wallet.waitForSelector("#login-card:not(.hidden)");
  const status = await wallet.evaluate(
    (t) => fetch("/api/v1/wallet/cards", { headers: { Authorization: `Bearer ${t}` } }).then((r) => r.status),
    token,
  );
  assert.equal(status, 401, "the old token is refused");
  await wallet.click("#login button[type=submit]");
  await wallet.waitForSelector(".wallet-card");
});
