'use strict';
// A real browser against ragws: Debian's chromium, headless, driven by
// playwright-core. The page (tests/browser/page.html) is served by a small
// static server on another port, i.e. from ANOTHER origin, which ragws
// allows in cors.allowed_origins. It loads the stock socket.io-client
// browser bundle with its default transports (long-polling over the
// browser's keep-alive connections, then the upgrade to WebSocket), joins a
// project and streams messages; and uses the browser's native WebSocket for
// /ws/query and /chat/ws. Several rounds, each on a fresh page: the workers
// keep their pids and the server log has no sanitizer report.
const assert = require('node:assert/strict');
const fs = require('node:fs');
const http = require('node:http');
const path = require('node:path');
const { after, before, describe, test } = require('node:test');
const h = require('../node/helpers');
const chromium = require('./chromium');

const { launch } = chromium;

const ROUNDS = Number(process.env.RAGWS_BROWSER_ROUNDS || 5);
const QUESTION = 'How do workers share broadcasts?';
const BUNDLE = path.join(h.REPO, 'node_modules', 'socket.io-client', 'dist', 'socket.io.min.js');
const PAGE = path.join(__dirname, 'page.html');

/** The page's origin: a static server for page.html and the bundle. */
function startStatic() {
  const files = {
    '/': ['text/html; charset=utf-8', fs.readFileSync(PAGE)],
    '/socket.io.min.js': ['application/javascript', fs.readFileSync(BUNDLE)],
  };
  const srv = http.createServer((req, res) => {
    const f = files[req.url];
    if (!f) {
      res.writeHead(404).end();
      return;
    }
    res.writeHead(200, { 'Content-Type': f[0], 'Cache-Control': 'no-store' }).end(f[1]);
  });
  return new Promise((resolve) => srv.listen(0, '127.0.0.1', () => resolve(srv)));
}


/** The stored assistant message a message_complete names. */
async function storedAnswer(messageId) {
  const rows = await h.psql(`SELECT role, content, status FROM messages WHERE id = ${Number(messageId)}`);
  assert.equal(rows.length, 1, `message ${messageId} is stored`);
  return rows[0];
}

function checkSioMessage(m, chatId) {
  assert.deepEqual(m.errors, [], 'no error events');
  assert.deepEqual(m.ack, { status: 'accepted', chat_id: chatId });
  assert.deepEqual(m.order, ['message_received', 'message_sources', 'message_token', 'message_complete'],
    'seed 002 event flow');
  assert.ok(m.tokens.length > 0, 'streamed tokens');
  assert.equal(m.complete.chat_id, chatId);
  assert.equal(m.complete.metadata.model, 'builtin');
  assert.ok(Number.isInteger(m.complete.metadata.message_id), JSON.stringify(m.complete));
}

describe('headless chromium, page from another origin', () => {
  const page = {};
  before(async () => {
    page.static = await startStatic();
    page.origin = `http://127.0.0.1:${page.static.address().port}`;
  });
  const ctx = h.setup({
    name: 'browser',
    overrides: () => ({ 'cors.allowed_origins': `${page.origin}, https://other.example` }),
  });
  before(async () => {
    page.browser = await launch();
  }, { timeout: 60000 });
  after(async () => {
    await chromium.close(page.browser);
    if (page.static) page.static.close();
  });

  async function openPage() {
    const p = await page.browser.newPage();
    p.consoleErrors = [];
    p.on('pageerror', (e) => p.consoleErrors.push(String(e)));
    await p.goto(`${page.origin}/`);
    assert.equal(await p.evaluate(() => typeof io), 'function', 'the socket.io bundle loaded');
    assert.equal(await p.evaluate(() => location.origin), page.origin);
    return p;
  }

  test(`${ROUNDS} rounds: Socket.IO (default transports), /ws/query and /chat/ws; workers survive`, { timeout: 60000 + ROUNDS * 30000 }, async () => {
    const srv = ctx.server;
    const base = `http://127.0.0.1:${srv.port}`;
    const wsBase = `ws://127.0.0.1:${srv.port}`;
    const pids = await srv.workerPids();
    assert.equal(Object.keys(pids).length, 2, JSON.stringify(pids));
    for (let round = 0; round < ROUNDS; round++) {
      const p = await openPage();
      const project = `browser${round}`;
      const chatId = h.randomInt();
      const question = `${QUESTION} (round ${round}, ${h.uniqueId('b')})`;

      const sio = await p.evaluate(([b, pr, c, q]) => runSocketIO(b, pr, c, q), [base, project, chatId, question]);
      assert.equal(sio.status.status, 'connected', JSON.stringify(sio.status));
      assert.equal(sio.joined.project_id, project, JSON.stringify(sio.joined));
      assert.deepEqual(sio.transports, ['polling', 'websocket'], 'polling first, then the upgrade');
      checkSioMessage(sio.first, chatId);
      checkSioMessage(sio.second, chatId + 1);
      assert.equal(sio.second.transport, 'websocket');
      for (const m of [sio.first, sio.second]) {
        const [role, content, status] = await storedAnswer(m.complete.metadata.message_id);
        assert.deepEqual([role, status], ['assistant', 'complete']);
        assert.equal(m.tokens.join(''), content, 'the tokens make the stored answer');
      }

      const rid = `r${round}`;
      const q = await p.evaluate(([w, r, qq]) => runWsQuery(w, r, qq), [wsBase, rid, question]);
      const done = q[q.length - 1];
      assert.equal(done.type, 'complete', JSON.stringify(done));
      assert.ok(q.every((f) => f.request_id === rid), 'every frame names the request');
      const tokens = q.filter((f) => f.type === 'token').map((f) => f.data.content);
      assert.ok(tokens.length > 0, 'streamed tokens on /ws/query');
      assert.ok(q.some((f) => f.type === 'citation' && f.data.source.endsWith('.md')), 'citations');
      const conv = await h.psql(`SELECT content FROM messages WHERE conversation_id = ${Number(done.data.conversation_id)} AND role = 'assistant' ORDER BY id DESC LIMIT 1`);
      assert.equal(tokens.join(''), conv[0][0], '/ws/query tokens make the stored answer');

      const chat = await p.evaluate(([w, qq]) => runChatWs(w, qq), [wsBase, question]);
      const end = chat[chat.length - 1];
      assert.equal(end.type, 'complete', JSON.stringify(end));
      const chunks = chat.filter((f) => f.type === 'chunk');
      assert.ok(chunks.length > 0, 'streamed chunks on /chat/ws');
      assert.ok(chunks.every((f) => f.message_id === end.message_id), JSON.stringify(chat.slice(0, 3)));
      assert.ok(chunks.map((f) => f.text).join('').length > 20, 'a real answer');

      assert.deepEqual(p.consoleErrors, [], 'no page errors');
      await p.close();
      assert.deepEqual(await srv.workerPids(), pids, `round ${round}: the workers kept their pids`);
      assert.equal(srv.sanitizerReport(), null, `round ${round}: sanitizer report`);
    }
  });

  test('a page from an origin not allowed is refused (polling 400 code 4, WebSocket 403)', { timeout: 30000 }, async () => {
    // The same page, reached through "localhost": another origin, not in the list.
    const p = await page.browser.newPage();
    await p.goto(`http://localhost:${page.static.address().port}/`);
    const port = ctx.server.port;
    const r = await p.evaluate(async (pt) => {
      const poll = await fetch(`http://127.0.0.1:${pt}/socket.io/?EIO=4&transport=polling`).then(
        (x) => `status ${x.status}`, (e) => `failed: ${e.name}`);
      const ws = await new Promise((resolve) => {
        const w = new WebSocket(`ws://127.0.0.1:${pt}/ws/query`);
        w.onopen = () => resolve('open');
        w.onerror = () => resolve('error');
      });
      return { poll, ws };
    }, port);
    // the 400 carries no Access-Control-Allow-Origin: the page cannot read it
    assert.equal(r.poll, 'failed: TypeError', JSON.stringify(r));
    assert.equal(r.ws, 'error', JSON.stringify(r));
    await p.close();
    // ... because ragws refused that origin (and still serves the allowed one)
    const origin = `http://localhost:${page.static.address().port}`;
    const refused = await ctx.server.http('GET', '/socket.io/?EIO=4&transport=polling', { headers: { Origin: origin } });
    assert.equal(refused.status, 400, refused.body);
    assert.deepEqual(JSON.parse(refused.body), { code: 4, message: 'Origin not allowed' });
    const ok = await ctx.server.http('GET', '/socket.io/?EIO=4&transport=polling', { headers: { Origin: page.origin } });
    assert.equal(ok.status, 200, ok.body);
    assert.equal(ok.headers['access-control-allow-origin'], page.origin);
  });

  ctx.stopTest();
});
