// Chat: questions over /ws/query (streamed tokens, citations, pause /
// resume / cancel) or /chat/ws (reactions), the follow-up questions of
// /api/v1/ws as suggestions, and a stored conversation's history.
import { $, api, el, fmtTime, Live } from './common.js';

let query;      // Live /ws/query
let chat;       // Live /chat/ws (opened on first use)
let seq = 0;
const pending = new Map(); // request_id (or bot_N) -> answer card

function card(question, via) {
  const text = el('p', { class: 'answer', 'aria-busy': 'true' });
  const stage = el('p', { class: 'stage hint' }, 'sent');
  const cites = el('ol', { class: 'citations', 'aria-label': 'Citations' });
  const tools = el('div', { class: 'row wrap tools' });
  const meta = el('p', { class: 'hint meta' });
  const box = el('article', { class: 'card qa', 'aria-label': `Answer to: ${question}` },
    el('h3', { class: 'q' }, question), el('p', { class: 'hint' }, `via ${via}`), stage, text, tools, cites, meta);
  $('answers').prepend(box);
  return { box, text, stage, cites, tools, meta };
}

function ask(question) {
  const endpoint = $('chat-endpoint').value;
  if (endpoint === 'chat') return askChat(question);
  const id = `ui${Date.now().toString(36)}_${++seq}`;
  const c = card(question, '/ws/query');
  c.id = id;
  pending.set(id, c);
  const ctl = (action) => query.send({ type: 'control', request_id: id, data: { action } });
  const pause = el('button', {
    type: 'button', class: 'small',
    onclick: () => { ctl('pause'); c.paused = true; pause.disabled = true; resume.disabled = false; c.stage.textContent = 'paused'; },
  }, 'Pause');
  const resume = el('button', {
    type: 'button', class: 'small', disabled: true,
    onclick: () => { ctl('resume'); c.paused = false; pause.disabled = false; resume.disabled = true; c.stage.textContent = 'resumed'; },
  }, 'Resume');
  const cancel = el('button', { type: 'button', class: 'small secondary', onclick: () => ctl('cancel') }, 'Cancel');
  c.buttons = [pause, resume, cancel];
  c.tools.append(pause, resume, cancel);
  const ok = query.send({
    type: 'query', request_id: id,
    data: { query: question, collection_name: $('chat-collection').value || 'documents', mode: $('chat-mode').value, stream: true },
  });
  if (!ok) c.stage.textContent = 'not connected: /ws/query is reconnecting, ask again in a moment';
}

function finish(c) {
  c.text.setAttribute('aria-busy', 'false');
  for (const b of c.buttons || []) b.disabled = true;
}

function onQuery(m) {
  const c = pending.get(m.request_id);
  if (!c) return;
  const d = m.data || {};
  if (m.type === 'status') { if (!c.paused) c.stage.textContent = `${d.stage} (${Math.round((d.progress || 0) * 100)} %)${d.message ? `: ${d.message}` : ''}`; }
  else if (m.type === 'token') c.text.append(d.content);
  else if (m.type === 'citation') {
    const conf = d.confidence === undefined ? '' : ` · confidence ${Math.round(d.confidence * 100)} %`;
    c.cites.append(el('li', { class: 'citation' },
      el('strong', {}, d.source || '?'), d.page ? ` · page ${d.page}` : '', conf,
      el('blockquote', {}, d.content || '')));
  } else if (m.type === 'complete') {
    pending.delete(m.request_id);
    finish(c);
    c.stage.textContent = 'complete';
    c.meta.textContent = `${d.tokens_generated} tokens · ${d.sources_used} sources · ${Number(d.total_time).toFixed(2)} s · ${d.processing_mode}`
      + (d.query_analysis ? ` · intent ${d.query_analysis.intent}` : '');
    if (d.conversation_id) {
      c.meta.append(' · ', el('button', { type: 'button', class: 'link', onclick: () => loadHistory(String(d.conversation_id)) },
        `conversation ${d.conversation_id}`));
      $('hist-id').value = String(d.conversation_id);
    }
  } else if (m.type === 'error') {
    pending.delete(m.request_id);
    finish(c);
    c.stage.textContent = `${d.code}: ${d.message}`;
    c.stage.classList.add('bad');
  }
}

// /chat/ws: chunk..., complete (bot_N), reactions against bot_N.
let chatConv = '';
let lastChat = null;
function askChat(question) {
  if (!chat) chat = new Live('/chat/ws', { onMessage: onChat, label: '/chat/ws' });
  const c = card(question, '/chat/ws');
  lastChat = c;
  const msg = { message: question, timestamp: new Date().toISOString() };
  if (chatConv) msg.conversation_id = chatConv;
  const send = () => chat.send(msg) || setTimeout(send, 300);
  send();
}

function onChat(m) {
  if (m.type === 'chunk') {
    let c = pending.get(m.message_id);
    if (!c && lastChat) { c = lastChat; lastChat = null; pending.set(m.message_id, c); }
    if (c) c.text.append(m.text || '');
  } else if (m.type === 'complete') {
    const c = pending.get(m.message_id) || lastChat;
    if (!c) return;
    pending.delete(m.message_id);
    lastChat = null;
    finish(c);
    c.stage.textContent = 'complete';
    if (m.conversation_id) chatConv = String(m.conversation_id);
    for (const [r, label] of [['thumbs_up', '👍'], ['thumbs_down', '👎']]) {
      c.tools.append(el('button', {
        type: 'button', class: 'small', 'aria-label': r.replace('_', ' '),
        onclick: (ev) => { chat.send({ type: 'reaction', message_id: m.message_id, reaction: r }); ev.target.setAttribute('aria-pressed', 'true'); },
      }, label));
    }
    c.reactFor = m.message_id;
    pending.set(`react:${m.message_id}`, c);
  } else if (m.type === 'reaction_saved') {
    const c = pending.get(`react:${m.message_id}`);
    if (c) c.meta.textContent = `reaction saved: ${m.reaction || ''}`;
  } else if (m.type === 'error') {
    const c = (m.message_id && pending.get(m.message_id)) || lastChat;
    if (c) { finish(c); c.stage.textContent = `${m.code || 'error'}: ${m.message}`; c.stage.classList.add('bad'); }
  }
}

function onFollowUps(m) {
  if (m.type !== 'follow_up_questions' || !Array.isArray(m.questions)) return;
  $('sugg-empty').hidden = true;
  $('suggestions').replaceChildren(...m.questions.map((q) => el('li', {},
    el('button', { type: 'button', class: 'chip', onclick: () => { $('chat-q').value = q; ask(q); } }, q))));
}

async function loadHistory(id) {
  const list = $('history');
  list.replaceChildren(el('li', { class: 'hint' }, 'loading…'));
  try {
    const r = await api('GET', `/api/conversations/${encodeURIComponent(id)}/messages`);
    list.replaceChildren(...r.messages.map((msg) => el('li', { class: `msg ${msg.role}` },
      el('span', { class: 'who' }, `${msg.role} · ${fmtTime(msg.created_at)}${msg.status && msg.status !== 'complete' ? ` · ${msg.status}` : ''}`),
      el('p', {}, msg.content))));
    if (!r.messages.length) list.replaceChildren(el('li', { class: 'hint' }, 'no messages'));
  } catch (e) {
    list.replaceChildren(el('li', { class: 'bad' }, e.message));
  }
}

export async function loadCollections(select) {
  try {
    const r = await api('GET', '/api/collections');
    const names = r.collections.map((c) => c.name);
    if (!names.includes('documents')) names.unshift('documents');
    const cur = select.value;
    select.replaceChildren(...names.map((n) => el('option', { value: n }, n)));
    if (names.includes(cur)) select.value = cur;
  } catch { /* keep the default */ }
}

export function start() {
  query = new Live('/ws/query', { onMessage: onQuery, label: '/ws/query' });
  new Live('/api/v1/ws', { onMessage: onFollowUps, label: '/api/v1/ws' });
  const form = $('chat-form');
  form.addEventListener('submit', (ev) => {
    ev.preventDefault();
    const q = $('chat-q').value.trim();
    if (q) ask(q);
  });
  form.addEventListener('keydown', (ev) => {
    if (ev.key === 'Enter' && (ev.ctrlKey || ev.metaKey)) { ev.preventDefault(); form.requestSubmit(); }
  });
  $('hist-form').addEventListener('submit', (ev) => { ev.preventDefault(); loadHistory($('hist-id').value.trim()); });
  loadCollections($('chat-collection'));
}
