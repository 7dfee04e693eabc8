// Shared by the browser tests: the stack under test (BASE_URL, from the Rust harness), where
// screenshots go, and Debian's Chromium launched headless for a closed network.
import { mkdirSync } from "node:fs";
import { chromium } from "playwright-core";

export const BASE = process.env.BASE_URL;
export const ARTIFACTS = process.env.ARTIFACTS_DIR || "target/browser-artifacts";
mkdirSync(ARTIFACTS, { recursive: true });

// What a closed network needs: no background networking, component updates or sync at start-up.
const FLAGS = [
  "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
  "--disable-background-networking", "--disable-component-update", "--disable-sync",
];

export function launchChromium() {
  return chromium.launch({ executablePath: process.env.CHROMIUM || "/usr/bin/chromium", args: FLAGS });
}
