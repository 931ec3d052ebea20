'use strict';
// GET /openapi.json from the real server: a valid OpenAPI 3.1 document
// (@apidevtools/swagger-parser), holding every route of the route table
// (worker/api/routes.c, read here from the source) with its methods, and
// documenting the status codes that real requests get (400, 404, 405,
// 413, 422 ...). GET /docs and its embedded assets: types and cache headers.
const assert = require('node:assert/strict');
const fs = require('node:fs');
const path = require('node:path');
const { describe, test } = require('node:test');
const SwaggerParser = require('@apidevtools/swagger-parser');
const h = require('./helpers');

const MAX_BODY = 65536;

/** [{pattern, methods[]}] from the route table's source lines. */
function routeTable() {
  const src = fs.readFileSync(path.join(h.REPO, 'worker', 'api', 'routes.c'), 'utf8');
  const table = src.slice(src.indexOf('const route_t api_routes[] = {'), src.indexOf('const size_t api_n_routes'));
  const bits = (expr) => {
    const m = new Set();
    for (const t of expr.split('|').map((s) => s.trim())) {
      if (t === 'GET_HEAD' || t === '(RM_GET | RM_HEAD)') {
        m.add('get');
        m.add('head');
      } else if (t.startsWith('RM_')) {
        m.add(t.slice(3).toLowerCase());
      } else {
        throw new Error(`unknown method expression ${t}`);
      }
    }
    return [...m];
  };
  const routes = [];
  for (const m of table.matchAll(/\bWS\(\s*"([^"]+)"/g)) routes.push({ pattern: m[1], methods: ['get'], ws: true });
  for (const m of table.matchAll(/\bHTTP\(\s*([A-Z_| ()]+?),\s*"([^"]+)"/g)) routes.push({ pattern: m[2], methods: bits(m[1]) });
  for (const m of table.matchAll(/\{\s*"(\/[^"]*)",\s*([A-Z_| ()]+?),\s*ROUTE_(RAW|STREAM)/g)) routes.push({ pattern: m[1], methods: bits(m[2]) });
  return routes;
}

describe('GET /openapi.json and /docs', () => {
  const ctx = h.setup({ name: 'openapi', overrides: { 'limits.max_body_bytes': String(MAX_BODY) } });
  let doc;

  /** The operation a request hits, and the statuses it documents. */
  function documented(method, pattern) {
    const op = doc.paths[pattern] && doc.paths[pattern][method];
    assert.ok(op, `${method} ${pattern} is documented`);
    return Object.keys(op.responses).map(Number);
  }

  async function checkAnswer(method, urlPath, pattern, want, opts = {}) {
    const r = await ctx.server.http(method.toUpperCase(), urlPath, opts);
    assert.equal(r.status, want, `${method} ${urlPath}: ${r.body}`);
    // a 405 has no operation of its own: the path's documented ones list it
    const list = documented(opts.documentedOn || method, pattern);
    assert.ok(list.includes(r.status), `${method} ${pattern} documents ${r.status} (has ${list})`);
    return r;
  }

  test('the document is served as JSON and validates as OpenAPI 3.1', { timeout: 30000 }, async () => {
    const r = await ctx.server.http('GET', '/openapi.json');
    assert.equal(r.status, 200, r.body);
    assert.match(r.headers['content-type'], /^application\/json/);
    doc = JSON.parse(r.body);
    assert.equal(doc.openapi, '3.1.0');
    assert.match(doc.info.description, /OpenAPI has no WebSocket operations/);
    // the validator dereferences in place: give it a copy
    const api = await SwaggerParser.validate(structuredClone(doc));
    assert.equal(api.info.title, 'ragws');
    // the same bytes every time (cached once per process), HEAD without a body
    const again = await ctx.server.http('GET', '/openapi.json');
    assert.equal(again.body, r.body);
    const head = await ctx.server.http('HEAD', '/openapi.json');
    assert.equal(head.status, 200);
    assert.equal(head.body, '');
    assert.equal(Number(head.headers['content-length']), Buffer.byteLength(r.body));
  });

  test('every route of the table is there with its methods', () => {
    const routes = routeTable();
    assert.ok(routes.length >= 30, `parsed ${routes.length} routes`);
    for (const rt of routes) {
      const item = doc.paths[rt.pattern];
      assert.ok(item, `${rt.pattern} is in paths`);
      for (const m of rt.methods) assert.ok(item[m], `${m} ${rt.pattern}`);
      if (rt.ws) {
        assert.ok(item.get.responses['101'], `${rt.pattern}: 101`);
        assert.match(item.get.description, /WebSocket/);
      }
    }
    const ids = new Set();
    for (const item of Object.values(doc.paths)) {
      for (const op of Object.values(item)) {
        assert.ok(!ids.has(op.operationId), `operationId ${op.operationId} unique`);
        ids.add(op.operationId);
      }
    }
    // seed 003 models are components, whichever routes exist yet
    for (const name of ['InputMessage', 'OutputSuggestion', 'HTTPValidationError', 'ConversationBatch', 'BatchAnalysis', 'Error']) {
      assert.ok(doc.components.schemas[name], name);
    }
  });

  test('real answers have documented status codes (200, 400, 404, 405, 413, 422)', { timeout: 30000 }, async () => {
    const health = await checkAnswer('get', '/health', '/health', 200);
    assert.deepEqual(JSON.parse(health.body), { status: 'ok' });
    await checkAnswer('get', '/api/tasks?status=bogus', '/api/tasks', 400);
    await checkAnswer('get', '/api/tasks/987654321', '/api/tasks/{id}', 404);
    await checkAnswer('get', '/api/collections/n%C3%A9ant-%F0%9F%93%9A', '/api/collections/{name}', 400);
    await checkAnswer('get', '/api/collections/aucune_collection', '/api/collections/{name}', 404);
    await checkAnswer('get', '/api/conversations/987654321/messages', '/api/conversations/{id}/messages', 404);
    await checkAnswer('delete', '/api/documents/987654321', '/api/documents/{id}', 404);
    await checkAnswer('post', '/api/tasks/987654321/cancel', '/api/tasks/{id}/cancel', 404);
    const r405 = await checkAnswer('delete', '/health', '/health', 405, { documentedOn: 'get' });
    assert.match(r405.headers.allow, /GET/);
    const big = { query: `Où est la facture ? 🧾 ${'x'.repeat(MAX_BODY)}` };
    await checkAnswer('post', '/api/query', '/api/query', 413, { body: big });
    await checkAnswer('post', '/api/query', '/api/query', 400, { body: { query: 42 } });
    await checkAnswer('post', '/api/broadcast', '/api/broadcast', 415, { body: 'x', headers: { 'Content-Type': 'text/plain' } });
    if (doc.paths['/api/process']) {
      // helper F's REST twin: seed 003's 422 with a detail list
      const r = await checkAnswer('post', '/api/process', '/api/process', 422, { body: { text: 'Bonjour 👋', speaker: 'robot' } });
      assert.ok(Array.isArray(JSON.parse(r.body).detail), r.body);
    } else {
      // the 422 model is ready for it
      assert.ok(doc.components.schemas.HTTPValidationError.properties.detail);
    }
  });

  test('/docs is an HTML page; its assets are embedded with types and cache headers', async () => {
    const page = await ctx.server.http('GET', '/docs');
    assert.equal(page.status, 200);
    assert.match(page.headers['content-type'], /^text\/html/);
    assert.match(page.headers['cache-control'], /no-cache/);
    assert.match(page.headers['content-security-policy'], /default-src 'self'/);
    assert.match(page.body, /swagger-ui-bundle\.js/);
    const js = await ctx.server.http('GET', '/docs/swagger-ui-bundle.js');
    assert.equal(js.status, 200);
    assert.match(js.headers['content-type'], /^text\/javascript/);
    assert.match(js.headers['cache-control'], /max-age=\d+/);
    const bundle = fs.readFileSync(path.join(h.REPO, 'node_modules', 'swagger-ui-dist', 'swagger-ui-bundle.js'), 'utf8');
    assert.equal(js.body.length, bundle.length, 'the npm bundle, byte for byte');
    assert.equal(js.body, bundle);
    const css = await ctx.server.http('GET', '/docs/swagger-ui.css');
    assert.match(css.headers['content-type'], /^text\/css/);
    await checkAnswer('get', '/docs/n%C3%A9ant.js', '/docs/{file}', 404);
    await checkAnswer('get', '/docs/index.html', '/docs/{file}', 404);
  });

  ctx.stopTest();
});
