'use strict';
// SPEC S4.4, seed 002 "Room Structure" and "Real-time Notifications":
// project rooms across workers, one room at a time, leave, and the admin
// REST twins of broadcast_to_project / notify_document_processing /
// notify_project_update.
const assert = require('node:assert/strict');
const { describe, test } = require('node:test');
const h = require('./helpers');

/** Open clients until there are n and every slot in `slots` owns one; extras
 * from over-represented slots are closed. Returns the sockets. */
async function spread(ctx, n, opts = {}, slots = [0, 1], maxAttempts = 200) {
  const conns = [];
  for (let attempts = 0; conns.length < n || !slots.every((s) => conns.some((c) => c.slot === s)); attempts++) {
    if (attempts >= maxAttempts) {
      throw new Error(`after ${maxAttempts} clients the worker slots seen were ${[...new Set(conns.map((c) => c.slot))]}`);
    }
    const socket = await ctx.connect({ transports: ['websocket'], ...opts });
    conns.push({ socket, slot: h.slotOf(socket) });
  }
  while (conns.length > n) {
    const counts = {};
    for (const c of conns) counts[c.slot] = (counts[c.slot] || 0) + 1;
    const k = conns.findIndex((c) => counts[c.slot] > 1);
    conns[k].socket.disconnect();
    conns.splice(k, 1);
  }
  return conns.map((c) => c.socket);
}

async function join(socket, projectId) {
  const from = socket.rec.events.length;
  socket.emit('join_project', { project_id: projectId });
  const ev = await socket.rec.waitFor('project_joined', (d) => d.project_id === projectId, { from });
  assert.deepEqual(ev.data, { project_id: projectId });
}

async function leave(socket, projectId) {
  const from = socket.rec.events.length;
  socket.emit('leave_project', { project_id: projectId });
  const ev = await socket.rec.waitFor(['project_left', 'error'], undefined, { from });
  return ev;
}

const isUpdate = (marker) => (d) => d && d.data && d.data.marker === marker;

describe('Socket.IO project rooms', () => {
  const ctx = h.setup();

  test('project_update and document_status reach exactly the room, once each, across both workers', { timeout: 60000 }, async () => {
    const p1 = await spread(ctx, 10);
    const slots = new Set(p1.map(h.slotOf));
    assert.deepEqual([...slots].sort(), [0, 1], 'the ten clients are spread over both workers');
    const p2 = [];
    for (let i = 0; i < 5; i++) p2.push(await ctx.connect({ transports: ['websocket'] }));
    await Promise.all(p1.map((s) => join(s, 1)));
    await Promise.all(p2.map((s) => join(s, 2)));
    const all = [...p1, ...p2];
    const from = new Map(all.map((s) => [s, s.rec.events.length]));

    // notify_project_update(project_id=1, update_type='document_added', ...)
    const m1 = h.uniqueId('u');
    const pub = await ctx.server.projectUpdate(1, 'document_added', { document_id: 10, filename: 'doc.pdf', marker: m1 });
    assert.equal(pub.room, 'project_1');
    await Promise.all(p1.map((s) => s.rec.waitFor('project_update', isUpdate(m1), { from: from.get(s) })));
    for (const s of p1) {
      const got = s.rec.all('project_update', isUpdate(m1));
      assert.deepEqual(got[0].data, { type: 'document_added', data: { document_id: 10, filename: 'doc.pdf', marker: m1 } });
    }

    // notify_document_processing(project_id=1, document_id=5, 'processing', 75)
    await ctx.server.documentStatus(1, 5, 'processing', 75);
    await Promise.all(p1.map((s) => s.rec.waitFor('document_status', (d) => d.document_id === 5, { from: from.get(s) })));
    for (const s of p1) {
      assert.deepEqual(s.rec.all('document_status')[0].data, { document_id: 5, status: 'processing', progress: 75 });
    }

    // Markers, published after: once a client has its room's marker, anything
    // for the other room would already have arrived (one ring, in order).
    const m2 = h.uniqueId('m');
    await ctx.server.projectUpdate(2, 'marker', { marker: m2 });
    await ctx.server.projectUpdate(1, 'marker', { marker: m2 });
    await Promise.all(all.map((s) => s.rec.waitFor('project_update', isUpdate(m2), { from: from.get(s) })));

    for (const s of p1) {
      assert.equal(s.rec.count('project_update', isUpdate(m1)), 1, 'the update arrived once');
      assert.equal(s.rec.count('document_status'), 1, 'the document status arrived once');
      assert.equal(s.rec.count('project_update', isUpdate(m2)), 1, 'only its own room\'s marker');
    }
    for (const s of p2) {
      assert.equal(s.rec.count('project_update', isUpdate(m1)), 0, 'project_2 members do not get project_1 updates');
      assert.equal(s.rec.count('document_status'), 0, 'nor its document status');
      assert.equal(s.rec.count('project_update', isUpdate(m2)), 1);
    }
    for (const s of all) assert.equal(s.rec.count('error'), 0);
  });

  test('broadcast_to_project: POST /broadcast emits that event to the room', { timeout: 30000 }, async () => {
    const a = await ctx.connect({ transports: ['websocket'] });
    const b = await ctx.connect({ transports: ['polling'] });
    const outsider = await ctx.connect({ transports: ['websocket'] });
    await join(a, 'alpha-7');
    await join(b, 'alpha-7');
    await join(outsider, 'beta');
    await ctx.server.broadcast('alpha-7', 'custom_event', { key: 'value', n: [1, 2, 3] });
    await ctx.server.broadcast('beta', 'custom_event', { key: 'marker' });
    for (const s of [a, b]) {
      const ev = await s.rec.waitFor('custom_event');
      assert.deepEqual(ev.data, { key: 'value', n: [1, 2, 3] });
    }
    const ev = await outsider.rec.waitFor('custom_event');
    assert.deepEqual(ev.data, { key: 'marker' }, 'outsider gets only its own room\'s event');
    assert.equal(outsider.rec.count('custom_event'), 1);
  });

  test('switching rooms leaves the previous one; leave_project stops the updates', { timeout: 30000 }, async () => {
    const s = await ctx.connect({ transports: ['websocket'] });
    const watcher3 = await ctx.connect({ transports: ['websocket'] });
    await join(watcher3, 3);
    await join(s, 3);
    await join(s, 4); // leaves project_3

    const ma = h.uniqueId('a');
    await ctx.server.projectUpdate(3, 'old_room', { marker: ma });
    await ctx.server.projectUpdate(4, 'new_room', { marker: ma });
    await s.rec.waitFor('project_update', isUpdate(ma));
    await watcher3.rec.waitFor('project_update', isUpdate(ma));
    assert.deepEqual(s.rec.all('project_update', isUpdate(ma)).map((e) => e.data.type), ['new_room'],
      'after switching, updates for the old project no longer arrive');

    // get_metadata tracks the current room
    const md = await h.ack(s, 'get_metadata', {});
    assert.equal(md.project_id, 4);

    // leave the current room
    const left = await leave(s, 4);
    assert.equal(left.event, 'project_left', JSON.stringify(left.data));
    assert.deepEqual(left.data, { project_id: 4 });
    const mb = h.uniqueId('b');
    await ctx.server.projectUpdate(4, 'after_leave', { marker: mb });
    await ctx.server.projectUpdate(3, 'after_leave', { marker: mb });
    await watcher3.rec.waitFor('project_update', isUpdate(mb));
    await join(s, 5); // after the publishes: the marker below comes later in the ring
    const mc = h.uniqueId('c');
    await ctx.server.projectUpdate(5, 'marker', { marker: mc });
    await s.rec.waitFor('project_update', isUpdate(mc));
    assert.equal(s.rec.count('project_update', isUpdate(mb)), 0, 'no updates after leave_project');
    assert.equal((await h.ack(s, 'get_metadata', {})).project_id, 5);
  });

  test('leave_project for a room the socket is not in is an error, room kept', { timeout: 20000 }, async () => {
    const s = await ctx.connect({ transports: ['websocket'] });
    let ev = await leave(s, 6);
    assert.equal(ev.event, 'error', 'not in any room');
    assert.equal(typeof ev.data.message, 'string');
    await join(s, 6);
    ev = await leave(s, 7);
    assert.equal(ev.event, 'error', 'in another room');
    assert.match(ev.data.message, /7/);
    const m = h.uniqueId('k');
    await ctx.server.projectUpdate(6, 'still_here', { marker: m });
    await s.rec.waitFor('project_update', isUpdate(m));
    ev = await leave(s, 6);
    assert.equal(ev.event, 'project_left');
  });

  test('join_project validation: bad project ids are errors', { timeout: 20000 }, async () => {
    const s = await ctx.connect({ transports: ['websocket'] });
    for (const bad of [undefined, null, '', 'a b', 'x'.repeat(49), { id: 1 }, [1], 1.5, true]) {
      const from = s.rec.events.length;
      s.emit('join_project', bad === undefined ? {} : { project_id: bad });
      const ev = await s.rec.waitFor(['error', 'project_joined'], undefined, { from });
      assert.equal(ev.event, 'error', `project_id ${JSON.stringify(bad)}: ${JSON.stringify(ev.data)}`);
    }
    const from = s.rec.events.length;
    s.emit('join_project'); // no argument at all
    assert.equal((await s.rec.waitFor(['error', 'project_joined'], undefined, { from })).event, 'error');
    await join(s, 'ok_id-1');
  });

  test('room events reach a client that switched from polling to websocket mid-room', { timeout: 30000 }, async () => {
    const s = ctx.client({ transports: ['polling', 'websocket'] });
    const upgraded = new Promise((resolve) => s.io.engine.once('upgrade', resolve));
    await h.connected(s);
    await join(s, 'upg');
    const before = h.uniqueId('p');
    await ctx.server.projectUpdate('upg', 'x', { marker: before });
    await s.rec.waitFor('project_update', isUpdate(before));
    await h.withTimeout(upgraded, 10000, 'upgrade');
    const afterM = h.uniqueId('w');
    await ctx.server.projectUpdate('upg', 'x', { marker: afterM });
    await s.rec.waitFor('project_update', isUpdate(afterM));
    assert.equal(s.rec.count('project_update', isUpdate(before)), 1);
    assert.equal(s.rec.count('project_update', isUpdate(afterM)), 1);
  });

  test('room REST validation', { timeout: 20000 }, async () => {
    const srv = ctx.server;
    const cases = [
      ['POST', '/api/projects/1/updates', { data: {} }, 400],
      // a string body goes without Content-Type: admin calls take JSON only
      ['POST', '/api/projects/1/updates', 'not json', 415],
      ['POST', '/api/projects/1/documents/5/status', { status: 'done', progress: 10 }, 400],
      ['POST', '/api/projects/1/documents/5/status', { status: 'processing', progress: 101 }, 400],
      ['POST', '/api/projects/1/documents/5/status', { status: 'processing', progress: 'x' }, 400],
      ['POST', '/api/projects/1/broadcast', { data: {} }, 400],
      ['POST', '/api/projects/1/broadcast', { event: 'a"b', data: {} }, 400],
      ['POST', '/api/projects/bad%20id/broadcast', { event: 'e', data: {} }, 400],
      ['GET', '/api/projects/1/broadcast', undefined, 405],
    ];
    for (const [method, p, body, want] of cases) {
      const r = await srv.http(method, p, { body });
      assert.equal(r.status, want, `${method} ${p} ${JSON.stringify(body)} -> ${r.status} ${r.body}`);
    }
    const bad = await srv.http('POST', '/api/projects/1/updates',
      { body: 'not json', headers: { 'Content-Type': 'application/json' } });
    assert.equal(bad.status, 400, bad.body);
    // progress is optional; completed/failed accepted
    for (const st of ['completed', 'failed']) {
      const r = await srv.http('POST', '/api/projects/1/documents/abc/status', { body: { status: st } });
      assert.equal(r.status, 202, r.body);
    }
  });

  ctx.stopTest();
});

// Its own server, so that a leak (reported by LeakSanitizer when the worker
// exits) is pinned on this one request.
describe('project update without "data"', () => {
  const ctx = h.setup({ name: 'nodata' });

  test('POST /updates without data publishes {type, data: {}}', { timeout: 20000 }, async () => {
    const s = await ctx.connect({ transports: ['websocket'] });
    await join(s, 9);
    const r = await ctx.server.http('POST', '/api/projects/9/updates', { body: { type: 'document_deleted' } });
    assert.equal(r.status, 202, r.body);
    const ev = await s.rec.waitFor('project_update');
    assert.deepEqual(ev.data, { type: 'document_deleted', data: {} });
  });

  ctx.stopTest();
});
