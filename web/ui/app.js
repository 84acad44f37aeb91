// The Burrow dashboard: login, the hash router and the session (event
// stream, key rotation, logout). The views live in views/.

import { h, replace, confirm, dialog, toast } from './dom.js';
import { request, getKey, setKey, dropKey, EventStream, APIError } from './api.js';
import { state, applyEvent, reset, loadInfo, KEY_ID, changed } from './state.js';
import { overview } from './views/overview.js';
import { instancesView } from './views/instances.js';
import { formView } from './views/form.js';
import { detailView } from './views/detail.js';
import { agentsView } from './views/agents.js';

const main = document.getElementById('main');
const header = document.querySelector('header.top');
const streamState = document.getElementById('stream-state');
let current = null; // the mounted view: {unmount()}

const stream = new EventStream({
  onEvent: applyEvent,
  onState: (s) => {
    // A new stream starts with the whole state (its initial burst): drop
    // what the last one left, such as instances deleted in between.
    if (s === 'live') reset();
    state.stream = s;
    streamState.textContent = s === 'live' ? 'Live' : s === 'connecting' ? 'Connecting…' : 'Reconnecting…';
    streamState.className = 'stream ' + s;
  },
  onAuth: () => logout('The API key is no longer valid. Log in again.'),
});

const routes = [
  [/^#\/overview$/, () => overview()],
  [/^#\/instances$/, () => instancesView()],
  [/^#\/instances\/new$/, () => formView(null)],
  [/^#\/instances\/([^/]+)\/edit$/, (m) => formView(decodeURIComponent(m[1]))],
  [/^#\/instances\/([^/]+)$/, (m) => detailView(decodeURIComponent(m[1]))],
  [/^#\/agents$/, () => agentsView()],
];

function route() {
  if (!getKey()) return;
  const hash = location.hash || '#/overview';
  for (const [re, make] of routes) {
    const m = re.exec(hash);
    if (!m) continue;
    mount(make(m));
    for (const a of header.querySelectorAll('[data-nav]')) {
      const on = hash.startsWith('#/' + a.dataset.nav);
      if (on) a.setAttribute('aria-current', 'page'); else a.removeAttribute('aria-current');
    }
    return;
  }
  location.hash = '#/overview';
}

function mount(view) {
  if (current && current.unmount) current.unmount();
  current = view;
  replace(main, view.el);
  const heading = main.querySelector('h1');
  if (heading) {
    heading.setAttribute('tabindex', '-1');
    heading.focus({ preventScroll: true });
  }
}

function loginView(message) {
  const input = h('input', { id: 'login-key', type: 'password', name: 'key', autocomplete: 'current-password',
    required: true, spellcheck: 'false', 'aria-describedby': 'login-error' });
  const err = h('p', { id: 'login-error', class: 'error', role: 'alert' }, message || '');
  const button = h('button', { type: 'submit', id: 'login-submit' }, 'Log in');
  const form = h('form', { class: 'login card', 'aria-labelledby': 'login-title' },
    h('h1', { id: 'login-title' }, 'Burrow'),
    h('p', { class: 'muted' }, 'Paste the master\'s API key. It stays in this tab only.'),
    h('label', { for: 'login-key' }, 'API key'), input, err, button);
  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    button.disabled = true;
    err.textContent = '';
    const key = input.value.trim();
    try {
      state.info = await request('GET', '/info', undefined, key);
      setKey(key);
      start();
    } catch (e) {
      err.textContent = e instanceof APIError && e.status === 401 ? 'Wrong API key: ' + e.message
        : 'Cannot reach the master: ' + e.message;
      input.focus();
      input.select();
    } finally {
      button.disabled = false;
    }
  });
  return { el: form, focus: input };
}

function showLogin(message) {
  if (current && current.unmount) current.unmount();
  current = null;
  header.hidden = true;
  const v = loginView(message);
  replace(main, v.el);
  v.focus.focus();
}

function start() {
  header.hidden = false;
  reset();
  stream.start();
  loadInfo().catch(() => {});
  route();
}

function logout(message) {
  stream.stop();
  dropKey();
  reset();
  state.info = null;
  showLogin(message);
}

async function rotateKey() {
  const ok = await confirm('Rotate the API key?',
    'A new API key replaces the current one at once. Scripts and dashboards using the old key stop working; ' +
    'this page logs in again with the new key.', 'Rotate key');
  if (!ok) return;
  try {
    const rec = await request('PATCH', '/instances/' + encodeURIComponent(KEY_ID), { action: 'restart' });
    const key = rec && rec.url;
    if (!key) throw new Error('no key in the answer');
    state.info = await request('GET', '/info', undefined, key); // log in again with it
    setKey(key);
    stream.restart();
    changed('info');
    await dialog({
      title: 'API key rotated',
      body: [h('p', {}, 'The new API key (keep it: it is shown here once):'),
        h('input', { id: 'new-key', readonly: true, value: key, class: 'mono', 'aria-label': 'New API key', autofocus: true })],
      buttons: [{ label: 'Done', value: 'ok', submit: true }],
    });
  } catch (e) {
    toast('Key rotation failed: ' + e.message);
  }
}

document.getElementById('logout').addEventListener('click', () => logout('Logged out.'));
document.getElementById('rotate-key').addEventListener('click', rotateKey);
window.addEventListener('hashchange', route);

if (getKey()) {
  request('GET', '/info').then((info) => { state.info = info; start(); })
    .catch((e) => (e instanceof APIError && e.status === 401 ? logout('The API key is no longer valid.') : showLogin(e.message)));
} else {
  showLogin('');
}
