// The debtor portal in Chromium (tests/portal_browser.rs runs this).
//
// mode "promise": opens the portal link from a real email, checks the page
// fits a phone's width, promises to pay by `date` through the form, and
// reports what the confirmation said. mode "refused": opens each of
// `links` and reports its status and heading.
import { input, launch, output, screenshot } from "./lib.mjs";

const args = input();
const { browser, page, errors } = await launch();
try {
  if (args.mode === "promise") {
    const opened = await page.goto(args.link);
    const heading = await page.getByRole("heading", { level: 1 }).textContent();
    const lang = await page.evaluate(() => document.documentElement.lang);
    await screenshot(page, "portal");

    // On a phone's width nothing sticks out sideways.
    await page.setViewportSize({ width: 360, height: 780 });
    const overflow = await page.evaluate(
      () => document.documentElement.scrollWidth - document.documentElement.clientWidth,
    );
    await screenshot(page, "portal-phone");
    await page.setViewportSize({ width: 1280, height: 900 });

    // The date field is found by its label, as a screen reader would.
    await page.getByLabel("I will pay by").fill(args.date);
    const [answer] = await Promise.all([
      page.waitForNavigation(),
      page.getByRole("button", { name: "Promise payment" }).click(),
    ]);
    if (!page.url().includes("done=promise")) {
      const body = await page.locator("body").innerText();
      throw new Error(`the promise was not taken (${answer?.status()}): ${body}`);
    }
    const confirmation = await page.getByRole("status").textContent();
    const statuses = await page.locator("tbody td:last-child").allTextContents();
    output({
      status: opened.status(),
      heading: heading.trim(),
      lang,
      overflow,
      confirmation: confirmation.trim(),
      statuses: statuses.map((s) => s.trim()),
      url: page.url(),
      errors,
    });
  } else {
    const seen = [];
    for (const link of args.links) {
      const response = await page.goto(link);
      seen.push({
        status: response.status(),
        heading: (await page.getByRole("heading", { level: 1 }).textContent()).trim(),
        text: await page.locator("body").innerText(),
      });
    }
    output({ seen, errors });
  }
} finally {
  await browser.close();
}
