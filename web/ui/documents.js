// Documents: drag-and-drop upload of several files (multipart POST
// /api/collections/{name}/documents), each followed through every stage on
// /ws/upload; the collections with live counts (/ws/collections); a
// collection's documents, each deletable (DELETE /api/documents/{id}).
import { $, api, auth, el, fmtTime, Live, pct } from './common.js';

// Overall progress of an upload: each stage fills its share of the bar.
const STAGES = {
  upload_started: [0, 0.02, 'upload'],
  upload_progress: [0, 0.2, 'upload'],
  processing_progress: [0.2, 0.5, 'extraction'],
  chunking_progress: [0.5, 0.75, 'chunking'],
  embedding_progress: [0.75, 1, 'indexing'],
};

const rows = new Map();      // upload_id -> row
const byName = new Map();    // filename -> [rows without an upload_id yet]
let shown = 'documents';

function newRow(file) {
  const bar = el('progress', { max: '100', value: '0', 'aria-label': `progress of ${file.name}` });
  const label = el('span', { class: 'pct' }, '0 %');
  const r = {
    file: file.name,
    stage: el('td', {}, 'sending'),
    bar, label,
    result: el('td', {}),
    overall: 0,
  };
  r.tr = el('tr', { 'data-file': file.name }, el('td', {}, file.name), r.stage, el('td', {}, bar, ' ', label), r.result);
  $('uploads').prepend(r.tr);
  if (!byName.has(file.name)) byName.set(file.name, []);
  byName.get(file.name).push(r);
  return r;
}

function setProgress(r, x) {
  r.overall = Math.max(r.overall, Math.min(1, x));
  r.bar.value = Math.round(r.overall * 100);
  r.label.textContent = pct(r.overall);
}

function rowFor(d) {
  if (d.upload_id && rows.has(d.upload_id)) return rows.get(d.upload_id);
  const waiting = byName.get(d.filename);
  if (waiting && waiting.length && d.upload_id) {
    const r = waiting.shift();
    r.uploadId = d.upload_id;
    r.tr.dataset.upload = d.upload_id;
    rows.set(d.upload_id, r);
    return r;
  }
  return null;
}

function onUpload(m) {
  const d = m.data || {};
  const r = rowFor(d);
  if (!r) return;
  if (m.type === 'upload_complete') {
    setProgress(r, d.status === 'success' || d.status === 'duplicate' ? 1 : r.overall);
    r.stage.textContent = d.status === 'success' ? 'done' : d.status;
    r.result.replaceChildren(d.error ? el('span', { class: 'bad' }, d.error)
      : `document ${d.document_id} · ${d.chunks_created} chunks · ${d.total_time} s`);
    r.tr.classList.add(d.status === 'success' || d.status === 'duplicate' ? 'ok' : 'failed');
    refresh();
    return;
  }
  const s = STAGES[m.type];
  if (!s) return;
  const p = d.progress === null || d.progress === undefined ? 0 : Number(d.progress);
  setProgress(r, s[0] + (s[1] - s[0]) * p);
  r.stage.textContent = m.type === 'processing_progress' && d.stage ? d.stage.replace(/_/g, ' ') : s[2];
}

function upload(files) {
  const coll = $('up-collection').value.trim() || 'documents';
  const fd = new FormData();
  const made = [];
  for (const f of files) { fd.append('file', f, f.name); made.push(newRow(f)); }
  const xhr = new XMLHttpRequest();
  xhr.open('POST', `/api/collections/${encodeURIComponent(coll)}/documents`);
  if (auth.token) xhr.setRequestHeader('Authorization', `Bearer ${auth.token}`);
  xhr.upload.onprogress = (ev) => {
    if (!ev.lengthComputable) return;
    for (const r of made) { if (r.overall < 0.2) setProgress(r, 0.2 * ev.loaded / ev.total); r.stage.textContent = 'upload'; }
  };
  xhr.onload = () => {
    let j = null;
    try { j = JSON.parse(xhr.responseText); } catch { j = null; }
    if (xhr.status !== 202 || !j) {
      if (xhr.status === 401) auth.needed('uploads need a token');
      const msg = j && j.error ? `${j.error.code}: ${j.error.message}` : `HTTP ${xhr.status}`;
      for (const r of made) { r.stage.textContent = 'refused'; r.result.replaceChildren(el('span', { class: 'bad' }, msg)); r.tr.classList.add('failed'); }
      return;
    }
    for (const u of j.uploads || [j]) {
      const r = rowFor(u);
      if (r) { r.taskId = u.task_id; if (r.overall < 0.2) setProgress(r, 0.2); r.result.textContent = `task ${u.task_id}`; }
    }
  };
  xhr.onerror = () => { for (const r of made) r.stage.textContent = 'network error'; };
  xhr.send(fd);
}

function statsRow(c) {
  const btn = el('button', { type: 'button', class: 'link', onclick: () => showCollection(c.name) }, c.name);
  return el('tr', { 'data-collection': c.name }, el('td', {}, btn), el('td', { class: 'n' }, c.total_documents),
    el('td', { class: 'n' }, c.total_chunks), el('td', { class: 'n' }, c.storage_size_mb), el('td', {}, fmtTime(c.last_updated)));
}

async function refresh() {
  try {
    const r = await api('GET', '/api/collections');
    $('collections').replaceChildren(...r.collections.map(statsRow));
    if (!r.collections.length) $('collections').replaceChildren(el('tr', {}, el('td', { colspan: '5', class: 'hint' }, 'no collections yet')));
  } catch (e) {
    $('collections').replaceChildren(el('tr', {}, el('td', { colspan: '5', class: 'bad' }, e.message)));
  }
  showCollection(shown);
}

async function showCollection(name) {
  shown = name;
  $('coll-name').textContent = name;
  const body = $('coll-docs');
  try {
    const r = await api('GET', `/api/collections/${encodeURIComponent(name)}`);
    body.replaceChildren(...r.documents.map((d) => el('tr', { 'data-document': d.document_id },
      el('td', { class: 'n' }, d.document_id), el('td', {}, d.filename), el('td', {}, d.content_type || ''),
      el('td', { class: 'n' }, d.chunks), el('td', {}, fmtTime(d.created_at)),
      el('td', {}, el('button', { type: 'button', class: 'small secondary', 'aria-label': `Delete ${d.filename}`, onclick: () => remove(d) }, 'Delete')))));
    if (!r.documents.length) body.replaceChildren(el('tr', {}, el('td', { colspan: '6', class: 'hint' }, 'no documents')));
  } catch (e) {
    body.replaceChildren(el('tr', {}, el('td', { colspan: '6', class: e.status === 404 ? 'hint' : 'bad' },
      e.status === 404 ? 'this collection does not exist yet' : e.message)));
  }
}

async function remove(d) {
  if (!confirm(`Delete ${d.filename} and its chunks?`)) return;
  try { await api('DELETE', `/api/documents/${d.document_id}`); } catch (e) { alert(e.message); }
  refresh();
}

function onCollections(m) {
  if (m.type === 'collection_stats') {
    const tr = $('collections').querySelector(`tr[data-collection="${CSS.escape(m.collection)}"]`);
    const row = statsRow({ name: m.collection, ...m.data });
    if (tr) tr.replaceWith(row); else refresh();
  } else if ((m.type === 'document_added' || m.type === 'document_deleted') && m.collection === shown) {
    showCollection(shown);
  }
}

export function start() {
  new Live('/ws/upload', { onMessage: onUpload, label: '/ws/upload' });
  new Live('/ws/collections', { onMessage: onCollections, label: '/ws/collections', onOpen: refresh });
  const dz = $('dropzone');
  const input = $('up-files');
  dz.addEventListener('click', () => input.click());
  dz.addEventListener('keydown', (ev) => { if (ev.key === 'Enter' || ev.key === ' ') { ev.preventDefault(); input.click(); } });
  dz.addEventListener('dragover', (ev) => { ev.preventDefault(); dz.classList.add('over'); });
  dz.addEventListener('dragleave', () => dz.classList.remove('over'));
  dz.addEventListener('drop', (ev) => {
    ev.preventDefault();
    dz.classList.remove('over');
    if (ev.dataTransfer.files.length) upload([...ev.dataTransfer.files]);
  });
  input.addEventListener('change', () => { if (input.files.length) upload([...input.files]); input.value = ''; });
}
