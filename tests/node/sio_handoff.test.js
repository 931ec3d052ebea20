'use strict';
// SPEC S12: consecutive long-polling requests of one session land on
// different workers (SO_REUSEPORT); ragws hands the socket to the worker
// that owns the session, so no sticky sessions are needed.
const assert = require('node:assert/strict');
const { describe, test } = require('node:test');
const h = require('./helpers');

describe('long-polling across workers (socket hand-over)', () => {
  const ctx = h.setup({ name: 'handoff' });

  const handoffs = async () => (await ctx.server.metrics()).ragws_handoffs_total;

  test('20 sequential polling-only clients: connect, join, ping/pong, room event; handoffs counted', { timeout: 90000 }, async () => {
    const before = await handoffs();
    assert.equal(typeof before, 'number', 'ragws_handoffs_total is in /metrics');
    const slots = new Set();
    for (let i = 0; i < 20; i++) {
      const s = await ctx.connect({ transports: ['polling'] });
      slots.add(h.slotOf(s));
      const project = `ho-${i}`;
      assert.deepEqual(await h.ack(s, 'join_project', { project_id: project }), { project_id: project }, `client ${i}: join`);
      const from = s.rec.events.length;
      s.emit('ping', {});
      const pong = await s.rec.waitFor('pong', undefined, { from });
      assert.equal(typeof pong.data.timestamp, 'number', `client ${i}: pong`);
      const marker = h.uniqueId('h');
      await ctx.server.projectUpdate(project, 'handoff', { marker, i });
      const ev = await s.rec.waitFor('project_update', (d) => d.data.marker === marker);
      assert.deepEqual(ev.data, { type: 'handoff', data: { marker, i } }, `client ${i}: room event`);
      assert.equal(s.io.engine.transport.name, 'polling');
      assert.equal(s.rec.count('error'), 0, `client ${i}: ${s.rec.summary()}`);
      s.disconnect();
    }
    const after = await handoffs();
    assert.ok(after > before, `ragws_handoffs_total ${before} -> ${after}`);
    assert.ok(slots.size >= 1);
  });

  test('a polling stream (send_message) completes while its requests hop between workers', { timeout: 60000 }, async () => {
    const s = await ctx.connect({ transports: ['polling'] });
    const chatId = h.randomInt();
    const from = s.rec.events.length;
    s.emit('send_message', { chat_id: chatId, message: 'Why does ragws not need sticky sessions?' });
    const done = await s.rec.waitFor('message_complete', (d) => d.chat_id === chatId, { from, timeout: 45000 });
    const tokens = s.rec.all('message_token', (d, e) => e.i >= from && d.chat_id === chatId).map((e) => e.data.token);
    const rows = await h.psql(`SELECT content FROM messages WHERE id = ${done.data.metadata.message_id}`);
    assert.equal(rows.length, 1);
    assert.equal(tokens.join(''), rows[0][0]);
  });

  test('10 sequential polling->websocket upgrades succeed whichever worker the WebSocket reaches', { timeout: 60000 }, async () => {
    const before = await handoffs();
    for (let i = 0; i < 10; i++) {
      const s = h.makeClient(ctx.server, { transports: ['polling', 'websocket'] });
      ctx.track(s);
      const upgraded = new Promise((resolve) => s.io.engine.once('upgrade', resolve));
      await h.connected(s);
      await h.withTimeout(upgraded, 10000, `client ${i}: upgrade`);
      assert.equal(s.io.engine.transport.name, 'websocket');
      assert.equal(typeof (await h.ack(s, 'ping', {})).timestamp, 'number');
      s.disconnect();
    }
    assert.ok((await handoffs()) > before, 'some requests were handed over');
  });

  test('POST bodies near maxPayload are handed over intact', { timeout: 60000 }, async () => {
    const before = await handoffs();
    const p = new h.RawPoll(ctx.server);
    const open = await p.handshake();
    await p.post(['40']);
    await p.collect((x) => x.includes('connection_status'));
    const pad = 'y'.repeat(open.maxPayload - 200);
    for (let i = 0; i < 10; i++) {
      const r = await p.post([`42${i}["join_project",{"project_id":"big${i}","pad":"${pad}"}]`]);
      assert.equal(r.status, 200, `POST ${i}: ${r.status} ${r.body}`);
      const got = await p.collect((x) => x.startsWith(`43${i}[`));
      assert.ok(got.some((x) => x === `43${i}[{"project_id":"big${i}"}]`), JSON.stringify(got));
    }
    assert.ok((await handoffs()) > before, 'some POSTs were handed over');
  });

  test('many polling clients at once, interleaved', { timeout: 60000 }, async () => {
    const clients = await Promise.all(Array.from({ length: 12 }, () => ctx.connect({ transports: ['polling'] })));
    await Promise.all(clients.map((s) => h.ack(s, 'join_project', { project_id: 'crowd' })));
    const marker = h.uniqueId('c');
    await ctx.server.projectUpdate('crowd', 'all', { marker });
    await Promise.all(clients.map((s) => s.rec.waitFor('project_update', (d) => d.data.marker === marker)));
    for (const s of clients) assert.equal(s.rec.count('project_update'), 1);
    const pongs = await Promise.all(clients.map((s) => h.ack(s, 'ping', {})));
    for (const p of pongs) assert.equal(typeof p.timestamp, 'number');
  });

  ctx.stopTest();
});
