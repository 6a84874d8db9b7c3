// Shared by the browser scripts: Debian's Chromium driven by playwright-core.
// A Rust test (tests/support/browser.rs) runs `node tests/browser/NAME.mjs`
// with its input as JSON in DUN_BROWSER_INPUT and reads the script's JSON
// result from the last line of stdout.
import { mkdirSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { chromium } from "playwright-core";

const root = join(dirname(fileURLToPath(import.meta.url)), "..", "..");

/** The JSON object the Rust test passed. */
export function input() {
  return JSON.parse(process.env.DUN_BROWSER_INPUT ?? "{}");
}

/** Hands `value` back to the Rust test (the last line of stdout). */
export function output(value) {
  process.stdout.write(`${JSON.stringify(value)}\n`);
}

/**
 * Headless Chromium with a fresh profile and no background traffic: this
 * machine's network is closed, and Chromium's own connections would fail.
 * Console errors and page errors are collected in `errors`.
 */
export async function launch() {
  const browser = await chromium.launch({
    executablePath: process.env.DUN_CHROMIUM ?? "/usr/bin/chromium",
    headless: true,
    args: [
      "--no-sandbox",
      "--disable-gpu",
      "--disable-quic",
      "--no-first-run",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
    ],
  });
  const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
  const errors = [];
  page.on("console", (message) => {
    if (message.type() === "error") errors.push(message.text());
  });
  page.on("pageerror", (error) => errors.push(String(error)));
  return { browser, page, errors };
}

/** Writes a full-page screenshot to target/screenshots/NAME.png; its path. */
export async function screenshot(page, name) {
  const dir = join(root, "target", "screenshots");
  mkdirSync(dir, { recursive: true });
  const path = join(dir, `${name}.png`);
  await page.screenshot({ path, fullPage: true });
  return path;
}
