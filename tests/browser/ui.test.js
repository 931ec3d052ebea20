'use strict';
// The browser UI (GET /) in a real browser: Debian's chromium, headless,
// driven by playwright-core, against the real server (builtin LLM, the
// private PostgreSQL of tests/node/helpers.js). No internet: every request
// the page makes goes to ragws itself (anything else is refused and fails
// the test). Each view is used as a person would, then saved as a
// screenshot under build/ui-screenshots/ and checked not to be blank.
// Also: the headers of the page and its assets, and ui.enabled = no.
const assert = require('node:assert/strict');
const { execFileSync } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { after, before, describe, test } = require('node:test');
const h = require('../node/helpers');
const chromium = require('./chromium');

const SHOTS = path.join(h.REPO, 'build', 'ui-screenshots');
const QUESTION = 'How do workers share broadcasts?';

async function shot(p, name) {
  fs.mkdirSync(SHOTS, { recursive: true });
  const file = path.join(SHOTS, `${name}.png`);
  await p.evaluate(() => window.scrollTo(0, 0));
  await p.screenshot({ path: file, fullPage: false });
  const png = chromium.pngColours(fs.readFileSync(file));
  assert.ok(png.colours > 20, `${file} is not blank (${png.colours} colours)`);
  assert.ok(png.variance > 100, `${file} is not blank (pixel variance ${png.variance.toFixed(1)})`);
  return file;
}

/** A PDF with a text layer, made by tests/integration/docgen.py. */
function makePdf(file, pages) {
  const code = 'import sys, json; sys.path.insert(0, sys.argv[1]); import docgen; '
    + 'docgen.make_text_pdf(sys.argv[2], json.loads(sys.argv[3]))';
  execFileSync('/usr/bin/python3', ['-c', code, path.join(h.REPO, 'tests', 'integration'), file, JSON.stringify(pages)]);
  return fs.readFileSync(file);
}

const launch = () => chromium.launch({ viewport: { width: 1280, height: 1000 } });

describe('the browser UI in headless chromium, offline', () => {
  const ctx = h.setup({
    name: 'ui',
    // tokens 15 ms apart: time to pause an answer while it streams
    overrides: { 'monitor.interval': '300ms', 'dashboard.metrics_interval': '300ms', 'llm.builtin_token_delay': '15ms' },
  });
  const b = {};
  before(async () => {
    b.browser = await launch();
    b.tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'ragws-ui-'));
  }, { timeout: 60000 });
  after(async () => {
    await chromium.close(b.browser);
    if (b.tmp) fs.rmSync(b.tmp, { recursive: true, force: true });
  });

  /** A fresh page on a view; refuses any request that does not go to ragws. */
  async function open(view) {
    const base = `http://127.0.0.1:${ctx.server.port}`;
    const p = await b.browser.newPage();
    p.errors = [];
    p.elsewhere = [];
    p.on('pageerror', (e) => p.errors.push(String(e)));
    p.on('console', (m) => { if (m.type() === 'error') p.errors.push(m.text()); });
    await p.route('**/*', (route) => {
      const u = route.request().url();
      if (u.startsWith(`${base}/`)) return route.continue();
      p.elsewhere.push(u);
      return route.abort();
    });
    await p.goto(`${base}/#${view}`);
    await p.waitForSelector('body[data-ready="1"]', { timeout: 10000 });
    assert.equal(await p.isVisible(`#view-${view}`), true, `view ${view} shown`);
    return p;
  }

  async function done(p) {
    assert.deepEqual(p.elsewhere, [], 'no request leaves ragws');
    assert.deepEqual(p.errors, [], 'no page errors');
    await p.close();
  }

  test('GET / and /ui/*: content types, ETag and 304, no-cache, nosniff, CSP of self only', async () => {
    const s = ctx.server;
    const page = await s.http('GET', '/');
    assert.equal(page.status, 200);
    assert.equal(page.headers['content-type'], 'text/html; charset=utf-8');
    assert.equal(page.headers['cache-control'], 'no-cache');
    assert.equal(page.headers['x-content-type-options'], 'nosniff');
    const csp = page.headers['content-security-policy'];
    assert.match(csp, /default-src 'self'/);
    assert.match(csp, /script-src 'self';/);
    assert.match(csp, /connect-src 'self' ws: wss:/);
    assert.doesNotMatch(csp, /https?:|\*|unsafe/, 'nothing but self (and ws:/wss: for the WebSockets)');
    assert.match(page.body, /<script type="module" src="\/ui\/app.js">/);
    const etag = page.headers.etag;
    assert.match(etag, /^"[0-9a-f]{16}"$/);
    const again = await s.http('GET', '/', { headers: { 'If-None-Match': etag } });
    assert.equal(again.status, 304);
    assert.equal(again.body, '');
    assert.equal(again.headers.etag, etag);
    const other = await s.http('GET', '/', { headers: { 'If-None-Match': '"0000000000000000"' } });
    assert.equal(other.status, 200);
    const head = await s.http('HEAD', '/');
    assert.equal(head.status, 200);
    assert.equal(head.body, '');
    for (const [file, type, want] of [
      ['app.js', 'text/javascript; charset=utf-8', /import \* as chat/],
      ['common.js', 'text/javascript; charset=utf-8', /export class Live/],
      ['style.css', 'text/css; charset=utf-8', /--accent/],
      ['uPlot.iife.min.js', 'text/javascript; charset=utf-8', /uPlot \(v1\.6\.32\)/],
      ['uPlot.min.css', 'text/css; charset=utf-8', /\.uplot/],
      ['favicon.svg', 'image/svg+xml', /<svg /],
    ]) {
      const r = await s.http('GET', `/ui/${file}`);
      assert.equal(r.status, 200, file);
      assert.equal(r.headers['content-type'], type, file);
      assert.equal(r.headers['cache-control'], 'no-cache', file);
      assert.equal(r.headers['x-content-type-options'], 'nosniff', file);
      assert.match(r.headers.etag, /^"[0-9a-f]{16}"$/, file);
      assert.notEqual(r.headers.etag, etag, `${file} has its own ETag`);
      assert.match(r.body, want, file);
      const cached = await s.http('GET', `/ui/${file}`, { headers: { 'If-None-Match': `W/${r.headers.etag}` } });
      assert.equal(cached.status, 304, `${file} revalidated`);
    }
    for (const bad of ['/ui/nope.js', '/ui/index.html', '/ui/', '/ui/..%2fMakefile']) {
      const r = await s.http('GET', bad);
      assert.equal(r.status, 404, `${bad}: ${r.body}`);
    }
    const docs = await s.http('GET', '/openapi.json');
    const paths = JSON.parse(docs.body).paths;
    assert.ok(paths['/'] && paths['/'].get, 'GET / documented');
    assert.ok(paths['/ui/{file}'] && paths['/ui/{file}'].get, 'GET /ui/{file} documented');
  });

  test('chat: a question streams its answer with citations; follow-ups; stored history', { timeout: 90000 }, async () => {
    const p = await open('chat');
    await p.waitForFunction(() => /Live: \d+ connection/.test(document.getElementById('live-status').textContent), null, { timeout: 10000 });
    const question = `${QUESTION} (${h.uniqueId('ui')})`;
    await p.fill('#chat-q', question);
    await p.click('#chat-form button[type=submit]');
    const card = p.locator('.qa').first();
    await p.waitForFunction(() => {
      const c = document.querySelector('.qa');
      return c && c.querySelector('.stage').textContent === 'complete';
    }, null, { timeout: 30000 });
    // streamed: one text node per token frame, appended as they came
    const answer = await card.evaluate((c) => {
      const a = c.querySelector('.answer');
      return { text: a.textContent, pieces: a.childNodes.length };
    });
    assert.ok(answer.pieces > 3, `streamed in ${answer.pieces} pieces`);
    assert.ok(answer.text.length > 20, answer.text);
    const cites = await card.locator('.citation').allTextContents();
    assert.ok(cites.length > 0, 'citations shown');
    assert.match(cites[0], /\.md( · page \d+)? · confidence \d+ %/, cites[0]);
    const meta = await card.locator('.meta').textContent();
    const conv = /conversation (\d+)/.exec(meta);
    assert.ok(conv, meta);
    const stored = await h.psql(`SELECT content FROM messages WHERE conversation_id = ${Number(conv[1])} AND role = 'assistant'`);
    assert.equal(stored[0][0], answer.text, 'the page shows the stored answer');
    // the follow-up questions of /api/v1/ws, as buttons that ask
    await p.waitForSelector('#suggestions button.chip', { timeout: 15000 });
    const follow = await p.locator('#suggestions button.chip').first().textContent();
    await p.locator('#suggestions button.chip').first().click();
    await p.waitForFunction((q) => {
      const c = document.querySelector('.qa');
      return c && c.querySelector('.q').textContent === q && c.querySelector('.stage').textContent === 'complete';
    }, follow, { timeout: 30000 });
    // stored history of the first conversation
    await p.locator('.qa').nth(1).locator('.meta button').click();
    await p.waitForSelector('#history li.msg.assistant', { timeout: 10000 });
    const hist = await p.locator('#history li.msg').allTextContents();
    // /ws/query keeps one conversation per connection: both questions are in it
    assert.equal(hist.length, 4, JSON.stringify(hist));
    assert.ok(hist[2].includes(follow), hist[2]);
    assert.ok(hist[0].includes(question), hist[0]);
    assert.ok(hist[1].includes(answer.text.slice(0, 40)), hist[1]);
    await shot(p, 'chat');
    await done(p);
  });

  test('chat: pause, resume and cancel on /ws/query; a reaction over /chat/ws', { timeout: 90000 }, async () => {
    const p = await open('chat');
    await p.waitForFunction(() => /Live/.test(document.getElementById('live-status').textContent), null, { timeout: 10000 });
    await p.fill('#chat-q', `Explain the architecture, the ring and the workers in detail (${h.uniqueId('c')})`);
    await p.selectOption('#chat-mode', 'comprehensive');
    await p.click('#chat-form button[type=submit]');
    const card = p.locator('.qa').first();
    await p.waitForFunction(() => document.querySelector('.qa .answer').childNodes.length > 2, null, { timeout: 20000 });
    await card.getByRole('button', { name: 'Pause' }).click();
    await p.waitForFunction(() => document.querySelector('.qa .stage').textContent === 'paused');
    const n1 = await card.evaluate((c) => c.querySelector('.answer').childNodes.length);
    await h.sleep(400);
    const n2 = await card.evaluate((c) => c.querySelector('.answer').childNodes.length);
    assert.ok(n2 - n1 <= 2, `paused: at most a frame in flight (${n1} -> ${n2})`);
    await card.getByRole('button', { name: 'Resume' }).click();
    await card.getByRole('button', { name: 'Cancel' }).click();
    await p.waitForFunction(() => /CANCELLED|complete/.test(document.querySelector('.qa .stage').textContent), null, { timeout: 20000 });
    // /chat/ws: reactions
    await p.selectOption('#chat-endpoint', 'chat');
    await p.fill('#chat-q', `What is ragws? (${h.uniqueId('r')})`);
    await p.keyboard.press('Control+Enter');
    await p.waitForSelector('.qa >> nth=0 >> button[aria-label="thumbs up"]', { timeout: 30000 });
    await p.locator('.qa').first().getByRole('button', { name: 'thumbs up' }).click();
    await p.waitForFunction(() => /reaction saved: thumbs_up/.test(document.querySelector('.qa .meta').textContent), null, { timeout: 10000 });
    await done(p);
  });

  test('documents: drop a generated PDF, follow it to 100 %, see it listed, delete it', { timeout: 120000 }, async () => {
    const p = await open('documents');
    p.on('dialog', (d) => d.accept());
    const coll = `ui_${h.uniqueId('c').replace(/[^A-Za-z0-9_]/g, '')}`;
    const name = `rapport-${h.uniqueId('p').replace(/[^A-Za-z0-9]/g, '')}.pdf`;
    const pdf = makePdf(path.join(b.tmp, name), [
      'Page one: the zephyrine turbine report for the browser test.',
      'Page two: maintenance of the zephyrine turbine every spring.',
    ]);
    await p.fill('#up-collection', coll);
    // drag and drop, as a person does: a drop event carrying the file
    await p.evaluate(([n, b64]) => {
      const bytes = Uint8Array.from(atob(b64), (ch) => ch.charCodeAt(0));
      const dt = new DataTransfer();
      dt.items.add(new File([bytes], n, { type: 'application/pdf' }));
      dt.items.add(new File(['plain text notes about the zephyrine turbine\n'], `${n}.txt`, { type: 'text/plain' }));
      document.getElementById('dropzone').dispatchEvent(new DragEvent('drop', { dataTransfer: dt, bubbles: true, cancelable: true }));
    }, [name, pdf.toString('base64')]);
    const seen = new Set();
    const row = p.locator(`#uploads tr[data-file="${name}"]`);
    await row.waitFor({ timeout: 10000 });
    const t0 = Date.now();
    while (Date.now() - t0 < 60000) {
      seen.add(await row.locator('td').nth(1).textContent());
      if ((await row.locator('td').nth(1).textContent()) === 'done') break;
      await h.sleep(20);
    }
    assert.equal(await row.locator('.pct').textContent(), '100 %');
    assert.equal(await row.locator('progress').getAttribute('value'), '100');
    assert.ok(seen.size >= 2, `stages shown: ${[...seen]}`);
    const result = await row.locator('td').nth(3).textContent();
    const doc = /document (\d+) · (\d+) chunks/.exec(result);
    assert.ok(doc, result);
    assert.ok(Number(doc[2]) >= 1, result);
    const txt = p.locator(`#uploads tr[data-file="${name}.txt"]`);
    await p.waitForFunction((n) => document.querySelector(`#uploads tr[data-file="${n}.txt"] .pct`).textContent === '100 %', name, { timeout: 30000 });
    assert.equal(await txt.locator('td').nth(1).textContent(), 'done');
    // the collection, with live counts, and its documents
    const crow = p.locator(`#collections tr[data-collection="${coll}"]`);
    await p.waitForFunction((c) => {
      const r = document.querySelector(`#collections tr[data-collection="${c}"]`);
      return r && r.children[1].textContent === '2';
    }, coll, { timeout: 15000 });
    await crow.getByRole('button', { name: coll }).click();
    const drow = p.locator(`#coll-docs tr[data-document="${doc[1]}"]`);
    await drow.waitFor({ timeout: 10000 });
    assert.match(await drow.textContent(), new RegExp(name.replace(/\./g, '\\.')));
    await shot(p, 'documents');
    // delete it: gone from the page and from PostgreSQL
    await drow.getByRole('button', { name: `Delete ${name}` }).click();
    await drow.waitFor({ state: 'detached', timeout: 10000 });
    await p.waitForFunction((c) => document.querySelector(`#collections tr[data-collection="${c}"]`).children[1].textContent === '1', coll, { timeout: 15000 });
    assert.deepEqual(await h.psql(`SELECT count(*) FROM documents WHERE id = ${Number(doc[1])}`), [['0']]);
    await done(p);
  });

  test('ingestion dashboard: a task goes through the table, its log, the counters and charts', { timeout: 120000 }, async () => {
    const p = await open('ingestion');
    await p.waitForSelector('#counters .counter', { timeout: 10000 });
    // the statuses each task row shows, as they change
    await p.evaluate(() => {
      window.seenStatus = {};
      new MutationObserver(() => {
        for (const tr of document.querySelectorAll('#tasks tr[data-task]')) {
          const s = (window.seenStatus[tr.dataset.task] ||= []);
          if (s[s.length - 1] !== tr.dataset.status) s.push(tr.dataset.status);
        }
      }).observe(document.getElementById('tasks'), { childList: true, subtree: true });
    });
    const name = `dash-${h.uniqueId('d').replace(/[^A-Za-z0-9]/g, '')}.pdf`;
    const pages = Array.from({ length: 6 }, (_, i) => `Dashboard page ${i + 1} about quasar calibration ${'lorem ipsum '.repeat(40)}`);
    const pdf = makePdf(path.join(b.tmp, name), pages);
    const up = await ctx.server.http('POST', `/api/collections/dash/documents?filename=${name}`, {
      body: pdf, headers: { 'Content-Type': 'application/pdf' },
    });
    assert.equal(up.status, 202, up.body);
    const taskId = JSON.parse(up.body).task_id;
    const row = p.locator(`#tasks tr[data-task="${taskId}"]`);
    await row.waitFor({ timeout: 10000 });
    await row.getByRole('button', { name: `Log of task ${taskId}` }).click();
    await p.waitForFunction((id) => {
      const r = document.querySelector(`#tasks tr[data-task="${id}"]`);
      return r && r.dataset.status === 'completed';
    }, taskId, { timeout: 60000 });
    const seen = await p.evaluate((id) => window.seenStatus[id], taskId);
    assert.equal(seen[seen.length - 1], 'completed', JSON.stringify(seen));
    assert.ok(seen.length >= 2, `the row changed status: ${JSON.stringify(seen)}`);
    assert.match(await row.textContent(), /100 %/);
    await p.waitForFunction((id) => [...document.querySelectorAll('#notifications li')].some((l) => l.textContent.includes(`Task ${id}`)), taskId, { timeout: 15000 });
    const log = await p.locator('#tasklog li').allTextContents();
    assert.ok(log.length >= 2, JSON.stringify(log));
    assert.equal(await p.locator('#tasklog-id').textContent(), `#${taskId}`);
    await p.waitForFunction(() => /^[1-9]/.test([...document.querySelectorAll('#counters .counter')].find((c) => c.querySelector('dt').textContent === 'Completed').querySelector('dd').textContent), null, { timeout: 10000 });
    await p.waitForFunction(() => [...document.querySelectorAll('#ing-charts figure')].every((f) => Number(f.dataset.points) >= 3), null, { timeout: 10000 });
    assert.equal(await p.locator('#ing-charts canvas').count(), 4, 'four uPlot charts');
    await shot(p, 'ingestion');
    await done(p);
  });

  test('operations: the charts move while a broadcast load runs; services and status', { timeout: 90000 }, async () => {
    const p = await open('operations');
    await p.waitForFunction(() => Number(document.querySelector('#ops-charts figure').dataset.points) >= 1, null, { timeout: 10000 });
    // receivers and a publisher: messages in and out per second rise
    const WS = require('ws');
    const port = ctx.server.port;
    const subs = [];
    for (let i = 0; i < 4; i++) {
      const w = ctx.track(new WS(`ws://127.0.0.1:${port}/api/v1/ws`));
      await new Promise((res, rej) => { w.once('open', res); w.once('error', rej); });
      subs.push(w);
    }
    const pub = ctx.track(new WS(`ws://127.0.0.1:${port}/ws/publish`));
    await new Promise((res, rej) => { pub.once('open', res); pub.once('error', rej); });
    let stop = false;
    const load = (async () => {
      let i = 0;
      while (!stop) {
        for (let k = 0; k < 50; k++) pub.send(JSON.stringify({ channel: 'global', message: { type: 'indexing_progress', document_id: i++, filename: 'load.pdf', stage: 'chunking', progress: 0.5 } }));
        await h.sleep(20);
      }
    })();
    const msgs = p.locator('#ops-charts figure').nth(1);
    const start = Number(await msgs.getAttribute('data-points'));
    await p.waitForFunction(() => {
      const f = document.querySelectorAll('#ops-charts figure')[1];
      const last = JSON.parse(f.dataset.last || '[0,0]');
      return last[0] > 10 && last[1] > 10;
    }, null, { timeout: 20000 });
    const conns = JSON.parse(await p.locator('#ops-charts figure').nth(0).getAttribute('data-last'));
    assert.ok(conns[0] >= 5, `connections chart counts the load's sockets and the page's own: ${conns}`);
    assert.ok(Number(await msgs.getAttribute('data-points')) > start, 'the chart moved');
    await shot(p, 'operations');
    stop = true;
    await load;
    for (const w of [...subs, pub]) w.close();
    // one row per worker, PostgreSQL and the LLM backend
    await p.waitForSelector('#services tr[data-service="postgresql"]', { timeout: 10000 });
    const services = await p.locator('#services tr').evaluateAll((rs) => rs.map((r) => [r.dataset.service, r.querySelector('.badge').textContent]));
    const names = services.map((s) => s[0]);
    for (const want of ['postgresql', 'llm-builtin']) assert.ok(names.includes(want), JSON.stringify(services));
    assert.equal(names.filter((n) => /^worker/.test(n)).length, 2, JSON.stringify(services));
    assert.ok(services.every((s) => s[1] === 'healthy' || s[1] === 'ready'), JSON.stringify(services));
    assert.equal(await p.locator('#ops-charts canvas').count(), 5);
    // admin publishing from the page: ragws refuses an Origin it does not list by name
    await p.click('#pub-form button[type=submit]');
    await p.waitForFunction(() => document.getElementById('pub-result').textContent.length > 0);
    assert.match(await p.locator('#pub-result').textContent(), /^ORIGIN_NOT_ALLOWED: /);
    p.errors = p.errors.filter((e) => !/status of 403/.test(e)); // the browser logs the refused call
    await done(p);
  });

  test('assistant: a live /ws/conversation session with suggestions and signals', { timeout: 60000 }, async (t) => {
    const paths = JSON.parse((await ctx.server.http('GET', '/openapi.json')).body).paths;
    if (!paths['/ws/conversation']) {
      t.skip('/ws/conversation is not served by this build (issue 10)');
      return;
    }
    const p = await open('assistant');
    await p.waitForFunction(() => document.getElementById('as-session').textContent.length > 8, null, { timeout: 10000 });
    await p.fill('#as-text', 'This is far too expensive, I am thinking about cancelling my contract.');
    await p.selectOption('#as-sentiment', 'negative');
    await p.click('#as-form button[type=submit]');
    await p.waitForSelector('#as-questions li', { timeout: 30000 });
    assert.notEqual(await p.locator('#as-direction').textContent(), '—');
    assert.ok((await p.locator('#as-signals li').count()) > 0, 'signals detected');
    assert.equal(await p.locator('#as-transcript li').count(), 1);
    // the session the page shows is the stored one, with the input in it
    const session = await p.locator('#as-session').textContent();
    const stored = await ctx.server.http('GET', `/api/conversations/${encodeURIComponent(session)}/messages`);
    assert.equal(stored.status, 200, stored.body);
    assert.ok(JSON.parse(stored.body).messages.some((m) => /far too expensive/.test(m.content)), stored.body);
    await shot(p, 'assistant');
    await done(p);
  });

  test('assistant view speaks SPEC S4.5 (a stand-in /ws/conversation inside the browser)', { timeout: 60000 }, async () => {
    // Until the server serves /ws/conversation everywhere, the page talks to
    // a stand-in that sends the frames of SPEC S4.5 (seed 003); the test
    // above drives the real endpoint when it is there.
    const p = await b.browser.newPage();
    const errors = [];
    p.on('pageerror', (e) => errors.push(String(e)));
    const base = `http://127.0.0.1:${ctx.server.port}`;
    await p.route(`${base}/openapi.json`, (route) => route.fulfill({ json: { paths: { '/ws/conversation': { get: {} } } } }));
    const got = [];
    await p.routeWebSocket(/\/ws\/conversation/, (ws) => {
      ws.send(JSON.stringify({ type: 'session_init', session_id: '7d0f5c1e-2b8a-4c61-9a43-5f0e8d2c9b10' }));
      ws.onMessage((text) => {
        const m = JSON.parse(text);
        got.push(m);
        if (m.type === 'pong') return;
        if (!m.speaker || !['client', 'agent'].includes(m.speaker)) {
          ws.send(JSON.stringify({ error: 'validation_error', details: 'speaker: Field required' }));
          return;
        }
        ws.send(JSON.stringify({ type: 'ping' }));
        let full = '';
        for (const t of ['Ask ', 'about ', 'the budget.']) {
          full += t;
          ws.send(JSON.stringify({ type: 'token', content: t, full_text: full }));
        }
        ws.send(JSON.stringify({
          questions: ['What budget did you plan for this year?', 'Which option would fit it best?'],
          signals_detected: ['price_objection', 'churn_risk'],
          recommended_direction: 'Acknowledge the cost concern, then show the cheaper plan.',
        }));
      });
    });
    await p.goto(`${base}/#assistant`);
    await p.waitForFunction(() => document.getElementById('as-session').textContent.startsWith('7d0f5c1e'));
    await p.fill('#as-text', 'This is far too expensive, I am thinking about cancelling.');
    await p.selectOption('#as-sentiment', 'negative');
    await p.fill('#as-emotion', 'frustrated');
    await p.keyboard.press('Control+Enter');
    await p.waitForSelector('#as-questions li', { timeout: 10000 });
    const sent = got.find((m) => m.text);
    assert.deepEqual(sent, { text: 'This is far too expensive, I am thinking about cancelling.', speaker: 'client', sentiment: 'negative', emotion: 'frustrated', stream: true });
    assert.ok(got.some((m) => m.type === 'pong'), 'the page answers the server ping');
    assert.deepEqual(await p.locator('#as-questions li').allTextContents(), ['What budget did you plan for this year?', 'Which option would fit it best?']);
    assert.deepEqual(await p.locator('#as-signals li').allTextContents(), ['price_objection', 'churn_risk']);
    assert.match(await p.locator('#as-direction').textContent(), /cheaper plan/);
    assert.equal(await p.locator('#as-transcript li').count(), 1);
    await shot(p, 'assistant-standin');
    assert.deepEqual(errors, []);
    await p.close();
  });

  test('accessible: every control labelled, keyboard reaches the views, readable 360 px wide', { timeout: 60000 }, async () => {
    const p = await open('chat');
    for (const view of ['chat', 'documents', 'ingestion', 'assistant', 'operations']) {
      await p.evaluate((v) => { location.hash = v; }, view);
      await p.waitForFunction((v) => !document.getElementById(`view-${v}`).hidden, view);
      const unlabelled = await p.evaluate((v) => [...document.querySelectorAll(`#view-${v} input:not([type=hidden]):not([hidden]), #view-${v} select, #view-${v} textarea, #view-${v} button`)]
        .filter((e) => !(e.labels && e.labels.length) && !e.getAttribute('aria-label') && !e.textContent.trim())
        .map((e) => e.outerHTML.slice(0, 80)), view);
      assert.deepEqual(unlabelled, [], `${view}: controls without a label`);
    }
    // keyboard: Tab from the top reaches the navigation; Enter opens a view
    await p.evaluate(() => { location.hash = 'chat'; });
    await p.keyboard.press('Tab');
    await p.keyboard.press('Tab');
    await p.keyboard.press('Tab');
    assert.equal(await p.evaluate(() => document.activeElement.dataset.view), 'documents');
    await p.keyboard.press('Enter');
    await p.waitForFunction(() => !document.getElementById('view-documents').hidden);
    await p.focus('#dropzone');
    assert.equal(await p.evaluate(() => document.activeElement.id), 'dropzone');
    // a narrow window: nothing wider than the viewport
    await p.setViewportSize({ width: 360, height: 800 });
    for (const view of ['chat', 'documents', 'ingestion', 'operations']) {
      await p.evaluate((v) => { location.hash = v; }, view);
      await h.sleep(300);
      const w = await p.evaluate(() => document.documentElement.scrollWidth);
      const wide = await p.evaluate(() => [...document.querySelectorAll('main *')]
        .filter((e) => e.offsetParent !== null && e.getBoundingClientRect().right > 362)
        .map((e) => `${e.tagName}#${e.id}.${e.className}`).slice(0, 8));
      assert.ok(w <= 362, `${view}: ${w} px wide in a 360 px window: ${wide}`);
    }
    await shot(p, 'operations-narrow');
    // the token dialog (auth.mode = jwt asks for it; here opened by hand)
    await p.click('#auth-open');
    assert.equal(await p.isVisible('#auth-dialog'), true);
    await p.fill('#auth-token', 'abc.def.ghi');
    await p.click('#auth-form button[value=save]');
    await p.waitForFunction(() => sessionStorage.getItem('ragws.token') === 'abc.def.ghi', null, { timeout: 5000 });
    assert.equal(await p.evaluate(() => localStorage.length), 0, 'nothing kept beyond the tab');
    await p.click('#auth-open');
    await p.click('#auth-form button[value=clear]');
    await p.waitForFunction(() => sessionStorage.getItem('ragws.token') === null, null, { timeout: 5000 });
    await done(p);
  });

  ctx.stopTest();
});

describe('auth.mode = jwt: the page asks for a token and uses it', () => {
  const secret = 'ui-test-secret-0123456789abcdef0123456789';
  const ctx = h.setup({
    name: 'ui-jwt',
    workers: 1,
    overrides: (c) => {
      const f = path.join(c.dir, 'jwt.secret');
      fs.writeFileSync(f, secret);
      return { 'auth.mode': 'jwt', 'auth.jwt_secret_file': f };
    },
  });
  const b = {};
  before(async () => { b.browser = await launch(); }, { timeout: 60000 });
  after(() => chromium.close(b.browser));

  test('no token: the dialog opens and the status says reconnecting; with one, an answer streams', { timeout: 90000 }, async () => {
    const p = await b.browser.newPage();
    const errors = [];
    p.on('pageerror', (e) => errors.push(String(e)));
    await p.goto(`http://127.0.0.1:${ctx.server.port}/#chat`);
    await p.waitForSelector('#auth-dialog[open]', { timeout: 15000 });
    assert.match(await p.locator('#auth-reason').textContent(), /token/i);
    await p.waitForFunction(() => /reconnecting in \d+ s/.test(document.getElementById('live-status').textContent), null, { timeout: 15000 });
    const token = h.jwtHS256(secret, { sub: 'ui-user', exp: Math.floor(Date.now() / 1000) + 600 });
    await p.fill('#auth-token', token);
    await p.click('#auth-form button[value=save]');
    await p.waitForFunction(() => /Live: \d+ connection/.test(document.getElementById('live-status').textContent), null, { timeout: 15000 });
    await p.fill('#chat-q', QUESTION);
    await p.click('#chat-form button[type=submit]');
    await p.waitForFunction(() => document.querySelector('.qa .stage') && document.querySelector('.qa .stage').textContent === 'complete', null, { timeout: 30000 });
    assert.ok((await p.locator('.qa .citation').count()) > 0);
    assert.equal(await p.evaluate(() => sessionStorage.getItem('ragws.token')), token);
    assert.deepEqual(errors, []);
    await p.close();
  });

  ctx.stopTest();
});

describe('ui.enabled = no', () => {
  const ctx = h.setup({ name: 'ui-off', workers: 1, database: false, overrides: { 'ui.enabled': 'no' } });
  test('GET / and /ui/* answer 404; the rest is served', async () => {
    for (const p of ['/', '/ui/app.js', '/ui/uPlot.iife.min.js']) {
      const r = await ctx.server.http('GET', p);
      assert.equal(r.status, 404, p);
      assert.equal(JSON.parse(r.body).error.code, 'NOT_FOUND', p);
    }
    assert.equal((await ctx.server.http('GET', '/health')).status, 200);
    assert.equal((await ctx.server.http('GET', '/docs')).status, 200);
  });
  ctx.stopTest();
});
