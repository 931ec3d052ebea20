'use strict';
// SPEC S4.4, seed 002: the stock socket.io-client over every transport
// combination connects, gets connection_status and completes a send_message
// stream that matches what was committed to PostgreSQL.
const assert = require('node:assert/strict');
const { describe, test } = require('node:test');
const h = require('./helpers');

/** Checks a finished send_message stream against the recorder and the DB. */
async function checkStream(socket, chatId, question, from, dbAtReceived) {
  const rec = socket.rec;
  const same = (d) => d && d.chat_id === chatId;
  const complete = await rec.waitFor('message_complete', same, { from, timeout: 30000 });
  const errors = rec.all('error', (d, e) => e.i >= from);
  assert.deepEqual(errors.map((e) => e.data), [], 'no error events during the stream');

  const received = rec.all('message_received', (d, e) => e.i >= from && same(d));
  const sources = rec.all('message_sources', (d, e) => e.i >= from && same(d));
  const tokens = rec.all('message_token', (d, e) => e.i >= from && same(d));
  assert.equal(received.length, 1, 'one message_received');
  assert.equal(sources.length, 1, 'one message_sources');
  assert.ok(tokens.length > 0, 'some message_token events');
  assert.deepEqual(received[0].data, { chat_id: chatId });
  // seed 002 "Event Flow": received, sources, tokens, complete
  assert.ok(received[0].i < tokens[0].i, 'message_received arrives before the first token');
  assert.ok(received[0].i < sources[0].i, 'message_received before message_sources');
  assert.ok(sources[0].i < tokens[0].i, 'message_sources before the first token');
  assert.ok(tokens[tokens.length - 1].i < complete.i, 'message_complete after the last token');

  const src = sources[0].data.sources;
  assert.ok(Array.isArray(src) && src.length > 0, 'sources is a non-empty array');
  for (const s of src) {
    assert.match(s.id, /^chunk_\d+$/);
    assert.equal(typeof s.content, 'string');
    assert.ok(s.content.length > 0);
    assert.equal(typeof s.score, 'number');
    assert.ok(Number.isInteger(s.metadata.document_id), JSON.stringify(s.metadata));
    assert.ok(s.metadata.page === null || Number.isInteger(s.metadata.page), JSON.stringify(s.metadata));
    assert.match(s.metadata.filename, /\.md$/);
  }
  for (const t of tokens) assert.equal(typeof t.data.token, 'string');

  const md = complete.data.metadata;
  assert.equal(typeof md.model, 'string');
  assert.ok(md.model.length > 0);
  assert.equal(md.sources_count, src.length, 'sources_count = number of sources sent');
  assert.ok(Number.isInteger(md.message_id), `message_id ${md.message_id}`);

  // What the client assembled is what was committed.
  const rows = await h.psql(
    `SELECT m.role, m.content, m.status, c.kind, c.external_id, m.conversation_id FROM messages m
     JOIN conversations c ON c.id = m.conversation_id WHERE m.id = ${md.message_id}`);
  assert.equal(rows.length, 1, `assistant message ${md.message_id} is stored`);
  const [role, content, status, kind, ext, conv] = rows[0];
  assert.equal(role, 'assistant');
  assert.equal(status, 'complete');
  assert.equal(kind, 'socketio');
  assert.equal(ext, String(chatId));
  assert.equal(tokens.map((t) => t.data.token).join(''), content, 'tokens concatenate to the stored answer');
  const users = await h.psql(
    `SELECT id FROM messages WHERE conversation_id = ${conv} AND role = 'user'
     AND content = ${h.sqlLiteral(question)} AND id < ${md.message_id}`);
  assert.equal(users.length, 1, 'the user message is stored before the answer');
  if (dbAtReceived) {
    const query = dbAtReceived();
    assert.ok(query, 'the DB was queried when message_received arrived');
    const atReceived = await query;
    assert.ok(atReceived.length >= 1, 'user message committed when message_received arrived');
  }
  return { tokens, complete };
}

/** send_message; queries the DB the moment message_received arrives. */
function sendMessage(socket, chatId, question, extra = {}) {
  const from = socket.rec.events.length;
  let dbAtReceived;
  const onReceived = (d) => {
    if (d && d.chat_id === chatId && !dbAtReceived) {
      dbAtReceived = h.psql(
        `SELECT m.id FROM messages m JOIN conversations c ON c.id = m.conversation_id
         WHERE c.kind = 'socketio' AND c.external_id = ${h.sqlLiteral(String(chatId))}
         AND m.role = 'user' AND m.content = ${h.sqlLiteral(question)}`);
      socket.off('message_received', onReceived);
    }
  };
  socket.on('message_received', onReceived);
  socket.emit('send_message', { chat_id: chatId, message: question, ...extra });
  return { from, db: () => dbAtReceived };
}

describe('Socket.IO transports and message streaming', () => {
  const ctx = h.setup();

  const cases = [
    { name: "['websocket']", transports: ['websocket'], want: 'websocket', chat: () => h.randomInt() },
    { name: "['polling']", transports: ['polling'], want: 'polling', chat: () => h.uniqueId('chat-') },
    { name: "['polling','websocket'] (upgrade)", transports: ['polling', 'websocket'], want: 'websocket', upgrade: true, chat: () => h.randomInt() },
    { name: "['websocket','polling']", transports: ['websocket', 'polling'], want: 'websocket', chat: () => h.uniqueId('c') },
  ];

  for (const c of cases) {
    test(`${c.name}: connects, connection_status, a full send_message stream`, { timeout: 45000 }, async () => {
      const socket = ctx.client({ transports: c.transports });
      const upgraded = c.upgrade
        ? new Promise((resolve) => socket.io.engine.once('upgrade', (t) => resolve(t.name)))
        : null;
      await h.connected(socket);
      const status = socket.rec.all('connection_status')[0].data;
      assert.equal(status.status, 'connected');
      assert.equal(typeof status.sid, 'string');
      assert.ok(status.sid.length > 0);
      assert.equal(status.sid, socket.id, 'connection_status.sid is the Socket.IO socket id');
      if (upgraded) {
        assert.equal(await h.withTimeout(upgraded, 10000, 'the upgrade'), 'websocket');
      }
      assert.equal(socket.io.engine.transport.name, c.want);

      const chatId = c.chat();
      const question = `How does ragws hand long-polling requests between workers? (${h.uniqueId()})`;
      const sent = sendMessage(socket, chatId, question, { model: null, temperature: 0.2, include_history: true });
      await checkStream(socket, chatId, question, sent.from, sent.db);
      assert.equal(socket.io.engine.transport.name, c.want, 'still on the same transport');
      assert.ok(socket.connected);
    });
  }

  test('a stream started while polling survives the upgrade to websocket', { timeout: 45000 }, async () => {
    const socket = ctx.client({ transports: ['polling', 'websocket'] });
    const upgraded = new Promise((resolve) => socket.io.engine.once('upgrade', (t) => resolve(t.name)));
    await h.withTimeout(socket.rec.waitFor('@connect'), 10000, 'connect');
    // Emitted at once, over polling; the probe runs while tokens stream.
    const chatId = h.randomInt();
    const question = `What does the broadcast ring do when a worker is lapped? (${h.uniqueId()})`;
    const sent = sendMessage(socket, chatId, question);
    await checkStream(socket, chatId, question, sent.from, null);
    assert.equal(await h.withTimeout(upgraded, 10000, 'the upgrade'), 'websocket');
  });

  test('two streams on one socket (different chats) both complete and are stored', { timeout: 45000 }, async () => {
    const socket = await ctx.connect({ transports: ['websocket'] });
    const a = h.randomInt();
    const b = h.uniqueId('chat-');
    const qa = `Which configuration keys control Socket.IO heartbeats? (${h.uniqueId()})`;
    const qb = `How are documents chunked at ingestion? (${h.uniqueId()})`;
    const sa = sendMessage(socket, a, qa);
    const sb = sendMessage(socket, b, qb);
    await checkStream(socket, a, qa, sa.from, null);
    await checkStream(socket, b, qb, sb.from, null);
  });

  test('send_message validation: error {message, chat_id}, connection stays usable', { timeout: 20000 }, async () => {
    const socket = await ctx.connect({ transports: ['websocket'] });
    const bad = [
      [{ message: 'no chat id' }, undefined],
      [{ chat_id: 5 }, 5],
      [{ chat_id: 5, message: '' }, 5],
      [{ chat_id: 5, message: 42 }, 5],
      [{ chat_id: 5, message: 'x', temperature: 'hot' }, 5],
      [{ chat_id: 5, message: 'x', temperature: 7 }, 5],
      [{ chat_id: 5, message: 'x', include_history: 'yes' }, 5],
      [{ chat_id: 5, message: 'x', model: 12 }, 5],
      [{ chat_id: { nested: true }, message: 'x' }, undefined],
      [{ chat_id: 'has spaces!', message: 'x' }, undefined],
    ];
    for (const [data, chatId] of bad) {
      const from = socket.rec.events.length;
      socket.emit('send_message', data);
      const err = await socket.rec.waitFor('error', undefined, { from });
      assert.equal(typeof err.data.message, 'string', JSON.stringify(data));
      assert.ok(err.data.message.length > 0);
      if (chatId !== undefined) assert.equal(err.data.chat_id, chatId, `chat_id echoed for ${JSON.stringify(data)}`);
      assert.equal(socket.rec.count('message_received', (d, e) => e.i >= from), 0);
    }
    const from = socket.rec.events.length;
    socket.emit('ping', {});
    await socket.rec.waitFor('pong', undefined, { from });
  });

  ctx.stopTest();
});
