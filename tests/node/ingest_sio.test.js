'use strict';
// Ingestion seen from Socket.IO (SPEC S4.4, S6; seed 002 "Real-time
// Notifications"): an upload that names ?project_id= sends document_status
// (processing ... completed, progress 0..100) and project_update
// document_added to room project_<id>, on every worker; DELETE
// /api/documents/{id} sends project_update document_deleted. Members of
// other rooms, and uploads without a project, send them nothing.
const assert = require('node:assert/strict');
const crypto = require('node:crypto');
const fs = require('node:fs');
const path = require('node:path');
const { describe, test } = require('node:test');
const h = require('./helpers');

async function join(socket, projectId) {
  const from = socket.rec.events.length;
  socket.emit('join_project', { project_id: projectId });
  await socket.rec.waitFor('project_joined', (d) => d.project_id === projectId, { from });
}

/** Open websocket clients until both worker slots own one; returns two. */
async function onBothWorkers(ctx) {
  const bySlot = new Map();
  for (let i = 0; i < 100 && bySlot.size < 2; i++) {
    const s = await ctx.connect({ transports: ['websocket'] });
    const slot = h.slotOf(s);
    if (bySlot.has(slot)) s.disconnect();
    else bySlot.set(slot, s);
  }
  assert.equal(bySlot.size, 2, 'clients on both workers');
  return [...bySlot.values()];
}

async function upload(ctx, coll, filename, text, projectId) {
  const q = new URLSearchParams({ filename });
  if (projectId !== undefined) q.set('project_id', String(projectId));
  const body = Buffer.from(text, 'utf8');
  const r = await ctx.server.http('POST', `/api/collections/${coll}/documents?${q}`, {
    body, headers: { 'Content-Type': 'text/plain; charset=utf-8' }, timeout: 30000,
  });
  assert.equal(r.status, 202, `upload: ${r.status} ${r.body}`);
  const j = JSON.parse(r.body);
  assert.match(j.upload_id, /^upload_[0-9a-f]{16}$/);
  assert.equal(j.filename, filename);
  return j;
}

const statusOf = (docId) => (d) => d && d.document_id === docId;

describe('ingestion events in Socket.IO project rooms', () => {
  const ctx = h.setup({
    overrides: (c) => {
      const dir = path.join(c.dir, 'uploads');
      fs.mkdirSync(dir, { recursive: true });
      return { 'ingest.upload_dir': dir, 'ingest.progress_interval': '100ms' };
    },
  });

  test('an upload naming ?project_id= reports to project_<id> on both workers', { timeout: 90000 }, async () => {
    const project = h.randomInt();
    const coll = `sio_${crypto.randomBytes(5).toString('hex')}`;
    const members = await onBothWorkers(ctx);
    for (const s of members) await join(s, project);
    const outsider = await ctx.connect({ transports: ['websocket'] });
    await join(outsider, project + 1);
    const from = members.map((s) => s.rec.events.length);

    const mark = `zq${crypto.randomBytes(5).toString('hex')}`;
    const name = 'réunion du comité 📎.txt';
    const text = `Procès-verbal ${mark} : le comité a voté, à l'unanimité, pour les crêpes 🥞.\n`.repeat(200);
    const up = await upload(ctx, coll, name, text, project);

    for (const [k, s] of members.entries()) {
      const added = await s.rec.waitFor('project_update', (d) => d && d.type === 'document_added',
        { from: from[k], timeout: 60000 });
      // seed 002 / SPEC S4.4: project_update {type, data}
      const upd = added.data.data;
      assert.ok(upd, `project_update has data: ${JSON.stringify(added.data)}`);
      const docId = upd.document_id;
      assert.ok(Number.isInteger(docId) && docId > 0, JSON.stringify(added.data));
      assert.equal(upd.filename, name);
      const done = await s.rec.waitFor('document_status', (d) => statusOf(docId)(d) && d.status === 'completed',
        { from: from[k], timeout: 30000 });
      assert.equal(done.data.progress, 100, JSON.stringify(done.data));
      const seq = s.rec.all('document_status', statusOf(docId)).filter((e) => e.i >= from[k]).map((e) => e.data);
      assert.ok(seq.length >= 2, `processing then completed: ${JSON.stringify(seq)}`);
      assert.equal(seq[0].status, 'processing', JSON.stringify(seq));
      assert.equal(seq[seq.length - 1].status, 'completed');
      assert.equal(seq.filter((d) => d.status === 'completed').length, 1, JSON.stringify(seq));
      for (const d of seq.slice(0, -1)) assert.equal(d.status, 'processing', JSON.stringify(seq));
      const prog = seq.map((d) => d.progress);
      for (const p of prog) assert.ok(p >= 0 && p <= 100, `progress ${p}`);
      assert.deepEqual(prog, [...prog].sort((a, b) => a - b), `progress never goes back: ${prog}`);
      s.docId = docId;
    }
    assert.equal(members[0].docId, members[1].docId);
    const docId = members[0].docId;
    const rows = await h.psql(`SELECT filename FROM documents WHERE id = ${docId}`);
    assert.deepEqual(rows, [[name]]);

    // nothing for another room
    assert.equal(outsider.rec.count('document_status'), 0, outsider.rec.summary());
    assert.equal(outsider.rec.count('project_update'), 0, outsider.rec.summary());

    // an upload without a project: nothing in the room
    const before = members.map((s) => s.rec.count('document_status'));
    const other = await upload(ctx, coll, 'sans projet.txt', `Sans projet ${mark}x ✅\n`);
    await h.eventually(async () => {
      const t = JSON.parse((await ctx.server.http('GET', `/api/tasks/${other.task_id}`)).body);
      return t.status === 'completed';
    }, { timeout: 30000, what: 'the task without a project to complete' });
    assert.deepEqual(members.map((s) => s.rec.count('document_status')), before);

    // DELETE: project_update document_deleted to the room
    const del = await ctx.server.http('DELETE', `/api/documents/${docId}`);
    assert.equal(del.status, 200, del.body);
    for (const [k, s] of members.entries()) {
      const gone = await s.rec.waitFor('project_update', (d) => d && d.type === 'document_deleted',
        { from: from[k], timeout: 10000 });
      assert.ok(gone.data.data, `project_update has data: ${JSON.stringify(gone.data)}`);
      assert.equal(gone.data.data.document_id, docId, JSON.stringify(gone.data));
    }
    assert.equal(up.uploads.length, 1);
  });

  test('a failed extraction reports document_status failed', { timeout: 60000 }, async () => {
    const project = h.randomInt();
    const coll = `sio_${crypto.randomBytes(5).toString('hex')}`;
    const s = await ctx.connect({ transports: ['websocket'] });
    await join(s, project);
    const from = s.rec.events.length;
    // a ZIP archive: detected from its bytes, cannot be extracted
    const q = new URLSearchParams({ filename: 'archive déguisée.txt', project_id: String(project) });
    const body = Buffer.concat([Buffer.from('PK\x03\x04', 'latin1'), crypto.randomBytes(1000)]);
    const r = await ctx.server.http('POST', `/api/collections/${coll}/documents?${q}`, {
      body, headers: { 'Content-Type': 'text/plain' },
    });
    assert.equal(r.status, 202, r.body);
    const failed = await s.rec.waitFor('document_status', (d) => d && d.status === 'failed',
      { from, timeout: 30000 });
    assert.ok(failed.data.progress >= 0 && failed.data.progress <= 100, JSON.stringify(failed.data));
    assert.equal(s.rec.all('project_update', (d) => d && d.type === 'document_added').filter((e) => e.i >= from).length, 0);
  });

  ctx.stopTest();
});
