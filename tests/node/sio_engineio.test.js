'use strict';
// SPEC S4.4 / S12: Engine.IO v4 details over raw HTTP (node's http module,
// one TCP connection per request, so requests of one session land on both
// workers), and the heartbeat.
const assert = require('node:assert/strict');
const http = require('node:http');
const { describe, test } = require('node:test');
const h = require('./helpers');

const { RawPoll, RawEio } = h;
const SESSION_UNKNOWN = { code: 1, message: 'Session ID unknown' };

function json400(r) {
  assert.equal(r.status, 400, `want 400, got ${r.status} ${r.body}`);
  assert.match(String(r.headers['content-type']), /application\/json/);
  return JSON.parse(r.body);
}

describe('Engine.IO over raw HTTP', () => {
  const ctx = h.setup({ name: 'engineio' });

  test('handshake GET returns 0{sid, upgrades, pingInterval, pingTimeout, maxPayload}', { timeout: 20000 }, async () => {
    const p = new RawPoll(ctx.server);
    const open = await p.handshake();
    assert.match(open.sid, /^[0-9a-f]{26}$/);
    assert.ok(parseInt(open.sid.slice(0, 2), 16) < 2, `sid names a worker slot: ${open.sid}`);
    assert.deepEqual(open.upgrades, ['websocket']);
    assert.equal(open.pingInterval, 25000);
    assert.equal(open.pingTimeout, 20000);
    assert.equal(open.maxPayload, 100000);
    assert.match(String(p.headers['content-type']), /^text\/plain/);
    // the session is alive: a POST to it is accepted
    const r = await p.post(['40']);
    assert.equal(r.status, 200, r.body);
    assert.equal(r.body, 'ok');
  });

  test('unknown sid -> 400 {"code":1,"message":"Session ID unknown"} (GET and POST)', { timeout: 20000 }, async () => {
    const p = new RawPoll(ctx.server);
    const open = await p.handshake();
    const pids = await ctx.server.workerPids();
    const slot = open.sid.slice(0, 2);
    const pidHex = open.sid.slice(2, 10);
    const bad = [
      'nonexistent',
      'zz',
      `${slot}${pidHex}0000000000000000`, // a live worker, no such session (may be handed to it)
      `${slot === '00' ? '01' : '00'}${pidHex}${open.sid.slice(10)}`, // the other slot, wrong pid
      `00${'0'.repeat(8)}${open.sid.slice(10)}`, // a dead pid
      `7f${pidHex}${open.sid.slice(10)}`, // a slot that does not exist
      `${open.sid}x`,
      `${open.sid.slice(0, 25)}`,
      // each live worker, no such session: handed to that worker, which answers
      ...Object.entries(pids).map(([sl, pid]) => `${Number(sl).toString(16).padStart(2, '0')}${pid.toString(16).padStart(8, '0')}${'ab'.repeat(8)}`),
    ];
    for (const sid of bad) {
      for (const method of ['GET', 'POST']) {
        const r = method === 'GET' ? await p.get({ sid, timeout: 5000 }) : await p.post(['42["ping",{}]'], { sid });
        assert.equal(r.status, 400, `${method} sid=${JSON.stringify(sid)}: ${r.status} ${r.body}`);
        assert.deepEqual(json400(r), SESSION_UNKNOWN, `${method} sid=${JSON.stringify(sid)}`);
      }
    }
    assert.deepEqual(await ctx.server.workerPids(), pids, 'workers unchanged');
  });

  test('bad EIO -> 400 code 5; bad transport -> 400 code 0', { timeout: 20000 }, async () => {
    const srv = ctx.server;
    for (const q of ['EIO=3&transport=polling', 'EIO=5&transport=polling', 'transport=polling', 'EIO=&transport=polling', 'EIO=4x&transport=polling']) {
      const body = json400(await srv.http('GET', `/socket.io/?${q}`));
      assert.equal(body.code, 5, `${q}: ${JSON.stringify(body)}`);
      assert.equal(typeof body.message, 'string');
    }
    for (const q of ['EIO=4&transport=foo', 'EIO=4', 'EIO=4&transport=', 'EIO=4&transport=webtransport']) {
      const body = json400(await srv.http('GET', `/socket.io/?${q}`));
      assert.equal(body.code, 0, `${q}: ${JSON.stringify(body)}`);
      assert.equal(body.message, 'Transport unknown');
    }
  });

  test('two concurrent GETs on one session: one is a 400, the session is closed', { timeout: 20000 }, async () => {
    const p = new RawPoll(ctx.server);
    await p.handshake();
    // Both are sent at once; whichever reaches the owner second is refused
    // and the first (parked) one is answered with the close packet.
    const [a, b] = await Promise.all([p.get({ timeout: 10000 }), p.get({ timeout: 10000 })]);
    const statuses = [a.status, b.status].sort();
    assert.deepEqual(statuses, [200, 400], `statuses ${a.status} ${a.body} / ${b.status} ${b.body}`);
    const ok = a.status === 200 ? a : b;
    assert.deepEqual(ok.packets, ['1'], `the parked GET gets the close packet: ${ok.body}`);
    assert.deepEqual(json400(await p.get({ timeout: 5000 })), SESSION_UNKNOWN, 'the session is gone');
  });

  test('POST of packets joined with \\x1e; GET returns queued packets joined with \\x1e', { timeout: 20000 }, async () => {
    const p = new RawPoll(ctx.server);
    await p.handshake();
    const r = await p.post(['40', '42["ping",{}]', '42["join_project",{"project_id":"rs"}]', '421["get_metadata",{}]']);
    assert.equal(r.status, 200, r.body);
    assert.equal(r.body, 'ok');
    const seen = [];
    while (!(seen.some((x) => x.startsWith('431')) && seen.some((x) => x.startsWith('42["metadata"')))) {
      seen.push(...await p.collect(() => true));
    }
    const packets = seen;
    const kinds = packets.map((x) => (x.startsWith('42[') ? JSON.parse(x.slice(2))[0] : x.slice(0, 3)));
    assert.match(packets[0], /^40\{"sid":"[^"]+"\}$/, packets[0]);
    // in the order the POST carried them (an ack and its event in either order)
    assert.deepEqual(kinds.slice(1, 4), ['connection_status', 'pong', 'project_joined'],
      `packets in order: ${JSON.stringify(packets)}`);
    assert.deepEqual(kinds.slice(4).sort(), ['431', 'metadata'], JSON.stringify(packets));
    const md = JSON.parse(packets.find((x) => x.startsWith('431')).slice(3))[0];
    assert.equal(md.project_id, 'rs');
  });

  test('a long-poll GET waits for packets and returns when an event is emitted', { timeout: 20000 }, async () => {
    const p = new RawPoll(ctx.server);
    await p.handshake();
    await p.post(['40', '42["join_project",{"project_id":"lp"}]']);
    await p.collect((x) => x.includes('project_joined'));
    const parked = p.get({ timeout: 10000 });
    const m = h.uniqueId('lp');
    await ctx.server.projectUpdate('lp', 'x', { marker: m });
    const r = await parked;
    assert.equal(r.status, 200);
    assert.ok(r.packets.some((x) => x.includes(m)), JSON.stringify(r.packets));
  });

  test('POST over maxPayload is refused (413) and closes the session', { timeout: 20000 }, async () => {
    const p = new RawPoll(ctx.server);
    const open = await p.handshake();
    const big = `42["ping",{"pad":"${'x'.repeat(open.maxPayload)}"}]`;
    const r = await p.post([big]);
    assert.equal(r.status, 413, `${r.status} ${r.body.slice(0, 200)}`);
    assert.deepEqual(json400(await p.get({ timeout: 5000 })), SESSION_UNKNOWN);
  });

  test('Engine.IO close packet over POST ends the session', { timeout: 20000 }, async () => {
    const p = new RawPoll(ctx.server);
    await p.handshake();
    await p.post(['40']);
    await p.collect((x) => x.startsWith('40'));
    assert.equal((await p.post(['1'])).status, 200);
    assert.deepEqual(json400(await p.get({ timeout: 5000 })), SESSION_UNKNOWN);
  });

  test('a close POSTed while a GET waits answers that GET with a noop (6), as engine.io does', { timeout: 20000 }, async () => {
    const p = new RawPoll(ctx.server);
    await p.handshake();
    await p.post(['40']);
    await p.collect((x) => x.startsWith('40'));
    const parked = p.get({ timeout: 10000 });
    await h.sleep(200);
    const r = await p.post(['1']);
    assert.equal(r.status, 200, r.body);
    assert.equal(r.body, 'ok');
    const g = await parked;
    assert.equal(g.status, 200, g.body);
    assert.deepEqual(g.packets, ['6']);
    assert.deepEqual(json400(await p.get({ timeout: 5000 })), SESSION_UNKNOWN);
  });

  test('websocket upgrade of a polling session (probe) by hand', { timeout: 20000 }, async () => {
    const p = new RawPoll(ctx.server);
    await p.handshake();
    await p.post(['40']);
    await p.collect((x) => x.includes('connection_status'));
    const parked = p.get({ timeout: 10000 });
    const ws = ctx.track(new RawEio(ctx.server.wsUrl(`/socket.io/?EIO=4&transport=websocket&sid=${p.sid}`)));
    await h.withTimeout(new Promise((resolve, reject) => { ws.ws.once('open', resolve); ws.ws.once('error', reject); }), 10000, 'ws open');
    assert.equal(await ws.exchange('2probe', (m) => m === '3probe', '3probe'), '3probe');
    const r = await parked;
    assert.deepEqual(r.packets, ['6'], 'the pending GET is released with a noop');
    ws.send('5');
    assert.equal(typeof (await ws.ping()).timestamp, 'number');
    // polling is over for this session
    const after = await p.get({ timeout: 5000 });
    assert.equal(after.status, 400, `${after.status} ${after.body}`);
    // a second websocket for an upgraded session: accepted, then closed at
    // once without a status code (engine.io 6: "transport had already been
    // upgraded" -> websocket.close()); the session goes on
    const again = ctx.track(new RawEio(ctx.server.wsUrl(`/socket.io/?EIO=4&transport=websocket&sid=${p.sid}`)));
    await h.withTimeout(new Promise((resolve, reject) => { again.ws.once('open', resolve); again.ws.once('error', reject); }), 10000, 'second ws open');
    const closed = await h.withTimeout(again.closedP, 10000, 'second ws closed');
    assert.equal(closed.code, 1005, `closed with ${JSON.stringify(closed)}`);
    assert.deepEqual(again.msgs, [], 'nothing was sent on it');
    assert.equal(typeof (await ws.ping()).timestamp, 'number', 'the upgraded session is unaffected');
  });

  // A browser reads the "3probe" (WebSocket) and the long-poll answers (other
  // TCP connections) in whatever order they come: the noop that released the
  // GET pending at the probe may be followed by more GETs from a client that
  // has not seen "3probe" yet. Once it has, it pauses polling until its last
  // GET returns, then sends "5"; until then its emits wait. A GET parked
  // during the upgrade must therefore be released too (engine.io: a noop
  // every 100 ms), or the upgrade and every emit stall until the next ping.
  test('upgrade: GETs parked after the probe are released with a noop; emits made meanwhile arrive', { timeout: 20000 }, async () => {
    const p = new RawPoll(ctx.server);
    await p.handshake();
    await p.post(['40']);
    await p.collect((x) => x.includes('connection_status'));
    const ws = ctx.track(new RawEio(ctx.server.wsUrl(`/socket.io/?EIO=4&transport=websocket&sid=${p.sid}`)));
    await h.withTimeout(new Promise((resolve, reject) => { ws.ws.once('open', resolve); ws.ws.once('error', reject); }), 10000, 'ws open');
    // no GET pending: the noop waits for the next one
    assert.equal(await ws.exchange('2probe', (m) => m === '3probe', '3probe'), '3probe');
    assert.deepEqual((await p.get({ timeout: 5000 })).packets, ['6'], 'the queued noop');
    // still polling (3probe not seen): an emit over POST, its answer over GET
    assert.equal((await p.post(['42["join_project",{"project_id":"upg-race"}]'])).body, 'ok');
    const joined = await p.get({ timeout: 5000 });
    assert.deepEqual(joined.packets, ['42["project_joined",{"project_id":"upg-race"}]']);
    // one more GET, then the client sees 3probe and waits for that GET
    for (let i = 0; i < 3; i++) {
      const t0 = Date.now();
      const r = await p.get({ timeout: 3000 });
      assert.deepEqual(r.packets, ['6'], `GET ${i} during the upgrade: ${r.status} ${r.body}`);
      assert.ok(Date.now() - t0 < 1500, `GET ${i} released after ${Date.now() - t0} ms`);
    }
    ws.send('5');
    const from = ws.msgs.length;
    ws.send('42["join_project",{"project_id":"upg-race2"}]');
    assert.equal(await ws.next((m) => m.includes('upg-race2'), 'project_joined over ws', { from }),
      '42["project_joined",{"project_id":"upg-race2"}]');
    assert.equal((await p.get({ timeout: 5000 })).status, 400, 'polling is over for this session');
  });

  test('a websocket while a probe is in progress is accepted and closed; the probe goes on', { timeout: 20000 }, async () => {
    const p = new RawPoll(ctx.server);
    await p.handshake();
    await p.post(['40']);
    await p.collect((x) => x.includes('connection_status'));
    const url = ctx.server.wsUrl(`/socket.io/?EIO=4&transport=websocket&sid=${p.sid}`);
    const opened = (c) => h.withTimeout(new Promise((resolve, reject) => { c.ws.once('open', resolve); c.ws.once('error', reject); }), 10000, 'ws open');
    const probe = ctx.track(new RawEio(url));
    await opened(probe);
    assert.equal(await probe.exchange('2probe', (m) => m === '3probe', '3probe'), '3probe');
    const second = ctx.track(new RawEio(url));
    await opened(second);
    assert.equal((await h.withTimeout(second.closedP, 10000, 'second closed')).code, 1005);
    probe.send('5');
    assert.equal(typeof (await probe.ping()).timestamp, 'number');
  });

  test('a slow poller gets every room event, or a visible end of the session (no silent loss)', { timeout: 90000 }, async () => {
    const srv = ctx.server;
    const p = new RawPoll(srv);
    await p.handshake();
    await p.post(['40', '42["join_project",{"project_id":"flood"}]']);
    await p.collect((x) => x.includes('project_joined'));
    // 4,200 room events while the client does not poll (it is slow, not gone:
    // well within its heartbeat).
    const N = 4200;
    const agent = new http.Agent({ keepAlive: true, maxSockets: 8 });
    let next = 0;
    await Promise.all(Array.from({ length: 8 }, async () => {
      while (next < N) {
        const i = next++;
        const r = await srv.http('POST', '/api/projects/flood/updates', { body: { type: 'seq', data: { i } }, agent });
        assert.equal(r.status, 202, r.body);
      }
    }));
    agent.destroy();
    // Drain: a ping is queued after everything that was kept.
    // A session closed for overflowing (slow consumer) answers 400 here:
    // that is a visible end too.
    const pinged = await p.post(['42["ping",{}]']);
    const seqs = [];
    let ended = pinged.status === 200 ? null : `POST ${pinged.status} ${pinged.body}`;
    for (let polls = 0; polls < 200 && !ended; polls++) {
      let r;
      try {
        r = await p.get({ timeout: 3000 });
      } catch (e) {
        ended = 'stalled';
        break;
      }
      if (r.status !== 200) {
        ended = `GET ${r.status} ${r.body}`;
        break;
      }
      for (const x of r.packets) {
        if (x === '1') ended = 'close packet';
        else if (x === '2') await p.post(['3']);
        else if (x.startsWith('42["project_update"')) seqs.push(JSON.parse(x.slice(2))[1].data.i);
        else if (x.startsWith('42["resync"')) ended = ended || `resync ${x}`;
        else if (x.startsWith('42["pong"')) ended = ended || 'pong';
      }
    }
    // (8 publishers at once: the ring order is not the order of i)
    assert.equal(new Set(seqs).size, seqs.length, 'no duplicates');
    const missing = N - seqs.length;
    assert.notEqual(ended, 'stalled',
      `the session is open but stalled: ${seqs.length} of ${N} room events arrived, ` +
      'then nothing, not even the pong to a ping sent after them: packets were dropped without notice');
    if (ended === 'pong') {
      assert.equal(missing, 0, `the session is still open but ${missing} of ${N} room events were silently dropped`);
    } else {
      assert.ok(ended, 'the drain ended');
      // ended on purpose, and counted like a slow WebSocket consumer
      assert.ok((await srv.metrics()).ragws_slow_consumers_total >= 1, `ended: ${ended}`);
    }
  });

  test('OPTIONS preflight on /socket.io/ is answered', { timeout: 10000 }, async () => {
    const r = await ctx.server.http('OPTIONS', '/socket.io/?EIO=4&transport=polling', { headers: { Origin: 'http://example.com', 'Access-Control-Request-Method': 'POST' } });
    assert.ok(r.status === 204 || r.status === 200, `${r.status}`);
  });

  ctx.stopTest();
});

describe('Engine.IO heartbeat (socketio.ping_interval = ping_timeout = 0.5 s)', () => {
  const ctx = h.setup({ name: 'heartbeat', overrides: { 'socketio.ping_interval': '0.5', 'socketio.ping_timeout': '0.5' } });

  const sessions = async () => (await ctx.server.metrics()).ragws_sio_sessions;

  test('the open packet announces the configured pingInterval and pingTimeout', { timeout: 10000 }, async () => {
    const p = new RawPoll(ctx.server);
    const open = await p.handshake();
    assert.equal(open.pingInterval, 500);
    assert.equal(open.pingTimeout, 500);
    assert.equal((await p.post(['1'])).status, 200);
  });

  test('a polling client that stops polling is closed after pingInterval + pingTimeout', { timeout: 20000 }, async () => {
    await h.eventually(async () => (await sessions()) === 0, { timeout: 5000, what: 'no sessions left from earlier tests' });
    const p = new RawPoll(ctx.server);
    const t0 = Date.now();
    await p.handshake();
    assert.equal(await sessions(), 1);
    await h.eventually(async () => (await sessions()) === 0, { timeout: 5000, interval: 20, what: 'the session to be closed' });
    const elapsed = Date.now() - t0;
    assert.ok(elapsed >= 900, `closed after ${elapsed} ms, before pingInterval + pingTimeout`);
    assert.ok(elapsed < 5000, `closed only after ${elapsed} ms`);
    assert.deepEqual(json400(await p.get({ timeout: 5000 })), SESSION_UNKNOWN);
  });

  test('a polling client that receives the ping but never answers is closed; its parked GET gets "1"', { timeout: 20000 }, async () => {
    const p = new RawPoll(ctx.server);
    const t0 = Date.now();
    await p.handshake();
    const first = await p.get({ timeout: 5000 });
    assert.deepEqual(first.packets, ['2'], 'the server pings after pingInterval');
    const second = await p.get({ timeout: 5000 }); // parked until the session ends
    assert.deepEqual(second.packets, ['1']);
    assert.ok(Date.now() - t0 >= 900, `closed after ${Date.now() - t0} ms`);
    assert.deepEqual(json400(await p.get({ timeout: 5000 })), SESSION_UNKNOWN);
  });

  test('a raw polling client that answers pings stays open over several intervals', { timeout: 20000 }, async () => {
    const p = new RawPoll(ctx.server);
    await p.handshake();
    await p.post(['40']);
    let pings = 0;
    const end = Date.now() + 2500;
    while (Date.now() < end) {
      const r = await p.get({ timeout: 5000 });
      assert.equal(r.status, 200, `GET: ${r.status} ${r.body}`);
      assert.ok(!r.packets.includes('1'), 'not closed');
      for (const x of r.packets) {
        if (x === '2') {
          pings++;
          assert.equal((await p.post(['3'])).status, 200);
        }
      }
    }
    assert.ok(pings >= 3, `${pings} pings in 2.5 s`);
    await p.post(['42["ping",{}]']);
    await p.collect((x) => x.startsWith('42["pong"'));
  });

  test('a WebSocket client that does not answer pings is closed after ~1 s', { timeout: 20000 }, async () => {
    const t0 = Date.now();
    const c = ctx.track(await RawEio.open(ctx.server, { autoPong: false }));
    await c.connectNsp();
    const closed = await h.withTimeout(c.closedP, 5000, 'the server to close the WebSocket');
    const elapsed = Date.now() - t0;
    assert.ok(c.msgs.includes('2'), 'it was pinged');
    assert.ok(elapsed >= 900 && elapsed < 5000, `closed after ${elapsed} ms (code ${closed.code})`);
  });

  for (const transports of [['websocket'], ['polling']]) {
    test(`socket.io-client over ${transports} stays connected across heartbeats`, { timeout: 20000 }, async () => {
      const s = await ctx.connect({ transports });
      let pings = 0;
      s.io.engine.on('ping', () => pings++);
      await h.sleep(2500); // several pingInterval + pingTimeout periods
      assert.ok(s.connected, `disconnected: ${s.rec.summary()}`);
      assert.equal(s.rec.count('@disconnect'), 0);
      assert.ok(pings >= 3, `${pings} pings`);
      assert.equal(typeof (await h.ack(s, 'ping', {})).timestamp, 'number');
    });
  }

  ctx.stopTest();
});
