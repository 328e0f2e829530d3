// Drives Debian's Chromium with playwright-core for the browser tests; prints one JSON result.
//   node drive.cjs '<json>'   with {action, url, headers?, timezone?, out?, widths?}
// action "audit": waits for the page's data-state, measures at each width whether any figure
//   overflows its card, opens every <details>, runs axe-core, returns the violations and text.
// action "pdf": prints the page to an A4 PDF at `out` (Chromium's Page.printToPDF).
// action "screenshot": a full-page PNG at `out`.
// action "follow": clicks the element `click` and returns the title of the page it opens.
// The modules come from GAYARI_BROWSER_TOOLS_DIR (tests/browser/install.sh puts them there).
"use strict";
const path = require("path");
const { createRequire } = require("module");

const dir = process.env.GAYARI_BROWSER_TOOLS_DIR;
if (!dir) { throw new Error("GAYARI_BROWSER_TOOLS_DIR is not set"); }
const load = createRequire(path.join(dir, "package.json"));
const { chromium } = load("playwright-core");
const AXE = load.resolve("axe-core/axe.min.js");

async function main() {
  const job = JSON.parse(process.argv[2]);
  const browser = await chromium.launch({
    executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
    headless: true,
    args: ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
           "--disable-component-update", "--disable-sync", "--no-first-run"],
  });
  try {
    const context = await browser.newContext({
      viewport: { width: 1400, height: 1900 },
      timezoneId: job.timezone || "UTC",
      extraHTTPHeaders: job.headers || {},
    });
    const page = await context.newPage();
    const errors = [];
    page.on("pageerror", (e) => errors.push(String(e)));
    await page.goto(job.url, { waitUntil: "load" });
    if (job.action === "pdf") {
      await page.pdf({ path: job.out, format: "A4", printBackground: true, preferCSSPageSize: true });
      return { errors };
    }
    await page.waitForSelector("body[data-state]", { timeout: 30000 });
    const state = await page.getAttribute("body", "data-state");
    if (job.action === "follow") {
      const [opened] = await Promise.all([context.waitForEvent("page"), page.click(job.click)]);
      await opened.waitForFunction(() => document.title !== "", null, { timeout: 30000 });
      return { state, errors, title: await opened.title(), url: opened.url() };
    }
    if (job.action === "screenshot") {
      await page.screenshot({ path: job.out, fullPage: true });
      return { state, errors };
    }
    const overflow = [];
    for (const width of job.widths || []) {
      await page.setViewportSize({ width, height: 1200 });
      await page.waitForTimeout(100);
      const cut = await page.$$eval(".kpi", (cards) => cards.flatMap((card) => {
        const box = card.getBoundingClientRect();
        return [...card.querySelectorAll(".value, .exact")].filter((el) => {
          const r = el.getBoundingClientRect();
          return el.scrollWidth > el.clientWidth + 1 || r.right > box.right + 1 || r.left < box.left - 1;
        }).map((el) => el.id + " " + el.textContent);
      }));
      overflow.push({ width, cut });
    }
    await page.setViewportSize({ width: 1400, height: 1900 });
    await page.$$eval("details", (all) => all.forEach((d) => { d.open = true; }));
    await page.addScriptTag({ path: AXE });
    const result = await page.evaluate(async () => {
      // Every rule axe has (WCAG 2.0/2.1 A and AA, best practices), not only a tag's.
      const r = await window.axe.run(document, { resultTypes: ["violations"] });
      return {
        version: window.axe.version,
        violations: r.violations.map((v) => ({
          id: v.id, impact: v.impact, help: v.help, tags: v.tags,
          nodes: v.nodes.map((n) => n.target.join(" ")),
        })),
      };
    });
    const text = await page.evaluate(() => document.body.innerText);
    const lang = await page.getAttribute("html", "lang");
    return { state, lang, overflow, errors, text, ...result };
  } finally {
    await browser.close();
  }
}

main().then(
  (result) => { process.stdout.write(JSON.stringify(result)); },
  (error) => { process.stderr.write(String(error && error.stack || error)); process.exit(1); },
);
