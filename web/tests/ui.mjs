// End-to-end test of the web UI in headless Chromium (playwright-core).
// Run by tests/tests/it/web.rs with BASE, TOKEN, NS, ARTIFACTS, CHROMIUM set.
import { chromium } from 'playwright-core';
import fs from 'node:fs';
import path from 'node:path';

const { BASE, TOKEN, NS, ARTIFACTS, CHROMIUM } = process.env;
fs.mkdirSync(ARTIFACTS, { recursive: true });
const browser = await chromium.launch({
  executablePath: CHROMIUM || '/usr/bin/chromium',
  args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
});
const page = await browser.newPage({ viewport: { width: 1280, height: 800 } });
const errors = [];
let allowed = null;
// Steps that expect an API error allow Chromium's log line for that status only.
page.on('console', (m) => {
  if (m.type() !== 'error') return;
  if (allowed && m.text().includes(`status of ${allowed}`)) return;
  errors.push(m.text());
});
page.on('pageerror', (e) => errors.push(String(e)));
page.on('response', (r) => { if (r.status() >= 400) console.log(`HTTP ${r.status()} ${r.request().method()} ${r.url()}`); });
let step = 0;
const shot = async (name) => { step += 1; await page.screenshot({ path: path.join(ARTIFACTS, `${String(step).padStart(2, '0')}-${name}.png`) }); };
const guest = (name) => page.locator(`.guest[data-name="${name}"]`);
const fail = async (msg) => { await shot('failure'); console.error(msg); await browser.close(); process.exit(1); };

try {
  await page.goto(BASE);
  await page.waitForSelector('#signin[open]');
  await shot('signin');
  await page.fill('#token', 'not-a-token');
  allowed = 401;
  await page.click('#signin-submit');
  await page.waitForFunction(() => /Unauthorized/.test(document.querySelector('#signin-error').textContent));
  allowed = null;
  await page.fill('#token', TOKEN);
  await page.click('#signin-submit');
  await page.waitForSelector('#signin:not([open])', { state: 'attached' });
  await page.fill('#ns-filter', NS);
  await page.press('#ns-filter', 'Enter');
  await page.waitForSelector('#tree strong');
  await shot('tree');

  // Create with a bad name: the API's error shows next to the field.
  await page.click('#create-btn');
  await page.fill('#create-form input[name=name]', 'Bad_Name');
  allowed = 400;
  await page.click('#create-submit');
  await page.waitForFunction(() => /invalid CT name/.test(document.querySelector('.field-error[data-field=name]').textContent));
  allowed = null;
  await shot('create-invalid-name');

  await page.fill('#create-form input[name=name]', 'webui1');
  await page.fill('#create-form input[name=memory]', '256Mi');
  await page.click('#create-submit');
  await page.waitForSelector('#create:not([open])', { state: 'attached' });
  await guest('webui1').waitFor();
  await shot('created');

  const waitStatus = async (want) => {
    for (let i = 0; i < 60; i += 1) {
      const txt = await guest('webui1').textContent().catch(() => '');
      if (txt.includes(want)) return;
      await page.waitForTimeout(500);
    }
    await fail(`webui1 never became ${want}`);
  };
  await waitStatus('Running');
  await guest('webui1').click();
  await page.waitForSelector('#btn-stop');
  await page.click('#btn-stop');
  await waitStatus('Stopped');
  await shot('stopped');
  await guest('webui1').click();
  await page.waitForSelector('#btn-start');
  await page.click('#btn-start');
  await waitStatus('Running');
  await guest('webui1').click();
  await page.waitForSelector('#btn-console');
  await page.click('#btn-console');
  await page.waitForSelector('.xterm-rows');
  await page.waitForFunction(() => document.querySelector('#console-state').textContent === 'connected');
  await page.waitForTimeout(800);
  await page.keyboard.type('echo ui-$((6*7))\n');
  await page.waitForFunction(() => /ui-42/.test(document.querySelector('.xterm-rows').textContent), null, { timeout: 15000 });
  await shot('console');
  await page.click('#btn-back');

  page.once('dialog', (d) => d.accept('webui1'));
  await page.waitForSelector('#btn-delete');
  await page.click('#btn-delete');
  await guest('webui1').waitFor({ state: 'detached', timeout: 180000 });
  await shot('deleted');

  // Scale: the tree endpoint answers (for this page only) with 10,000 CTs
  // on one node; the list is virtualised, so the DOM holds a few dozen rows
  // and scrolling reaches the last one.
  const N = 10000;
  const guests = Array.from({ length: N }, (_, i) => ({ kind: 'ct', namespace: 'scale', name: `ct-${String(i).padStart(5, '0')}`, status: i % 3 ? 'Running' : 'Stopped' }));
  await page.route('**/api/v1/tree*', (route) => route.fulfill({ json: { cluster: 'synthetic', nodes: [{ name: 'big-node', ready: true, guests }], unscheduled: [] } }));
  const t0 = Date.now();
  await page.fill('#ns-filter', 'scale');
  await page.press('#ns-filter', 'Enter');
  await page.waitForSelector(`.vlist[data-count="${N}"] .guest`);
  const rendered = Date.now() - t0;
  const inDom = await page.locator('#tree .guest').count();
  if (inDom > 200) await fail(`virtualised list holds ${inDom} rows in the DOM`);
  await page.evaluate(() => { const b = document.querySelector('.vlist'); b.scrollTop = b.scrollHeight; });
  await guest(`ct-${String(N - 1).padStart(5, '0')}`).waitFor({ timeout: 5000 });
  const afterScroll = await page.locator('#tree .guest').count();
  if (afterScroll > 200) await fail(`after scrolling the DOM holds ${afterScroll} rows`);
  await shot('ten-thousand');
  console.log(`scale: ${N} CTs rendered in ${rendered} ms with ${inDom} rows in the DOM (${afterScroll} after scrolling to the end)`);
  await page.unroute('**/api/v1/tree*');
} catch (e) {
  await fail(`UI test failed: ${e.stack || e}`);
}
await browser.close();
if (errors.length) { console.error(`console errors:\n${errors.join('\n')}`); process.exit(1); }
console.log(`ui test passed; screenshots in ${ARTIFACTS}`);
