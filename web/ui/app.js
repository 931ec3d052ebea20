// The ragws UI: one page, five views chosen by the URL's #fragment. Each
// view opens its WebSockets the first time it is shown and keeps them.
import { $, auth, restartAll } from './common.js';
import * as chat from './chat.js';
import * as documents from './documents.js';
import * as ingestion from './ingestion.js';
import * as assistant from './assistant.js';
import * as operations from './operations.js';

const VIEWS = { chat, documents, ingestion, assistant, operations };
const started = new Set();

function show() {
  let name = location.hash.replace(/^#/, '');
  if (!VIEWS[name]) name = 'chat';
  for (const v of Object.keys(VIEWS)) {
    $(`view-${v}`).hidden = v !== name;
    const link = document.querySelector(`nav a[data-view="${v}"]`);
    if (v === name) link.setAttribute('aria-current', 'page'); else link.removeAttribute('aria-current');
  }
  document.title = `ragws · ${name[0].toUpperCase()}${name.slice(1)}`;
  if (!started.has(name)) {
    started.add(name);
    VIEWS[name].start();
  }
}

function setupAuth() {
  const dlg = $('auth-dialog');
  const open = (reason) => {
    if (dlg.open) return;
    $('auth-reason').textContent = reason ? `The server asks for a token: ${reason}` : 'Tokens for auth.mode = jwt.';
    $('auth-token').value = auth.token;
    $('auth-admin').value = auth.admin;
    dlg.showModal();
    $('auth-token').focus();
  };
  auth.onNeeded = open;
  $('auth-open').addEventListener('click', () => open(''));
  dlg.addEventListener('close', () => {
    if (dlg.returnValue === 'save') auth.set($('auth-token').value.trim(), $('auth-admin').value.trim());
    else if (dlg.returnValue === 'clear') auth.set('', '');
    else return;
    restartAll();
  });
}

setupAuth();
window.addEventListener('hashchange', show);
show();
document.body.dataset.ready = '1';
