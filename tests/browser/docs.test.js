'use strict';
// GET /docs in a real browser (Debian's chromium, headless, playwright-core)
// with no internet access: every request the page makes goes to ragws
// itself (any other host is refused here and fails the test), Swagger UI
// (embedded in the binary) renders the operations of /openapi.json, and a
// screenshot of the page under build/ is not blank.
const assert = require('node:assert/strict');
const fs = require('node:fs');
const path = require('node:path');
const { after, before, describe, test } = require('node:test');
const h = require('../node/helpers');
const chromium = require('./chromium');

const SHOT = path.join(h.REPO, 'build', 'docs-screenshot.png');

describe('GET /docs in headless chromium, offline', () => {
  const ctx = h.setup({ name: 'docs' });
  const b = {};
  before(async () => {
    b.browser = await chromium.launch({ viewport: { width: 1280, height: 1400 } });
  }, { timeout: 60000 });
  after(() => chromium.close(b.browser));

  test('the page renders every operation of /openapi.json from ragws alone', { timeout: 60000 }, async () => {
    const base = `http://127.0.0.1:${ctx.server.port}`;
    const p = await b.browser.newPage();
    const errors = [];
    const elsewhere = [];
    const fetched = [];
    p.on('pageerror', (e) => errors.push(String(e)));
    p.on('console', (m) => { if (m.type() === 'error') errors.push(m.text()); });
    // no internet: anything not served by ragws is refused
    await p.route('**/*', (route) => {
      const u = route.request().url();
      if (u.startsWith(`${base}/`)) {
        fetched.push(new URL(u).pathname);
        return route.continue();
      }
      elsewhere.push(u);
      return route.abort();
    });
    await p.goto(`${base}/docs`);
    await p.waitForSelector('.opblock', { timeout: 30000 });
    const doc = JSON.parse((await ctx.server.http('GET', '/openapi.json')).body);
    let ops = 0;
    // Swagger UI draws a block per operation of paths and of webhooks.
    const methods = new Set(['get', 'put', 'post', 'delete', 'options', 'head', 'patch', 'trace']);
    for (const item of [...Object.values(doc.paths), ...Object.values(doc.webhooks || {})])
      ops += Object.keys(item).filter((k) => methods.has(k)).length;
    const shown = await p.$$eval('.opblock', (els) => els.length);
    assert.equal(shown, ops, 'one block per operation');
    const paths = await p.$$eval('.opblock-summary-path', (els) => els.map((e) => e.textContent.replace(/\u200b/g, '').trim()));
    for (const want of ['/health', '/api/query', '/api/tasks/{id}/cancel', '/ws/query', '/openapi.json']) {
      assert.ok(paths.includes(want), `${want} listed (${paths.length} paths)`);
    }
    const title = await p.$eval('.info .title', (e) => e.textContent);
    assert.match(title, /ragws/);
    // the page as rendered, before anything is clicked
    fs.mkdirSync(path.dirname(SHOT), { recursive: true });
    await p.screenshot({ path: SHOT, fullPage: false });
    const png = chromium.pngColours(fs.readFileSync(SHOT));
    assert.equal(png.width, 1280);
    assert.ok(png.colours > 20, `screenshot ${SHOT} is not blank (${png.colours} colours)`);
    // open one operation: its responses table names the documented codes
    await p.click('#operations-rag-query .opblock-summary');
    await p.waitForSelector('#operations-rag-query .responses-table', { timeout: 10000 });
    const codes = await p.$$eval('#operations-rag-query .responses-table .response-col_status',
      (els) => els.map((e) => e.textContent.trim()));
    for (const c of ['200', '400', '401', '413']) assert.ok(codes.includes(c), `query responses ${codes}`);
    assert.deepEqual(elsewhere, [], 'no request leaves ragws');
    assert.deepEqual(errors, [], 'no page errors');
    for (const f of ['/docs', '/docs/swagger-ui-bundle.js', '/docs/swagger-ui.css', '/docs/docs-init.js', '/openapi.json']) {
      assert.ok(fetched.includes(f), `${f} fetched (${fetched})`);
    }
    await p.close();
  });

  ctx.stopTest();
});
