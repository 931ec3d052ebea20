// Conversation assistant (seed 003, SPEC S4.5): a live /ws/conversation
// session. Each utterance sent gets suggested questions, the signals
// detected and a recommended direction (streamed first with "stream").
import { $, el, Live } from './common.js';

let live = null;
let session = '';

function chips(list, items, cls) {
  list.replaceChildren(...(items || []).map((s) => el('li', { class: `chip ${cls || ''}` },
    typeof s === 'string' ? s : s.type || s.name || s.signal || JSON.stringify(s))));
}

function onMessage(m, send) {
  if (m.type === 'session_init') {
    session = m.session_id;
    $('as-session').textContent = session;
  } else if (m.type === 'ping') {
    send({ type: 'pong' });
  } else if (m.type === 'token') {
    $('as-tokens').textContent = m.full_text !== undefined ? m.full_text : $('as-tokens').textContent + (m.content || '');
  } else if (m.error) {
    $('as-direction').textContent = `${m.error}: ${m.details || ''}`;
    $('as-direction').classList.add('bad');
  } else if (Array.isArray(m.questions)) {
    $('as-direction').classList.remove('bad');
    $('as-tokens').textContent = '';
    $('as-questions').replaceChildren(...m.questions.map((q) => el('li', { class: 'chip' }, q)));
    chips($('as-signals'), m.signals_detected, 'signal');
    $('as-direction').textContent = m.recommended_direction || '—';
  }
}

/** Does this server serve /ws/conversation (issue 10)? From its route table. */
async function served() {
  try {
    const r = await fetch('/openapi.json');
    if (!r.ok) return true;
    const doc = await r.json();
    return Boolean(doc.paths && doc.paths['/ws/conversation']);
  } catch {
    return true;
  }
}

export async function start() {
  if (!(await served())) {
    $('as-session').textContent = 'not available: this server does not serve /ws/conversation';
    $('as-form').querySelector('button[type=submit]').disabled = true;
    return;
  }
  const path = () => (session ? `/ws/conversation?session_id=${encodeURIComponent(session)}` : '/ws/conversation');
  live = new Live(path(), { onMessage, label: '/ws/conversation' });
  // a reconnect resumes the same session (its memory is stored)
  live.onClose = () => { live.path = path(); };
  $('as-form').addEventListener('submit', (ev) => {
    ev.preventDefault();
    const text = $('as-text').value.trim();
    if (!text) return;
    const msg = { text, speaker: $('as-speaker').value };
    if ($('as-sentiment').value) msg.sentiment = $('as-sentiment').value;
    if ($('as-emotion').value.trim()) msg.emotion = $('as-emotion').value.trim();
    if ($('as-stream').checked) msg.stream = true;
    if (!live.send(msg)) { $('as-direction').textContent = 'not connected: /ws/conversation is reconnecting'; return; }
    $('as-transcript').append(el('li', { class: `msg ${msg.speaker}` }, el('span', { class: 'who' }, msg.speaker), el('p', {}, text)));
    $('as-text').value = '';
  });
  $('as-form').addEventListener('keydown', (ev) => {
    if (ev.key === 'Enter' && (ev.ctrlKey || ev.metaKey)) { ev.preventDefault(); $('as-form').requestSubmit(); }
  });
}
