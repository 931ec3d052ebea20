// Ingestion dashboard (seed 000): the counters of /ws/dashboard, the tasks
// of /ws/active-tasks, one task's live log (/ws/task/{id}), the charts of
// /ws/metrics and the notifications as they arrive.
import { $, api, counters, el, fmtTime, Live, liveChart, logLine, pct } from './common.js';

const tasks = new Map(); // id -> task
const FINISHED = new Set(['completed', 'failed', 'cancelled']);
const KEEP_FINISHED = 30;
let taskLog = null;
let charts = null;

function renderTasks() {
  const list = [...tasks.values()].sort((a, b) => b.id - a.id);
  let finished = 0;
  for (const t of list) if (FINISHED.has(t.status) && ++finished > KEEP_FINISHED) tasks.delete(t.id);
  const body = $('tasks');
  const shownList = [...tasks.values()].sort((a, b) => b.id - a.id);
  if (!shownList.length) {
    body.replaceChildren(el('tr', {}, el('td', { colspan: '7', class: 'hint' }, 'no tasks')));
    return;
  }
  body.replaceChildren(...shownList.map((t) => {
    const actions = el('td', { class: 'row' },
      el('button', { type: 'button', class: 'small', 'aria-label': `Log of task ${t.id}`, onclick: () => watch(t.id) }, 'Log'));
    if (!FINISHED.has(t.status)) {
      actions.append(el('button', { type: 'button', class: 'small secondary', 'aria-label': `Cancel task ${t.id}`, onclick: () => cancel(t.id) }, 'Cancel'));
    }
    return el('tr', { 'data-task': t.id, 'data-status': t.status, class: `st-${t.status}` },
      el('td', { class: 'n' }, t.id), el('td', {}, t.filename || ''),
      el('td', {}, el('span', { class: `badge ${t.status}` }, t.status), t.error ? el('div', { class: 'bad small-text' }, t.error) : ''),
      el('td', {}, el('progress', { max: '100', value: String(Math.round((t.progress || 0) * 100)), 'aria-label': `task ${t.id} progress` }), ' ', pct(t.progress)),
      el('td', { class: 'n' }, t.pages === null || t.pages === undefined ? '' : `${t.pages_done || 0}/${t.pages}`),
      el('td', { class: 'n' }, t.chunks ?? ''), actions);
  }));
}

async function cancel(id) {
  try { await api('POST', `/api/tasks/${id}/cancel`); } catch (e) { alert(e.message); }
}

function watch(id) {
  if (taskLog) taskLog.stop();
  const list = $('tasklog');
  list.replaceChildren(el('li', { class: 'hint' }, 'connecting…'));
  $('tasklog-id').textContent = `#${id}`;
  // the stored lines (GET /api/tasks/{id}) and the live ones, each once
  const seen = new Set();
  const add = (l) => {
    const key = `${l.timestamp}|${l.level}|${l.message}`;
    if (seen.has(key)) return;
    seen.add(key);
    logLine(list, line(l.level, l.message, l.timestamp), 500);
  };
  api('GET', `/api/tasks/${id}`).then((t) => {
    for (const l of t.logs || []) add(l);
    if (!list.children.length) list.append(el('li', { class: 'hint' }, 'no log lines yet'));
  }).catch(() => {});
  taskLog = new Live(`/ws/task/${id}`, {
    label: `/ws/task/${id}`,
    onMessage: (m) => {
      if (m.type === 'task_log') add(m);
      else if (m.type === 'task_update' && m.task) {
        tasks.set(m.task.id, m.task);
        renderTasks();
        logLine(list, line('status', `${m.task.status} ${pct(m.task.progress)}`, new Date().toISOString()), 500);
      }
    },
  });
}

function line(level, message, ts) {
  return el('li', { class: `lvl-${level}` }, el('span', { class: 'who' }, `${fmtTime(ts)} ${level}`), ' ', message);
}

function onDashboard(m) {
  if (m.type === 'dashboard_update') {
    const d = m.data || {};
    counters($('counters'), [
      ['Active', d.active_tasks], ['Queued', d.queued_tasks], ['Completed', d.completed_tasks],
      ['Failed', d.failed_tasks], ['Cancelled', d.cancelled_tasks], ['Tasks / min', d.tasks_per_minute],
      ['Avg task (s)', d.average_task_seconds], ['Pages', d.pages_processed], ['Errors', d.errors],
      ['Workers busy', `${d.workers_busy ?? 0} / ${d.max_parallel ?? '?'}`],
    ]);
  } else if (m.type === 'notification') {
    const d = m.data || {};
    logLine($('notifications'), el('li', { class: `lvl-${d.level}` },
      el('span', { class: 'who' }, `${fmtTime(m.timestamp)} ${d.event}`), ' ', d.message), 100);
  }
}

function onTasks(m) {
  if (m.type === 'active_tasks') {
    for (const [id, t] of tasks) if (!FINISHED.has(t.status)) tasks.delete(id);
    for (const t of m.tasks || []) tasks.set(t.id, t);
    renderTasks();
  } else if (m.type === 'task_update' && m.task) {
    tasks.set(m.task.id, m.task);
    renderTasks();
  }
}

function onMetrics(m) {
  if (m.type !== 'metrics') return;
  const d = m.data || {};
  const t = Date.parse(m.timestamp) / 1000 || Date.now() / 1000;
  charts.rate.push(t, [d.tasks_per_minute]);
  charts.queue.push(t, [d.queue_length, d.errors]);
  charts.time.push(t, [d.average_task_seconds]);
  charts.pages.push(t, [d.pages_processed]);
}

export function start() {
  const box = $('ing-charts');
  charts = {
    rate: liveChart(box, 'Tasks per minute', ['tasks/min']),
    queue: liveChart(box, 'Queue length and errors', ['queue', 'errors']),
    time: liveChart(box, 'Average task time', ['seconds'], { unit: ' s' }),
    pages: liveChart(box, 'Pages processed', ['pages']),
  };
  renderTasks();
  new Live('/ws/dashboard', { onMessage: onDashboard, label: '/ws/dashboard' });
  new Live('/ws/active-tasks', { onMessage: onTasks, label: '/ws/active-tasks' });
  new Live('/ws/metrics', { onMessage: onMetrics, label: '/ws/metrics' });
  // recent finished tasks too, so the table shows what just happened
  api('GET', '/api/tasks').then((r) => {
    for (const t of (r.tasks || []).slice(0, KEEP_FINISHED)) if (!tasks.has(t.id)) tasks.set(t.id, t);
    renderTasks();
  }).catch(() => {});
}
