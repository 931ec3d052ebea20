'use strict';
// SPEC S4.4 / S7: Socket.IO auth (CONNECT with {token}) and robustness
// against malformed Engine.IO / Socket.IO packets sent over a raw WebSocket.
const assert = require('node:assert/strict');
const fs = require('node:fs');
const path = require('node:path');
const { describe, test } = require('node:test');
const h = require('./helpers');

const SECRET = 'node-suite-secret-0123456789abcdef0123456789';

const { RawEio } = h;

const isError = (m) => m.startsWith('42["error"');
const errorData = (m) => JSON.parse(m.slice(2))[1];

describe('Socket.IO auth (auth.mode = jwt)', () => {
  const ctx = h.setup({
    name: 'jwt',
    overrides: (c) => {
      const f = path.join(c.dir, 'jwt.secret');
      fs.writeFileSync(f, `${SECRET}\n`);
      return { 'auth.mode': 'jwt', 'auth.jwt_secret_file': f };
    },
  });
  const now = () => Math.floor(Date.now() / 1000);

  for (const transports of [['websocket'], ['polling']]) {
    test(`${transports}: missing or bad token -> connect_error "Authentication failed: ..."`, { timeout: 30000 }, async () => {
      const bad = [
        undefined,
        { token: 'not-a-jwt' },
        { token: h.jwtHS256('wrong-secret-wrong-secret-wrong-secret', { sub: 'u1', exp: now() + 600 }) },
        { token: h.jwtHS256(SECRET, { sub: 'u1', exp: now() - 3600 }) },
        { token: 42 },
      ];
      for (const auth of bad) {
        const s = ctx.client({ transports, ...(auth ? { auth } : {}) });
        const ev = await s.rec.waitFor(['@connect', '@connect_error']);
        assert.equal(ev.event, '@connect_error', `auth ${JSON.stringify(auth)} was accepted`);
        assert.match(ev.data.message, /^Authentication failed: /, ev.data.message);
        assert.equal(s.rec.count('connection_status'), 0);
        s.close();
      }
    });

    test(`${transports}: a valid HS256 token connects and works`, { timeout: 30000 }, async () => {
      const token = h.jwtHS256(SECRET, { sub: 'user-1', iat: now(), exp: now() + 600 });
      const s = await ctx.connect({ transports, auth: { token } });
      assert.equal(s.rec.all('connection_status')[0].data.status, 'connected');
      assert.deepEqual(await h.ack(s, 'join_project', { project_id: 1 }), { project_id: 1 });
      assert.equal(typeof (await h.ack(s, 'ping', {})).timestamp, 'number');
    });
  }

  test('raw: CONNECT_ERROR for a bad token, then a good CONNECT on the same session works', { timeout: 20000 }, async () => {
    const c = ctx.track(await RawEio.open(ctx.server));
    let r = await c.connectNsp({ token: 'garbage' });
    assert.match(r, /^44\{/, r);
    assert.match(JSON.parse(r.slice(2)).message, /^Authentication failed: /);
    // no events before a successful CONNECT
    const from = c.msgs.length;
    c.send('42["ping",{}]');
    r = await c.connectNsp({ token: h.jwtHS256(SECRET, { sub: 'x', exp: now() + 60 }) });
    assert.match(r, /^40\{"sid":"[^"]+"\}$/, r);
    assert.ok(!c.msgs.slice(from).some((m) => typeof m === 'string' && m.startsWith('42["pong"')), 'ping before CONNECT was not answered');
    assert.equal(typeof (await c.ping()).timestamp, 'number');
  });

  test('admin REST from loopback still works with auth.mode = jwt', { timeout: 20000 }, async () => {
    const token = h.jwtHS256(SECRET, { sub: 'user-2', exp: now() + 600 });
    const s = await ctx.connect({ transports: ['websocket'], auth: { token } });
    await h.ack(s, 'join_project', { project_id: 'auth' });
    await ctx.server.projectUpdate('auth', 'x', { ok: true });
    const ev = await s.rec.waitFor('project_update');
    assert.deepEqual(ev.data, { type: 'x', data: { ok: true } });
  });

  ctx.stopTest();
});

describe('Socket.IO malformed packets (raw WebSocket)', () => {
  const ctx = h.setup({ name: 'malformed' });

  test('open packet over websocket: sid, no upgrades, timings', { timeout: 20000 }, async () => {
    const c = ctx.track(await RawEio.open(ctx.server));
    assert.match(c.handshake.sid, /^[0-9a-f]{26}$/);
    assert.deepEqual(c.handshake.upgrades, []);
    assert.equal(c.handshake.pingInterval, 25000);
    assert.equal(c.handshake.pingTimeout, 20000);
    assert.equal(c.handshake.maxPayload, 100000);
    const r = await c.connectNsp();
    assert.match(r, /^40\{"sid":"[^"]+"\}$/);
    const status = await c.next((m) => m.startsWith('42["connection_status"'), 'connection_status');
    const d = JSON.parse(status.slice(2))[1];
    assert.equal(d.status, 'connected');
    assert.equal(d.sid, JSON.parse(r.slice(2)).sid);
  });

  test('malformed Socket.IO packets get error events; the connection still answers ping', { timeout: 30000 }, async () => {
    const pidsBefore = await ctx.server.workerPids();
    const c = ctx.track(await RawEio.open(ctx.server));
    assert.match(await c.connectNsp(), /^40/);
    const malformed = [
      '4garbage',
      '4/unknownns,',
      '42[1,2]',
      '42{"a":1}',
      '42',
      '42[]',
      '42["ping"',
      '42"ping"',
      '42null',
      '4',
      '49',
      '4x["ping",{}]',
      '43',
      '43[1]',
      '431',
      '4312345678901234567["x"]',
      '42123456789012345678["ping",{}]',
      '451-["x",{"_placeholder":true,"num":0}]',
      '461-0[{"_placeholder":true,"num":0}]',
      '42["send_message",{"chat_id":1,"message":"\\ud800"}]',
      `42["${'e'.repeat(5000)}",{}]`,
      '42["join_project",{"project_id":1,"project_id":2}]',
      '40"string-auth"',
    ];
    for (const pkt of malformed) {
      const from = c.msgs.length;
      c.send(pkt);
      // each is answered (error event, or the ack/error of a valid-looking one)
      const r = await c.next((m) => isError(m) || m.startsWith('44') || m.startsWith('43'), `a reply to ${pkt.slice(0, 60)}`, { from });
      if (isError(r)) assert.equal(typeof errorData(r).message, 'string', r);
      assert.equal(typeof (await c.ping()).timestamp, 'number', `ping after ${pkt.slice(0, 60)}`);
    }
    // Engine.IO-level oddities are ignored, never fatal
    for (const pkt of ['', '9', '6', '5', '3', '2probe', 'x', '\u0000', '1'.replace('1', '7')]) {
      c.send(pkt);
    }
    assert.equal(typeof (await c.ping()).timestamp, 'number');
    assert.equal(c.closed, null);
    const m = await ctx.server.metrics();
    assert.ok(m.ragws_sio_sessions >= 1);
    assert.deepEqual(await ctx.server.workerPids(), pidsBefore, 'no worker crashed or was replaced');
  });

  test('CONNECT to an unknown namespace: CONNECT_ERROR for that namespace; "/" unaffected', { timeout: 20000 }, async () => {
    const c = ctx.track(await RawEio.open(ctx.server));
    assert.match(await c.connectNsp(), /^40/);
    const r = await c.exchange('40/unknownns,', (m) => m.startsWith('44'), 'CONNECT_ERROR');
    // Socket.IO v5: the namespace is part of the packet (44/unknownns,{...});
    // a bare 44{...} is a CONNECT_ERROR for "/" and kills the main socket.
    assert.match(r, /^44\/unknownns,\{/, `CONNECT_ERROR names the namespace: ${r}`);
    assert.equal(typeof (await c.ping()).timestamp, 'number');
  });

  test('socket.io-client: a socket for "/unknownns" gets connect_error; "/" on the same Manager stays connected', { timeout: 20000 }, async () => {
    const { Manager } = require('socket.io-client');
    const mgr = new Manager(ctx.server.url(), { transports: ['websocket'], reconnection: false, autoConnect: false });
    const main = mgr.socket('/');
    const mainRec = new h.Recorder(main);
    main.rec = mainRec;
    ctx.track(main);
    main.connect();
    await h.connected(main);
    const other = mgr.socket('/unknownns');
    const otherRec = new h.Recorder(other);
    other.connect();
    const ev = await Promise.race([
      otherRec.waitFor(['@connect', '@connect_error'], undefined, { timeout: 5000 }).catch((e) => ({ event: 'timeout', data: e })),
      mainRec.waitFor(['@connect_error', '@disconnect'], undefined, { timeout: 5000 }).then((e) => ({ event: `"/" got ${e.event}`, data: e.data })).catch(() => new Promise(() => {})),
    ]);
    assert.equal(ev.event, '@connect_error', `the /unknownns socket saw ${ev.event}: ${ev.data && ev.data.message}`);
    assert.match(ev.data.message, /Invalid namespace/);
    assert.ok(main.connected, '"/" is still connected');
    assert.equal(typeof (await h.ack(main, 'ping', {})).timestamp, 'number');
  });

  test('events on another namespace are not processed; events before CONNECT are not', { timeout: 20000 }, async () => {
    const c = ctx.track(await RawEio.open(ctx.server));
    c.send('42["ping",{}]'); // before CONNECT: ignored
    assert.match(await c.connectNsp(), /^40/);
    const from = c.msgs.length;
    c.send('42/other,["ping",{}]');
    const pong = await c.ping();
    assert.equal(typeof pong.timestamp, 'number');
    const pongs = c.msgs.filter((m) => typeof m === 'string' && m.startsWith('42["pong"'));
    assert.equal(pongs.length, 1, `only the "/" ping was answered: ${JSON.stringify(c.msgs.slice(from))}`);
  });

  test('a Socket.IO DISCONNECT leaves the room; a new CONNECT on the session works', { timeout: 20000 }, async () => {
    const c = ctx.track(await RawEio.open(ctx.server));
    assert.match(await c.connectNsp(), /^40/);
    await c.exchange('42["join_project",{"project_id":"dc"}]', (m) => m.startsWith('42["project_joined"'), 'project_joined');
    c.send('41');
    const m1 = h.uniqueId('x');
    await ctx.server.projectUpdate('dc', 'x', { marker: m1 });
    assert.match(await c.connectNsp(), /^40/);
    await c.exchange('42["join_project",{"project_id":"dc2"}]', (m) => m.startsWith('42["project_joined"'), 'project_joined');
    const m2 = h.uniqueId('y');
    await ctx.server.projectUpdate('dc2', 'x', { marker: m2 });
    await c.next((m) => m.includes(m2), 'the update for the new room');
    assert.ok(!c.msgs.some((m) => typeof m === 'string' && m.includes(m1)), 'no update after DISCONNECT');
  });

  test('Engine.IO close packet "1" ends the session', { timeout: 20000 }, async () => {
    const c = ctx.track(await RawEio.open(ctx.server));
    assert.match(await c.connectNsp(), /^40/);
    c.send('1');
    const closed = await h.withTimeout(c.closedP, 5000, 'the server to close the WebSocket');
    assert.ok(closed.code === 1000 || closed.code === 1005, `close code ${closed.code}`);
  });

  test('the server survives: metrics, /ready and workers unchanged after the abuse', { timeout: 20000 }, async () => {
    const r = await ctx.server.http('GET', '/metrics');
    assert.equal(r.status, 200);
    const ready = await ctx.server.http('GET', '/ready');
    assert.equal(ready.status, 200, ready.body);
    const s = await ctx.connect({ transports: ['websocket'] });
    assert.equal(typeof (await h.ack(s, 'ping', {})).timestamp, 'number');
  });

  ctx.stopTest();
});
