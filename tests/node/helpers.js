'use strict';
// Harness for the node:test Socket.IO suite (tests/node/*.test.js).
//
// Like tests/integration/harness.py + run.py, but per test file (node's test
// runner runs every file in its own process):
//   - a private PostgreSQL cluster (scripts/pg-local.sh start <tmpdir>),
//     migrated (`ragws migrate`) and with docs/samples/*.md ingested
//     (`ragws ingest documents ...`); stopped when the file is done. Set
//     RAGWS_TEST_CONNINFO to use an existing, migrated database instead.
//   - the server binary (RAGWS_BIN, default build/asan/ragws) on a free port
//     with 2 workers, ready when GET /ready answers 200; stopped by PID
//     (SIGTERM to the master, bounded wait, then SIGKILL of the master and of
//     the worker PIDs seen in /metrics). A server log with a sanitizer report
//     fails the test during which it appeared (afterEach) or the file's last
//     test, `server stops cleanly`, which stops the server and checks the log
//     once more (LeakSanitizer reports are written at exit).
//
// Usage in a test file:
//   const h = require('./helpers');
//   describe('...', () => {
//     const ctx = h.setup({ overrides: { 'socketio.ping_interval': '0.5' } });
//     test('...', { timeout: 20000 }, async () => {
//       const s = await ctx.connect({ transports: ['websocket'] });
//       ...
//     });
//     ctx.stopTest();   // last: `server stops cleanly`
//   });
const assert = require('node:assert/strict');
const { spawn, execFile, spawnSync } = require('node:child_process');
const crypto = require('node:crypto');
const fs = require('node:fs');
const http = require('node:http');
const net = require('node:net');
const os = require('node:os');
const path = require('node:path');
const { before, after, afterEach, test } = require('node:test');

const REPO = path.resolve(__dirname, '..', '..');
const BIN = process.env.RAGWS_BIN || 'build/asan/ragws';
const SANITIZER_PATTERNS = ['ERROR: AddressSanitizer', 'runtime error:', 'ERROR: LeakSanitizer'];
const SAMPLES_DIR = path.join(REPO, 'docs', 'samples');
const DEFAULT_ENV = {
  ASAN_OPTIONS: 'detect_leaks=1:abort_on_error=0',
  UBSAN_OPTIONS: 'print_stacktrace=1',
};

function binPath() {
  return path.isAbsolute(BIN) ? BIN : path.join(REPO, BIN);
}

function childEnv(extra) {
  const env = { ...process.env };
  for (const [k, v] of Object.entries(DEFAULT_ENV)) if (env[k] === undefined) env[k] = v;
  delete env.NOTIFY_SOCKET;
  return { ...env, ...(extra || {}) };
}

// ---------------------------------------------------------------------------
// small utilities

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** Rejects after ms with an Error naming `what`. */
function withTimeout(promise, ms, what) {
  let timer;
  return Promise.race([
    promise,
    new Promise((_, reject) => {
      timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms waiting for ${what}`)), ms);
    }),
  ]).finally(() => clearTimeout(timer));
}

/** Poll pred() (sync or async) until truthy; returns its value. */
async function eventually(pred, { timeout = 5000, interval = 50, what = 'condition' } = {}) {
  const deadline = Date.now() + timeout;
  let last;
  for (;;) {
    last = await pred();
    if (last) return last;
    if (Date.now() >= deadline) {
      throw new Error(`timed out after ${timeout} ms waiting for ${what} (last: ${JSON.stringify(last)})`);
    }
    await sleep(interval);
  }
}

function run(cmd, args, { timeout = 120000, env, cwd = REPO } = {}) {
  return new Promise((resolve) => {
    execFile(cmd, args, { cwd, env: childEnv(env), timeout, maxBuffer: 64 << 20 },
      (err, stdout, stderr) => {
        const code = err ? (typeof err.code === 'number' ? err.code : (err.killed ? 'timeout' : -1)) : 0;
        resolve({ code, stdout: String(stdout), stderr: String(stderr) });
      });
  });
}

function uniqueId(prefix = 'n') {
  return `${prefix}${process.pid.toString(36)}${crypto.randomBytes(4).toString('hex')}`;
}

/** A random positive integer below 2^31, for chat ids etc. */
function randomInt() {
  return crypto.randomInt(1_000_000, 2 ** 31 - 1);
}

function freePort() {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
}

// ---------------------------------------------------------------------------
// HTTP (node's http module, a new connection per request unless agent given)

function httpRequest(port, method, urlPath, { body, headers = {}, timeout = 10000, agent = false } = {}) {
  return new Promise((resolve, reject) => {
    let payload = body;
    const hdrs = { ...headers };
    if (payload !== undefined && payload !== null && typeof payload !== 'string' && !Buffer.isBuffer(payload)) {
      payload = JSON.stringify(payload);
      if (!Object.keys(hdrs).some((k) => k.toLowerCase() === 'content-type')) hdrs['Content-Type'] = 'application/json';
    }
    if (payload !== undefined && payload !== null) hdrs['Content-Length'] = Buffer.byteLength(payload);
    const req = http.request({ host: '127.0.0.1', port, method, path: urlPath, headers: hdrs, agent }, (res) => {
      const chunks = [];
      res.on('data', (c) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode, headers: res.headers, body: Buffer.concat(chunks).toString('utf8') }));
      res.on('error', reject);
    });
    req.setTimeout(timeout, () => req.destroy(new Error(`${method} ${urlPath}: no answer within ${timeout} ms`)));
    req.on('error', reject);
    if (payload !== undefined && payload !== null) req.write(payload);
    req.end();
  });
}

function parseMetrics(text) {
  const out = {};
  for (const line of text.split('\n')) {
    if (!line || line.startsWith('#')) continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*(?:\{[^}]*\})?)\s+(\S+)$/.exec(line);
    if (!m) throw new Error(`bad metrics line: ${JSON.stringify(line)}`);
    out[m[1]] = Number(m[2]);
  }
  return out;
}

// ---------------------------------------------------------------------------
// PostgreSQL: one private cluster per test process

const PG_PREFIX = 'ragws-node-pg-';
const PG_OWNER = 'ragws-node-runner.pid';
let pgState = null; // { dir, conninfo, own }
let pgPromise = null;

function reapStaleClusters() {
  let entries = [];
  try {
    entries = fs.readdirSync(os.tmpdir()).filter((n) => n.startsWith(PG_PREFIX));
  } catch {
    return;
  }
  for (const name of entries) {
    const dir = path.join(os.tmpdir(), name);
    let pid;
    try {
      pid = Number(fs.readFileSync(path.join(dir, PG_OWNER), 'utf8').trim());
    } catch {
      continue;
    }
    if (!pid) continue;
    try {
      process.kill(pid, 0);
      continue; // that run is still going
    } catch (e) {
      if (e.code !== 'ESRCH') continue;
    }
    spawnSync(path.join(REPO, 'scripts/pg-local.sh'), ['stop', dir], { cwd: REPO, stdio: 'ignore', timeout: 120000 });
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

function stopPostgresSync() {
  if (!pgState || !pgState.own) return;
  const { dir } = pgState;
  pgState = null;
  spawnSync(path.join(REPO, 'scripts/pg-local.sh'), ['stop', dir], { cwd: REPO, stdio: 'ignore', timeout: 120000 });
  fs.rmSync(dir, { recursive: true, force: true });
}

async function startPostgresOnce() {
  if (process.env.RAGWS_TEST_CONNINFO) {
    pgState = { dir: null, conninfo: process.env.RAGWS_TEST_CONNINFO, own: false };
  } else {
    reapStaleClusters();
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), PG_PREFIX));
    fs.writeFileSync(path.join(dir, PG_OWNER), `${process.pid}\n`);
    pgState = { dir, conninfo: null, own: true };
    const r = await run(path.join(REPO, 'scripts/pg-local.sh'), ['start', dir], { timeout: 120000 });
    const lines = r.stdout.trim().split('\n').filter(Boolean);
    if (r.code !== 0 || !lines.length) {
      throw new Error(`scripts/pg-local.sh start ${dir} failed (${r.code}): ${r.stderr.trim().split('\n').slice(-5).join('\n')}`);
    }
    pgState.conninfo = lines[lines.length - 1];
  }
  const ci = pgState.conninfo;
  const mig = await runCli(['migrate', '-c', 'ragws.conf', '-o', `postgres.conninfo=${ci}`]);
  assert.equal(mig.code, 0, `ragws migrate failed:\n${mig.stdout}\n${mig.stderr}`);
  const have = new Set((await psql(
    "SELECT d.filename FROM documents d JOIN collections c ON c.id = d.collection_id WHERE c.name = 'documents'"))
    .map((r) => r[0]));
  const samples = fs.readdirSync(SAMPLES_DIR).filter((n) => n.endsWith('.md')).sort();
  const missing = samples.filter((n) => !have.has(n)).map((n) => path.join('docs', 'samples', n));
  if (missing.length) {
    const ing = await runCli(['ingest', 'documents', ...missing, '-c', 'ragws.conf', '-o', `postgres.conninfo=${ci}`]);
    assert.equal(ing.code, 0, `ragws ingest failed:\n${ing.stdout}\n${ing.stderr}`);
  }
  return ci;
}

/** conninfo of this process's migrated, ingested database (started once). */
function postgres() {
  if (!pgPromise) pgPromise = startPostgresOnce();
  return pgPromise;
}

/** Rows (arrays of strings) of a query on the test database (psql -At). */
async function psql(sql) {
  const ci = pgState && pgState.conninfo;
  if (!ci) throw new Error('no database yet');
  const r = await run('psql', ['-X', '-At', '-F', '\x1f', '-v', 'ON_ERROR_STOP=1', '-d', ci, '-c', sql], { timeout: 30000 });
  if (r.code !== 0) throw new Error(`psql failed (${r.code}): ${r.stderr}`);
  const out = r.stdout.replace(/\n$/, '');
  return out === '' ? [] : out.split('\n').map((l) => l.split('\x1f'));
}

function sqlLiteral(s) {
  return `'${String(s).replace(/'/g, "''")}'`;
}

async function runCli(args, { timeout = 120000, env } = {}) {
  const r = await run(binPath(), args, { timeout, env });
  for (const p of SANITIZER_PATTERNS) {
    if (r.stderr.includes(p) || r.stdout.includes(p)) {
      throw new Error(`sanitizer report from ragws ${args.join(' ')}:\n${r.stderr}`);
    }
  }
  return r;
}

// ---------------------------------------------------------------------------
// the server under test

const liveServers = new Set();

class Server {
  constructor(dir, name = 'server') {
    this.dir = dir;
    this.name = name;
    this.logPath = path.join(dir, `${name}.log`);
    this.proc = null;
    this.port = null;
    this.workerPidsSeen = new Set();
    this.exited = null; // Promise of { code, signal }
    this.exitInfo = null;
  }

  async start({ overrides = {}, workers = 2, env, readyTimeout = 30000, database = true } = {}) {
    this.port = await freePort();
    const args = ['-c', 'ragws.conf', '-o', `server.listen=127.0.0.1:${this.port}`,
      '-o', `server.workers=${workers}`, '-o', 'log.level=debug', '-o', 'server.drain_timeout=3s'];
    if (database) args.push('-o', `postgres.conninfo=${await postgres()}`);
    for (const [k, v] of Object.entries(overrides)) args.push('-o', `${k}=${v}`);
    this.args = args;
    const fd = fs.openSync(this.logPath, 'a');
    this.proc = spawn(binPath(), args, { cwd: REPO, env: childEnv(env), stdio: ['ignore', fd, fd] });
    fs.closeSync(fd);
    liveServers.add(this);
    this.exited = new Promise((resolve) => {
      this.proc.on('exit', (code, signal) => {
        this.exitInfo = { code, signal };
        liveServers.delete(this);
        resolve(this.exitInfo);
      });
    });
    await this.waitReady(readyTimeout, database);
    await this.noteWorkers();
    return this;
  }

  running() {
    return this.proc && !this.exitInfo;
  }

  async waitReady(timeout, database) {
    const deadline = Date.now() + timeout;
    let last;
    for (;;) {
      if (this.exitInfo) throw new Error(`${this.name} exited (${JSON.stringify(this.exitInfo)}) before it was ready\n${this.logTail()}`);
      try {
        const r = await this.http('GET', '/ready', { timeout: 1000 });
        last = `${r.status} ${r.body}`;
        if (r.status === 200) return JSON.parse(r.body);
        if (!database && r.status === 503) {
          const info = JSON.parse(r.body);
          if (info.workers_ready >= info.workers_expected && !info.draining) return info;
        }
      } catch (e) {
        last = String(e.message || e);
      }
      if (Date.now() >= deadline) throw new Error(`${this.name} not ready after ${timeout} ms (last: ${last})\n${this.logTail()}`);
      await sleep(50);
    }
  }

  url(p = '') {
    return `http://127.0.0.1:${this.port}${p}`;
  }

  wsUrl(p = '') {
    return `ws://127.0.0.1:${this.port}${p}`;
  }

  http(method, urlPath, opts) {
    return httpRequest(this.port, method, urlPath, opts);
  }

  async metrics() {
    const r = await this.http('GET', '/metrics');
    if (r.status !== 200) throw new Error(`/metrics answered ${r.status}: ${r.body.slice(0, 200)}`);
    return parseMetrics(r.body);
  }

  /** {slot: pid} of the workers, from /metrics. */
  async workerPids() {
    const out = {};
    for (const [k, v] of Object.entries(await this.metrics())) {
      const m = /^ragws_worker_pid\{slot="(\d+)"\}$/.exec(k);
      if (m && Number(v) > 0) out[Number(m[1])] = Number(v);
    }
    return out;
  }

  async noteWorkers() {
    try {
      for (const pid of Object.values(await this.workerPids())) this.workerPidsSeen.add(pid);
    } catch {
      // best effort: used only to kill leftovers
    }
  }

  // -- room events (admin REST, allowed from loopback without a token)

  async projectUpdate(project, type, data) {
    const r = await this.http('POST', `/api/projects/${project}/updates`, { body: { type, data } });
    assert.equal(r.status, 202, `POST updates: ${r.status} ${r.body}`);
    return JSON.parse(r.body);
  }

  async documentStatus(project, doc, status, progress) {
    const r = await this.http('POST', `/api/projects/${project}/documents/${doc}/status`, { body: { status, progress } });
    assert.equal(r.status, 202, `POST document status: ${r.status} ${r.body}`);
    return JSON.parse(r.body);
  }

  async broadcast(project, event, data) {
    const r = await this.http('POST', `/api/projects/${project}/broadcast`, { body: { event, data } });
    assert.equal(r.status, 202, `POST broadcast: ${r.status} ${r.body}`);
    return JSON.parse(r.body);
  }

  // -- logs

  logText() {
    try {
      return fs.readFileSync(this.logPath, 'utf8');
    } catch {
      return '';
    }
  }

  logTail(n = 40) {
    return this.logText().split('\n').slice(-n).map((l) => `    | ${l}`).join('\n');
  }

  sanitizerReport() {
    const text = this.logText();
    for (const p of SANITIZER_PATTERNS) {
      const i = text.indexOf(p);
      if (i >= 0) {
        const start = text.lastIndexOf('\n', Math.max(0, i - 200)) + 1;
        return text.slice(start, start + 6000);
      }
    }
    return null;
  }

  /** Throws if the log holds a sanitizer report. */
  checkLog() {
    const rep = this.sanitizerReport();
    if (rep) throw new Error(`sanitizer report in ${this.logPath}:\n${rep}`);
  }

  /** SIGTERM, bounded wait, SIGKILL of master and known workers; check the log. */
  async stop({ timeout = 20000, check = true } = {}) {
    if (!this.proc) return null;
    if (this.running()) {
      await this.noteWorkers();
      try {
        process.kill(this.proc.pid, 'SIGTERM');
      } catch {
        // already gone
      }
      const done = await withTimeout(this.exited, timeout, 'exit').catch(() => null);
      if (!done) {
        this.kill();
        await withTimeout(this.exited, 5000, 'exit after SIGKILL').catch(() => null);
        throw new Error(`${this.name} did not exit within ${timeout} ms of SIGTERM; killed\n${this.logTail()}`);
      }
    }
    // Workers are the master's children; give any straggler a moment, then kill it.
    for (const pid of this.workerPidsSeen) {
      if (!(pid > 0)) continue; // pid 0 would signal our own process group
      const gone = await eventually(() => !pidAlive(pid), { timeout: 3000, what: `worker ${pid} to exit` }).catch(() => false);
      if (!gone) {
        try {
          process.kill(pid, 'SIGKILL');
        } catch {
          // gone
        }
      }
    }
    if (check) this.checkLog();
    return this.exitInfo;
  }

  kill() {
    for (const pid of [this.proc && this.proc.pid, ...this.workerPidsSeen]) {
      if (!(pid > 0)) continue;
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // gone
      }
    }
  }
}

function pidAlive(pid) {
  try {
    process.kill(pid, 0);
  } catch (e) {
    return e.code === 'EPERM';
  }
  // a zombie is not alive for our purposes
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    return !/\) Z /.test(stat);
  } catch {
    return false;
  }
}

// Whatever happens, do not leave servers or the cluster behind.
process.on('exit', () => {
  for (const s of liveServers) s.kill();
  stopPostgresSync();
});
for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP']) {
  process.on(sig, () => process.exit(130));
}

// ---------------------------------------------------------------------------
// Socket.IO clients

const { io } = require('socket.io-client');

/** Records every event a socket gets (onAny) for order and count checks. */
class Recorder {
  constructor(socket) {
    this.socket = socket;
    this.events = []; // { event, args, t }
    this.waiters = [];
    socket.onAny((event, ...args) => this.push(event, args));
    for (const ev of ['connect', 'connect_error', 'disconnect']) {
      socket.on(ev, (...args) => this.push(`@${ev}`, args));
    }
  }

  push(event, args) {
    const e = { event, args, data: args[0], t: Date.now(), i: this.events.length };
    this.events.push(e);
    for (const w of [...this.waiters]) {
      if (w.match(e)) {
        this.waiters.splice(this.waiters.indexOf(w), 1);
        w.resolve(e);
      }
    }
  }

  all(event, pred = () => true) {
    return this.events.filter((e) => e.event === event && pred(e.data, e));
  }

  count(event, pred) {
    return this.all(event, pred).length;
  }

  /** First recorded event (index >= from) named `event` for which pred holds. */
  waitFor(event, pred = () => true, { timeout = 10000, from = 0 } = {}) {
    const names = Array.isArray(event) ? event : [event];
    const match = (e) => names.includes(e.event) && e.i >= from && pred(e.data, e);
    const found = this.events.find(match);
    if (found) return Promise.resolve(found);
    let w;
    const p = new Promise((resolve) => {
      w = { match, resolve };
      this.waiters.push(w);
    });
    return withTimeout(p, timeout, `event ${event} (got: ${this.summary()})`).finally(() => {
      const k = this.waiters.indexOf(w);
      if (k >= 0) this.waiters.splice(k, 1);
    });
  }

  summary() {
    const names = this.events.slice(-12).map((e) => `${e.event}${e.event === 'error' || e.event.startsWith('@') ? JSON.stringify(e.data && (e.data.message || e.data)) : ''}`);
    return `${this.events.length} events, last: ${names.join(', ')}`;
  }
}

/** A socket.io-client socket (own Manager, no reconnection) with a Recorder. */
function makeClient(server, opts = {}) {
  const { nsp = '/', ...rest } = opts;
  const socket = io(server.url(nsp === '/' ? '' : nsp), {
    path: '/socket.io',
    forceNew: true,
    reconnection: false,
    timeout: 10000,
    autoConnect: false,
    ...rest,
  });
  const rec = new Recorder(socket);
  socket.rec = rec;
  socket.connect();
  return socket;
}

/** Resolves once the socket connected and got connection_status. */
async function connected(socket, timeout = 10000) {
  const r = socket.rec;
  const first = await r.waitFor(['@connect', '@connect_error'], undefined, { timeout });
  if (first.event === '@connect_error') throw new Error(`connect_error: ${first.data && first.data.message}`);
  await r.waitFor('connection_status', undefined, { timeout });
  return first;
}

/** The worker slot that owns a socket's Engine.IO session (sid's first 2 hex). */
function slotOf(socket) {
  const sid = socket.io.engine && socket.io.engine.id;
  assert.ok(sid && /^[0-9a-f]{2}/.test(sid), `engine sid ${sid}`);
  return parseInt(sid.slice(0, 2), 16);
}

/** Emit with ack and a timeout. */
function ack(socket, event, data, timeout = 10000) {
  return socket.timeout(timeout).emitWithAck(event, data);
}

// ---------------------------------------------------------------------------
// raw Engine.IO clients (WebSocket and long-polling)

const WebSocket = require('ws');

/** A raw Engine.IO-over-WebSocket client that records every text message. */
class RawEio {
  constructor(url, { autoPong = true } = {}) {
    this.ws = new WebSocket(url);
    this.autoPong = autoPong;
    this.msgs = [];
    this.waiters = [];
    this.closed = null;
    this.ws.on('message', (data, isBinary) => this.push(isBinary ? { binary: data } : String(data)));
    this.closedP = new Promise((resolve) => this.ws.on('close', (code, reason) => {
      this.closed = { code, reason: String(reason) };
      resolve(this.closed);
      for (const w of this.waiters.splice(0)) w.reject(new Error(`closed (${code} ${reason}) while waiting for ${w.what}; got ${JSON.stringify(this.msgs.slice(-5))}`));
    }));
    this.ws.on('error', () => {});
  }

  static async open(server, { query = '', autoPong = true } = {}) {
    const c = new RawEio(server.wsUrl(`/socket.io/?EIO=4&transport=websocket${query}`), { autoPong });
    await withTimeout(new Promise((resolve, reject) => {
      c.ws.once('open', resolve);
      c.ws.once('error', reject);
    }), 10000, 'websocket open');
    const open = await c.next((m) => m[0] === '0', 'open packet');
    c.handshake = JSON.parse(open.slice(1));
    return c;
  }

  push(m) {
    // Engine.IO heartbeat: answer like a real client
    if (m === '2' && this.autoPong) this.ws.send('3');
    const i = this.msgs.length;
    this.msgs.push(m);
    for (const w of [...this.waiters]) {
      if (w.from <= i && w.pred(m)) {
        this.waiters.splice(this.waiters.indexOf(w), 1);
        w.resolve(m);
      }
    }
  }

  next(pred, what, { from = 0, timeout = 10000 } = {}) {
    const found = this.msgs.slice(from).find((m) => typeof m === 'string' && pred(m));
    if (found !== undefined) return Promise.resolve(found);
    if (this.closed) return Promise.reject(new Error(`closed (${this.closed.code}) before ${what}; got ${JSON.stringify(this.msgs.slice(-5))}`));
    let w;
    const p = new Promise((resolve, reject) => {
      w = { from, pred: (m) => typeof m === 'string' && pred(m), resolve, reject, what };
      this.waiters.push(w);
    });
    return withTimeout(p, timeout, `${what}; got ${JSON.stringify(this.msgs.slice(-5))}`).finally(() => {
      const k = this.waiters.indexOf(w);
      if (k >= 0) this.waiters.splice(k, 1);
    });
  }

  send(text) {
    this.ws.send(text);
  }

  /** Sends text, returns the first reply matching pred after it. */
  async exchange(text, pred, what) {
    const from = this.msgs.length;
    this.send(text);
    return this.next(pred, what, { from });
  }

  async connectNsp(auth) {
    const reply = await this.exchange(`40${auth ? JSON.stringify(auth) : ''}`, (m) => m.startsWith('40') || m.startsWith('44'), 'CONNECT reply');
    return reply;
  }

  async ping() {
    const pong = await this.exchange('42["ping",{}]', (m) => m.startsWith('42["pong"'), 'pong');
    return JSON.parse(pong.slice(2))[1];
  }

  terminate() {
    this.ws.terminate();
  }
}

/** Raw Engine.IO long-polling over node's http (a new TCP connection per
 * request, so consecutive requests land on either worker). */
class RawPoll {
  constructor(server) {
    this.server = server;
    this.sid = null;
  }

  static decode(body) {
    return body === '' ? [] : body.split('\x1e');
  }

  async handshake(query = '') {
    const r = await this.server.http('GET', `/socket.io/?EIO=4&transport=polling${query}`);
    assert.equal(r.status, 200, `handshake: ${r.status} ${r.body}`);
    assert.equal(r.body[0], '0', `open packet: ${r.body}`);
    this.open = JSON.parse(r.body.slice(1));
    this.sid = this.open.sid;
    this.headers = r.headers;
    return this.open;
  }

  path(sid = this.sid) {
    return `/socket.io/?EIO=4&transport=polling&sid=${encodeURIComponent(sid)}&t=${Date.now().toString(36)}`;
  }

  async get(opts = {}) {
    const r = await this.server.http('GET', this.path(opts.sid), { timeout: opts.timeout || 30000 });
    r.packets = r.status === 200 ? RawPoll.decode(r.body) : [];
    return r;
  }

  async post(packets, opts = {}) {
    const body = Array.isArray(packets) ? packets.join('\x1e') : packets;
    return this.server.http('POST', this.path(opts.sid), { body, headers: { 'Content-Type': 'text/plain;charset=UTF-8' } });
  }

  /** GETs until a packet matching pred arrived; returns all packets seen. */
  async collect(pred, { max = 20 } = {}) {
    const seen = [];
    for (let i = 0; i < max; i++) {
      const r = await this.get();
      assert.equal(r.status, 200, `GET: ${r.status} ${r.body}`);
      for (const p of r.packets) {
        if (p === '2') await this.post(['3']);
        seen.push(p);
      }
      if (seen.some(pred)) return seen;
    }
    throw new Error(`no matching packet in ${max} GETs: ${JSON.stringify(seen)}`);
  }
}

// ---------------------------------------------------------------------------
// JWT (HS256) with node's crypto

function b64url(buf) {
  return Buffer.from(buf).toString('base64').replace(/=+$/, '').replace(/\+/g, '-').replace(/\//g, '_');
}

function jwtHS256(secret, payload, header = { alg: 'HS256', typ: 'JWT' }) {
  const h = b64url(JSON.stringify(header));
  const p = b64url(JSON.stringify(payload));
  const sig = b64url(crypto.createHmac('sha256', secret).update(`${h}.${p}`).digest());
  return `${h}.${p}.${sig}`;
}

// ---------------------------------------------------------------------------
// per-describe context: server start/stop, client cleanup, log checks

function setup({ overrides = {}, workers = 2, env, name = 'server', database = true, serverOptions } = {}) {
  const ctx = {
    server: null,
    dir: null,
    clients: new Set(),
    extraServers: [],
    connect: null,
  };
  before(async () => {
    ctx.dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ragws-node-'));
    const ov = typeof overrides === 'function' ? overrides(ctx) : overrides;
    ctx.server = new Server(ctx.dir, name);
    await ctx.server.start({ overrides: ov, workers, env, database, ...(serverOptions || {}) });
  }, { timeout: 180000 });

  /** Tracked socket.io-client; waits for connection_status unless wait: false. */
  ctx.client = (opts = {}) => {
    const s = makeClient(ctx.server, opts);
    ctx.clients.add(s);
    return s;
  };
  ctx.connect = async (opts = {}) => {
    const s = ctx.client(opts);
    await connected(s);
    return s;
  };
  ctx.track = (closable) => {
    ctx.clients.add(closable);
    return closable;
  };

  afterEach(async () => {
    for (const c of ctx.clients) {
      try {
        if (typeof c.disconnect === 'function' && c.io) {
          c.disconnect();
          c.io.engine && c.io.engine.close();
        } else if (typeof c.terminate === 'function') {
          c.terminate();
        } else if (typeof c.destroy === 'function') {
          c.destroy();
        } else if (typeof c.close === 'function') {
          c.close();
        }
      } catch {
        // closing is best effort
      }
    }
    ctx.clients.clear();
    if (ctx.server) {
      ctx.server.checkLog();
      if (!ctx.stopped && !ctx.server.running()) {
        throw new Error(`${ctx.server.name} is no longer running (${JSON.stringify(ctx.server.exitInfo)})\n${ctx.server.logTail()}`);
      }
    }
  }, { timeout: 30000 });

  after(async () => {
    // Normally stopTest() did this; after a failure it may not have.
    for (const s of [ctx.server, ...ctx.extraServers]) {
      if (s && s.running()) await s.stop({ check: false }).catch(() => {});
    }
    if (ctx.dir && !process.env.RAGWS_KEEP_TMP) {
      const failed = ctx.server && ctx.server.sanitizerReport();
      if (!failed) fs.rmSync(ctx.dir, { recursive: true, force: true });
    }
  }, { timeout: 60000 });

  ctx.stopTest = () => {
    test('server stops cleanly (SIGTERM, no sanitizer report)', { timeout: 60000 }, async () => {
      ctx.stopped = true;
      const info = await ctx.server.stop();
      assert.equal(info.signal, null, `master died of ${info.signal}\n${ctx.server.logTail()}`);
      assert.equal(info.code, 0, `master exit status ${info.code}\n${ctx.server.logTail()}`);
    });
  };
  return ctx;
}

module.exports = {
  REPO,
  RawEio,
  RawPoll,
  BIN,
  Recorder,
  Server,
  ack,
  binPath,
  connected,
  eventually,
  freePort,
  httpRequest,
  jwtHS256,
  makeClient,
  parseMetrics,
  postgres,
  psql,
  randomInt,
  runCli,
  setup,
  sleep,
  slotOf,
  sqlLiteral,
  uniqueId,
  withTimeout,
};
