'use strict';
// SPEC S4.4: acks, ping/pong, connection metadata, errors for unknown and
// invalid events (seed 002 "Health Check", "Connection Metadata", "Error
// Handling").
const assert = require('node:assert/strict');
const { describe, test } = require('node:test');
const h = require('./helpers');

for (const transports of [['websocket'], ['polling']]) {
  describe(`Socket.IO events over ${transports.join('+')}`, () => {
    const ctx = h.setup({ name: `events-${transports.join('-')}` });

    test('ping returns pong {timestamp} (ms, close to Date.now()), also as the ack', { timeout: 20000 }, async () => {
      const s = await ctx.connect({ transports });
      const t0 = Date.now();
      const from = s.rec.events.length;
      s.emit('ping', {});
      const pong = await s.rec.waitFor('pong', undefined, { from });
      const t1 = Date.now();
      assert.equal(typeof pong.data.timestamp, 'number');
      assert.ok(Number.isInteger(pong.data.timestamp));
      assert.ok(pong.data.timestamp >= t0 - 2000 && pong.data.timestamp <= t1 + 2000,
        `timestamp ${pong.data.timestamp} not within [${t0}, ${t1}] +- 2 s`);

      const a = await h.ack(s, 'ping', {});
      assert.equal(typeof a.timestamp, 'number');
      assert.ok(Math.abs(a.timestamp - Date.now()) < 2000, `ack timestamp ${a.timestamp}`);
      // the event is emitted as well as the ack
      await s.rec.waitFor('pong', (d) => d.timestamp === a.timestamp);
    });

    test('acks return the response data (join, leave, get_metadata, send_message) or {message} on error', { timeout: 30000 }, async () => {
      const s = await ctx.connect({ transports });
      assert.deepEqual(await h.ack(s, 'join_project', { project_id: 11 }), { project_id: 11 });
      assert.deepEqual(await h.ack(s, 'join_project', { project_id: 'p-12' }), { project_id: 'p-12' });
      assert.deepEqual(await h.ack(s, 'leave_project', { project_id: 'p-12' }), { project_id: 'p-12' });

      const err = await h.ack(s, 'leave_project', { project_id: 'p-12' });
      assert.equal(typeof err.message, 'string', JSON.stringify(err));

      const unknown = await h.ack(s, 'no_such_event', { x: 1 });
      assert.match(unknown.message, /no_such_event/);

      const md = await h.ack(s, 'get_metadata', {});
      assert.ok('connected_at' in md && 'project_id' in md && 'chat_id' in md, JSON.stringify(md));

      const chatId = h.randomInt();
      const from = s.rec.events.length;
      const accepted = await h.ack(s, 'send_message', { chat_id: chatId, message: 'What is the maxPayload default?' });
      assert.equal(accepted.chat_id, chatId, JSON.stringify(accepted));
      await s.rec.waitFor('message_complete', (d) => d.chat_id === chatId, { from, timeout: 30000 });

      const bad = await h.ack(s, 'send_message', { chat_id: chatId });
      assert.equal(typeof bad.message, 'string');
      assert.equal(bad.chat_id, chatId);

      // Many acks in flight at once: each answered, with its own id.
      const many = await Promise.all(Array.from({ length: 20 }, (_, i) => h.ack(s, 'join_project', { project_id: 100 + i })));
      assert.deepEqual(many.map((m) => m.project_id), Array.from({ length: 20 }, (_, i) => 100 + i));
    });

    test('unknown events and non-object payloads are answered with error {message}', { timeout: 20000 }, async () => {
      const s = await ctx.connect({ transports });
      const probes = [
        ['no_such_event', [{}]],
        ['send_message', ['just a string']],
        ['send_message', [42]],
        ['join_project', [null]],
        ['join_project', [[1, 2]]],
        ['leave_project', []],
      ];
      for (const [ev, args] of probes) {
        const from = s.rec.events.length;
        s.emit(ev, ...args);
        const err = await s.rec.waitFor('error', undefined, { from });
        assert.equal(typeof err.data.message, 'string', `${ev} ${JSON.stringify(args)}`);
      }
      assert.ok(s.connected);
      await h.ack(s, 'ping', {});
    });

    test('get_metadata: connected_at, project_id and chat_id after join and send_message', { timeout: 30000 }, async () => {
      const before = Date.now();
      const s = await ctx.connect({ transports });
      const after = Date.now();
      let md = await h.ack(s, 'get_metadata', {});
      assert.equal(typeof md.connected_at, 'number');
      assert.ok(md.connected_at >= before - 2000 && md.connected_at <= after + 2000,
        `connected_at ${md.connected_at} not within the connect window [${before}, ${after}]`);
      assert.equal(md.project_id, null);
      assert.equal(md.chat_id, null);

      await h.ack(s, 'join_project', { project_id: 21 });
      const chatId = h.randomInt();
      const from = s.rec.events.length;
      s.emit('send_message', { chat_id: chatId, message: 'How is latency measured in the benchmark?' });
      await s.rec.waitFor('message_complete', (d) => d.chat_id === chatId, { from, timeout: 30000 });

      const from2 = s.rec.events.length;
      s.emit('get_metadata', {});
      const ev = await s.rec.waitFor('metadata', undefined, { from: from2 });
      md = ev.data;
      assert.equal(md.project_id, 21);
      assert.equal(String(md.chat_id), String(chatId));
      assert.ok(md.connected_at >= before - 2000 && md.connected_at <= after + 2000);

      // a chat given as a string, then the room left
      const chat2 = h.uniqueId('chat-');
      const from3 = s.rec.events.length;
      s.emit('send_message', { chat_id: chat2, message: 'And the idle memory figure?' });
      await s.rec.waitFor('message_complete', (d) => d.chat_id === chat2, { from: from3, timeout: 30000 });
      await h.ack(s, 'leave_project', { project_id: 21 });
      md = await h.ack(s, 'get_metadata', {});
      assert.equal(md.chat_id, chat2);
      assert.equal(md.project_id, null);
    });

    test('get_metadata: chat_id keeps the JSON type the client sent (like project_id)', { timeout: 30000 }, async () => {
      // seed 002 keeps `chat_id` as given (active_connections[sid]['chat_id']
      // = chat_id); project_id is echoed with its type, chat_id should be too.
      const s = await ctx.connect({ transports });
      const chatId = h.randomInt();
      const from = s.rec.events.length;
      s.emit('send_message', { chat_id: chatId, message: 'What is a worker slot?' });
      await s.rec.waitFor('message_complete', (d) => d.chat_id === chatId, { from, timeout: 30000 });
      const md = await h.ack(s, 'get_metadata', {});
      assert.strictEqual(md.chat_id, chatId, `chat_id ${JSON.stringify(md.chat_id)} (sent the integer ${chatId})`);
    });

    test('more send_message in flight than max_inflight_per_connection (8): the extra ones get error', { timeout: 60000 }, async () => {
      const s = await ctx.connect({ transports });
      const chats = Array.from({ length: 12 }, () => h.randomInt());
      const from = s.rec.events.length;
      const replies = await Promise.all(chats.map((chat_id) => h.ack(s, 'send_message', { chat_id, message: 'Summarise the retrieval document.' })));
      const accepted = chats.filter((c, k) => replies[k].status === 'accepted');
      const refused = chats.filter((c, k) => replies[k].status !== 'accepted');
      assert.ok(accepted.length >= 1 && accepted.length <= 8, `${accepted.length} accepted: ${JSON.stringify(replies)}`);
      for (const c of refused) {
        const r = replies[chats.indexOf(c)];
        assert.equal(typeof r.message, 'string');
        assert.equal(r.chat_id, c);
      }
      await Promise.all(accepted.map((c) => s.rec.waitFor('message_complete', (d) => d.chat_id === c, { from, timeout: 45000 })));
      // once they are done, new messages are accepted again
      const again = await h.ack(s, 'send_message', { chat_id: chats[0], message: 'And once more?' });
      assert.equal(again.status, 'accepted');
      await s.rec.waitFor('message_complete', (d, e) => d.chat_id === chats[0] && e.i > s.rec.all('message_complete', (x) => x.chat_id === chats[0])[0].i, { timeout: 30000 });
    });

    test('binary payloads are refused with error, the connection stays usable', { timeout: 20000 }, async () => {
      const s = await ctx.connect({ transports });
      const from = s.rec.events.length;
      s.emit('send_message', { chat_id: 1, message: Buffer.from('binary') });
      const err = await s.rec.waitFor(['error', '@disconnect'], undefined, { from });
      assert.equal(err.event, 'error', `got ${err.event} ${JSON.stringify(err.data)}`);
      assert.match(err.data.message, /binary/i);
      const pong = await h.ack(s, 'ping', {});
      assert.equal(typeof pong.timestamp, 'number');
      assert.ok(s.connected, 'still connected');
    });

    test('disconnect from the client side cleans up: the server keeps serving others', { timeout: 20000 }, async () => {
      const a = await ctx.connect({ transports });
      await h.ack(a, 'join_project', { project_id: 31 });
      const chatId = h.randomInt();
      a.emit('send_message', { chat_id: chatId, message: 'Explain the drain timeout.' });
      a.disconnect(); // mid-stream
      const b = await ctx.connect({ transports });
      await h.ack(b, 'join_project', { project_id: 31 });
      const m = h.uniqueId('d');
      await ctx.server.projectUpdate(31, 't', { marker: m });
      await b.rec.waitFor('project_update', (d) => d.data.marker === m);
      await h.eventually(async () => (await ctx.server.metrics()).ragws_sio_sessions === 1,
        { timeout: 10000, what: 'one Socket.IO session left' });
    });

    ctx.stopTest();
  });
}
