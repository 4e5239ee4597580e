// The web UI at scale against the real API (`cargo xtask bench ui`): how
// long until all N CTs of a namespace are in the tree, how long scrolling
// to the end of a node's list takes, and how long from a click on Stop (and
// Start) until the tree shows the new state — the path of the change feed,
// the cached re-list and the render. Env: BASE, TOKEN, NS, N, CHROMIUM.
// Prints one `ui-bench {json}` line.
import { chromium } from 'playwright-core';

const { BASE, TOKEN, NS, CHROMIUM } = process.env;
const N = Number(process.env.N);
const browser = await chromium.launch({
  executablePath: CHROMIUM || '/usr/bin/chromium',
  args: ['--headless', '--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
});
const errors = [];
// A fresh context (empty sessionStorage: no token kept) for each page load.
let page;
const freshPage = async () => {
  if (page) await page.context().close();
  page = await (await browser.newContext({ viewport: { width: 1280, height: 800 } })).newPage();
  page.on('pageerror', (e) => errors.push(String(e)));
  page.on('console', (m) => { if (m.type() === 'error') errors.push(m.text()); });
};
const guest = (name) => page.locator(`.guest[data-name="${name}"]`);
// Guests in the tree: virtualised lists say their count, others are rows.
const shown = () => page.evaluate(() => {
  let n = 0;
  for (const v of document.querySelectorAll('#tree .vlist')) n += Number(v.dataset.count);
  for (const g of document.querySelectorAll('#tree .guest')) if (!g.closest('.vlist')) n += 1;
  return n;
});
const until = async (what, cond, ms = 120000) => {
  const t = Date.now();
  while (!(await cond())) {
    if (Date.now() - t > ms) throw new Error(`timed out waiting for ${what}`);
    await page.waitForTimeout(20);
  }
  return Date.now() - t;
};
const status = async (name, want) => (await guest(name).textContent().catch(() => '')).includes(want);

const result = { n: N, load_ms: [], scroll_ms: 0, stop_ms: 0, start_ms: 0, dom_rows: 0 };
try {
  for (let round = 0; round < 3; round += 1) {
    await freshPage();
    await page.goto(BASE);
    await page.waitForSelector('#signin[open]');
    await page.fill('#token', TOKEN);
    const t0 = Date.now();
    await page.click('#signin-submit');
    await page.waitForSelector('#signin:not([open])', { state: 'attached' });
    await page.fill('#ns-filter', NS);
    await page.press('#ns-filter', 'Enter');
    await until(`${N} CTs in the tree`, async () => (await shown()) === N);
    result.load_ms.push(Date.now() - t0);
  }
  result.dom_rows = await page.locator('#tree .guest').count();
  // Scroll the first node's list to its end; done when its last row is drawn.
  const ts = Date.now();
  await page.evaluate(() => { const v = document.querySelector('#tree .vlist'); if (v) v.scrollTop = v.scrollHeight; });
  await until('the end of the list drawn', () => page.evaluate(() => {
    const v = document.querySelector('#tree .vlist');
    if (!v) return true;
    const ul = v.querySelector('.vlist-rows');
    return parseInt(ul.style.top || '0', 10) / 24 + ul.children.length >= Number(v.dataset.count);
  }), 10000);
  result.scroll_ms = Date.now() - ts;
  await page.evaluate(() => { for (const v of document.querySelectorAll('#tree .vlist')) v.scrollTop = 0; });
  await until('the lists drawn from the top again', () => page.evaluate(() => [...document.querySelectorAll('#tree .vlist-rows')]
    .every((ul) => parseInt(ul.style.top || '0', 10) === 0)), 10000);
  const first = await page.locator('#tree .guest').first().getAttribute('data-name');
  await guest(first).click();
  await page.waitForSelector('#btn-stop');
  let t = Date.now();
  await page.click('#btn-stop');
  await until(`${first} Stopped`, () => status(first, 'Stopped'));
  result.stop_ms = Date.now() - t;
  await guest(first).click();
  await page.waitForSelector('#btn-start');
  t = Date.now();
  await page.click('#btn-start');
  await until(`${first} Running`, () => status(first, 'Running'));
  result.start_ms = Date.now() - t;
} catch (e) {
  console.error(`ui bench failed: ${e.stack || e}; ${await shown().catch(() => '?')} CTs shown`);
  if (process.env.SHOT) await page.screenshot({ path: process.env.SHOT });
  await browser.close();
  process.exit(1);
}
await browser.close();
if (errors.length) { console.error(`console errors:\n${errors.join('\n')}`); process.exit(1); }
console.log(`ui-bench ${JSON.stringify(result)}`);
