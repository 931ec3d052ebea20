// Ingestion under load (issue 9; S4.2, S4.7, S8): each iteration opens
// /ws/dashboard and /ws/upload, uploads one document with
// POST /api/collections/{COLLECTION}/documents (a raw body with ?filename=,
// or multipart/form-data with MULTIPART=1), then waits for that upload's
// `upload_complete` on /ws/upload and its `notification` (task_completed or
// task_failed) on /ws/dashboard. It checks the 202 body ({upload_id,
// task_id, filename, uploads}), the seed 004 shapes of the upload events and
// the order of the stages, and measures upload -> complete.
//
//   k6 run scripts/k6/ingest.js
//   k6 run -e VUS=10 -e SIZE_KB=512 -e DURATION_S=120 scripts/k6/ingest.js
//   k6 run -e FILE=report.pdf -e CONTENT_TYPE=application/pdf scripts/k6/ingest.js
//
// Environment: RAGWS_URL, RAGWS_TOKEN (see lib.js; the REST calls use the
// same host over http(s)), and
//   VUS (2), DURATION_S (30), COLLECTION (k6_ingest), SIZE_KB (64: size of
//   the generated text, unique per iteration so nothing is a duplicate),
//   FILE (upload this file instead; the same bytes each time, so after the
//   first one the uploads complete as "duplicate"), CONTENT_TYPE
//   (text/plain; charset=utf-8), MULTIPART (0), COMPLETE_TIMEOUT_MS (60000).
// Keep the server's limits.max_upload_bytes above SIZE_KB, and
// limits.rate_limit is not involved (REST).

import { WebSocket } from 'k6/websockets';
import { clearTimeout, setTimeout } from 'k6/timers';
import http from 'k6/http';
import { check } from 'k6';
import { Counter, Rate, Trend } from 'k6/metrics';
import { BASE_URL, envInt, parseJSON, secs, wsParams, wsUrl } from './lib.js';

const VUS = Math.max(1, envInt('VUS', 2));
const DURATION_S = Math.max(1, envInt('DURATION_S', 30));
const COLLECTION = __ENV.COLLECTION || 'k6_ingest';
const SIZE_KB = Math.max(1, envInt('SIZE_KB', 64));
const CONTENT_TYPE = __ENV.CONTENT_TYPE || 'text/plain; charset=utf-8';
const MULTIPART = __ENV.MULTIPART === '1';
const COMPLETE_TIMEOUT_MS = Math.max(1000, envInt('COMPLETE_TIMEOUT_MS', 60000));
// open() only works in the init context: read FILE once, here.
const FILE_BYTES = __ENV.FILE ? open(__ENV.FILE, 'b') : null;
const FILE_NAME = __ENV.FILE ? __ENV.FILE.split('/').pop() || 'upload.bin' : '';
const HTTP_URL = BASE_URL.replace(/^ws/, 'http');
const STAGES = ['upload_started', 'upload_progress', 'processing_progress', 'chunking_progress', 'embedding_progress', 'upload_complete'];

const toComplete = new Trend('ragws_ingest_upload_to_complete', true); // POST sent -> upload_complete
const accepted = new Rate('ragws_ingest_accepted'); // 202
const succeeded = new Rate('ragws_ingest_succeeded'); // upload_complete success|duplicate
const notified = new Rate('ragws_ingest_notified'); // dashboard notification for the task
const stageOrder = new Rate('ragws_ingest_stage_order'); // the stages came in order
const progressMsgs = new Counter('ragws_ingest_progress_messages');
const connected = new Rate('ragws_connect_ok');

/** @type {import('k6/options').Options} */
export const options = {
  scenarios: {
    ingest: { executor: 'constant-vus', vus: VUS, duration: secs(DURATION_S), gracefulStop: '60s' },
  },
  thresholds: {
    ragws_ingest_accepted: ['rate==1'],
    ragws_ingest_succeeded: ['rate>0.99'],
    ragws_ingest_notified: ['rate>0.99'],
    ragws_ingest_stage_order: ['rate==1'],
    ragws_connect_ok: ['rate>0.99'],
    checks: ['rate>0.99'],
  },
};

/** A unique French text of about SIZE_KB KiB (accents and emoji included). */
function makeText() {
  const line = `Rapport ${__VU}-${__ITER}-${Date.now()} : l'équipe a livré le lot numéro ${__ITER} à l'été ☀️.\n`;
  return line.repeat(Math.max(1, Math.ceil((SIZE_KB * 1024) / line.length)));
}

/** @returns {{ status: number, body: any }} */
function upload() {
  /** @type {Record<string, string>} */
  const headers = {};
  if (__ENV.RAGWS_TOKEN) headers.Authorization = `Bearer ${__ENV.RAGWS_TOKEN}`;
  const name = FILE_BYTES ? FILE_NAME : `k6 rapport ${__VU}-${__ITER} é.txt`;
  const data = FILE_BYTES || makeText();
  const base = `${HTTP_URL}/api/collections/${encodeURIComponent(COLLECTION)}/documents`;
  let res;
  if (MULTIPART) {
    res = http.post(base, { file: http.file(data, name, CONTENT_TYPE) }, { headers, tags: { endpoint: 'upload' } });
  } else {
    headers['Content-Type'] = CONTENT_TYPE;
    res = http.post(`${base}?filename=${encodeURIComponent(name)}`, data, { headers, tags: { endpoint: 'upload' } });
  }
  return { status: res.status, body: parseJSON(res.body) };
}

export default function () {
  const params = wsParams(__ENV.RAGWS_TOKEN, { endpoint: '/ws/upload' });
  const dash = new WebSocket(wsUrl('/ws/dashboard'), null, wsParams(__ENV.RAGWS_TOKEN, { endpoint: '/ws/dashboard' }));
  const ups = new WebSocket(wsUrl('/ws/upload'), null, params);
  let open = 0;
  let uploadId = '';
  let taskId = 0;
  let sentAt = 0;
  let complete = false;
  let good = false;
  let notice = false;
  let lastStage = -1;
  let ordered = true;
  let snapshot = false;
  /** @type {number | undefined} */
  let deadline;

  const finish = () => {
    if (deadline !== undefined) clearTimeout(deadline);
    if (uploadId) {
      succeeded.add(complete && good);
      notified.add(notice);
      stageOrder.add(ordered);
    }
    ups.close();
    dash.close();
  };
  const maybeDone = () => {
    if (complete && notice) finish();
  };

  const start = () => {
    if (++open < 2) return;
    sentAt = Date.now();
    const r = upload();
    const ok = check(r, {
      'upload answers 202': (x) => x.status === 202,
      '202 body has upload_id, task_id, uploads': (x) =>
        x.body && /^upload_[0-9a-f]{16}$/.test(x.body.upload_id) && Number.isInteger(x.body.task_id) && Array.isArray(x.body.uploads),
    });
    accepted.add(ok);
    if (!ok) {
      console.warn(`ingest VU ${__VU}: upload answered ${r.status}: ${JSON.stringify(r.body)}`);
      finish();
      return;
    }
    uploadId = r.body.upload_id;
    taskId = r.body.task_id;
    deadline = setTimeout(() => {
      console.warn(`ingest VU ${__VU}: ${uploadId} not done within ${COMPLETE_TIMEOUT_MS} ms (complete ${complete}, notification ${notice})`);
      finish();
    }, COMPLETE_TIMEOUT_MS);
  };

  ups.onopen = () => {
    connected.add(true);
    start();
  };
  dash.onopen = () => {
    connected.add(true);
    start();
  };
  ups.onerror = dash.onerror = (event) => {
    connected.add(false);
    console.warn(`ingest VU ${__VU}: ${event ? event.error : 'error'}`);
  };

  ups.onmessage = (event) => {
    if (!event) return;
    const msg = parseJSON(event.data);
    if (!msg || !msg.data || msg.data.upload_id !== uploadId || !uploadId) return;
    const k = STAGES.indexOf(msg.type);
    check(msg, {
      'upload event is a known type with upload_id and filename': (m) => k >= 0 && typeof m.data.filename === 'string',
    });
    if (k < lastStage) ordered = false;
    lastStage = Math.max(lastStage, k);
    if (k >= 1 && k <= 4) {
      progressMsgs.add(1);
      check(msg.data, { 'progress is within 0..1': (d) => d.progress === null || (d.progress >= 0 && d.progress <= 1) });
    }
    if (msg.type === 'upload_complete') {
      toComplete.add(Date.now() - sentAt);
      good = check(msg.data, {
        'upload_complete is success or duplicate': (d) => d.status === 'success' || d.status === 'duplicate',
        'upload_complete has document_id and chunks_created': (d) => Number.isInteger(d.document_id) && Number.isInteger(d.chunks_created),
      });
      if (!good) console.warn(`ingest VU ${__VU}: ${JSON.stringify(msg.data)}`);
      complete = true;
      maybeDone();
    }
  };

  dash.onmessage = (event) => {
    if (!event) return;
    const msg = parseJSON(event.data);
    if (!msg) return;
    if (!snapshot) {
      snapshot = true;
      check(msg, {
        'dashboard sends dashboard_update first': (m) => m.type === 'dashboard_update' && m.data && Number.isInteger(m.data.active_tasks),
      });
    }
    if (msg.type === 'notification' && msg.data && taskId && msg.data.task_id === taskId) {
      check(msg.data, { 'task notification is task_completed': (d) => d.event === 'task_completed' });
      notice = true;
      maybeDone();
    }
  };
}
