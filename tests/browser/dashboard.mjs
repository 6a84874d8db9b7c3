// The operator dashboard in headless Chromium: log in with a real API key,
// read the KPI tiles, check the charts drew (uPlot canvases, no console
// errors), then go to the plugin registry and a debtor's timeline through
// the page's own links and forms. Answers what it saw, for the Rust test
// (tests/dashboard_browser.rs) to compare with the API.
import { input, launch, output, screenshot } from "./lib.mjs";

const { base, key, debtor } = input();
const { browser, page, errors } = await launch();
try {
  await page.goto(`${base}/dashboard/overview`);
  // No session: the login form.
  const atLogin = new URL(page.url()).pathname;
  await page.getByLabel("API key").fill(key);
  await page.getByRole("button", { name: "Log in" }).click();
  await page.waitForURL("**/dashboard/overview");
  await page.waitForSelector("#chart-dso canvas");
  await page.waitForSelector("#chart-aging canvas");

  const tiles = await page.$$eval(".tile", (nodes) =>
    Object.fromEntries(
      nodes.map((n) => [n.dataset.kpi, n.querySelector(".value").textContent.trim()]),
    ),
  );
  const charts = await page.$$eval(".chart", (nodes) =>
    nodes.map((n) => ({
      id: n.id,
      canvases: n.querySelectorAll("canvas").length,
      width: n.querySelector("canvas")?.width ?? 0,
      series: n.querySelectorAll(".u-series").length,
    })),
  );
  const heading = await page.getByRole("heading", { level: 1 }).textContent();
  const shot = await screenshot(page, "dashboard");

  // A phone's width: no horizontal scrolling of the page itself.
  await page.setViewportSize({ width: 390, height: 844 });
  await page.waitForTimeout(300);
  const phone = await page.evaluate(() => ({
    scrollWidth: document.documentElement.scrollWidth,
    clientWidth: document.documentElement.clientWidth,
  }));
  await screenshot(page, "dashboard-phone");
  await page.setViewportSize({ width: 1280, height: 900 });

  // The registry, through the navigation.
  await page.getByRole("navigation", { name: "Pages" }).getByRole("link", { name: "Plugins" }).click();
  await page.waitForURL("**/dashboard/plugins**");
  const plugins = await page.$$eval("tr[data-plugin]", (rows) => rows.map((r) => r.dataset.plugin));
  const strategies = await page.$$eval("tr[data-strategy]", (rows) =>
    rows.map((r) => ({
      strategy: r.dataset.strategy,
      evaluations: Number(r.querySelector(".evaluations").textContent),
      faults: Number(r.querySelector(".faults").textContent),
    })),
  );

  // A debtor's timeline, through the lookup form.
  await page.getByRole("navigation", { name: "Pages" }).getByRole("link", { name: "Debtor timeline" }).click();
  await page.waitForURL("**/dashboard/debtors**");
  await page.getByLabel("Debtor id").fill(debtor);
  await page.getByRole("button", { name: "Look up" }).click();
  await page.waitForSelector("ol.timeline");
  const events = await page.$$eval("ol.timeline li", (items) => items.map((i) => i.dataset.event));
  const debtorHeading = await page.locator("#debtor-heading").textContent();
  // The hostile name is text, not markup: no script element came of it.
  const scripts = await page.$$eval("script", (nodes) => nodes.map((n) => n.src || n.type));
  await screenshot(page, "dashboard-timeline");

  output({
    atLogin,
    heading,
    tiles,
    charts,
    phone,
    plugins,
    strategies,
    events,
    debtorHeading,
    scripts,
    errors,
    screenshot: shot,
  });
} finally {
  await browser.close();
}
