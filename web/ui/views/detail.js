// Instance detail: URL and config, live counters, the traffic chart, the
// log stream and the error reason.

import { h, replace, fmtBytes, fmtRate } from '../dom.js';
import { get } from '../api.js';
import { state, subscribe, loadAgents, poolOf } from '../state.js';
import { redact } from '../urls.js';
import { actionButtons, aliasEditor, fromFile, restartToggle, sourceBadge } from '../actions.js';
import { trafficChart } from '../chart.js';
import { requestsPanel, inspectMode } from './requests.js';

export function detailView(id) {
  const head = h('div', { class: 'view-head' });
  const reason = h('div', { id: 'detail-reason', role: 'alert' });
  const urls = h('dl', { class: 'kv' });
  const counters = h('dl', { class: 'kv counters', id: 'detail-counters' });
  const chart = trafficChart();
  const range = h('select', { id: 'chart-range' }, h('option', { value: '1h' }, 'last hour (5 s)'), h('option', { value: '24h' }, 'last 24 hours (1 min)'));
  const logs = h('ol', { class: 'logs mono', id: 'detail-logs', 'aria-live': 'off' });
  const reveal = h('input', { type: 'checkbox', id: 'reveal-secrets' });
  const el = h('section', { class: 'view' }, head, reason,
    h('div', { class: 'grid two' },
      h('section', { class: 'card', 'aria-labelledby': 'cfg-title' }, h('h2', { id: 'cfg-title' }, 'Configuration'), urls,
        h('span', { class: 'toggle' }, reveal, h('label', { for: 'reveal-secrets' }, 'Show keys and passwords'))),
      h('section', { class: 'card', 'aria-labelledby': 'cnt-title' }, h('h2', { id: 'cnt-title' }, 'Counters'), counters)),
    h('section', { class: 'card', 'aria-labelledby': 'chart-title' },
      h('div', { class: 'view-head' }, h('h2', { id: 'chart-title' }, 'Traffic'),
        h('span', {}, h('label', { for: 'chart-range' }, 'Range '), range)), chart.el),
    h('div', { id: 'requests-slot' }),
    h('section', { class: 'card', 'aria-labelledby': 'log-title' }, h('h2', { id: 'log-title' }, 'Log'),
      h('p', { class: 'muted' }, 'Lines logged since this page opened (the last 500).'), logs));

  let headSig = '', lastFetch = 0, fetching = false;
  // The inspector of an http instance, made again when inspect= changes.
  let requests = null, requestsMode = null;
  function syncRequests(v) {
    const mode = v.type === 'http' ? inspectMode(v.url) : null;
    if (mode === requestsMode) return;
    if (requests) requests.unmount();
    requestsMode = mode;
    requests = mode === null ? null : requestsPanel(id, mode);
    replace(el.querySelector('#requests-slot'), requests ? requests.el : null);
  }

  async function fetchHistory() {
    if (fetching) return;
    fetching = true;
    lastFetch = Date.now();
    try {
      chart.draw(await get(`/instances/${encodeURIComponent(id)}/history?range=${range.value}`));
    } catch { /* the next update retries */ } finally { fetching = false; }
  }
  range.addEventListener('change', fetchHistory);

  function render(what) {
    const v = state.instances.get(id);
    if (!v) {
      replace(head, h('h1', {}, `Instance ${id}`));
      replace(reason, h('p', { class: 'muted' }, state.stream === 'live' ? 'This instance does not exist (any more).' : 'Loading…'));
      return;
    }
    const sig = JSON.stringify([v.alias, v.status, v.restart]);
    const editing = head.contains(document.activeElement) && document.activeElement.type === 'text';
    if (sig !== headSig && !editing) {
      headSig = sig;
      replace(head, h('h1', {}, v.alias || v.id, ' ', h('span', { class: 'badge ' + v.status, 'data-status': v.status }, v.status), ' ', sourceBadge(v)),
        h('div', { class: 'head-tools' }, aliasEditor(v), restartToggle(v),
          fromFile(v) ? null : h('a', { class: 'button secondary small', href: `#/instances/${encodeURIComponent(id)}/edit` }, 'Edit'),
          actionButtons(v, () => { location.hash = '#/instances'; })));
    }
    replace(reason, v.reason ? h('p', { class: 'error' }, h('strong', {}, 'Error: '), v.reason) : null);
    syncRequests(v);
    const show = (u) => (reveal.checked ? u : redact(u));
    const pool = poolOf(v.id);
    replace(urls,
      h('dt', {}, 'ID'), h('dd', { class: 'mono' }, v.id),
      h('dt', {}, 'Type'), h('dd', {}, v.type),
      h('dt', {}, 'URL'), h('dd', { class: 'mono wrap', id: 'detail-url' }, show(v.url)),
      h('dt', {}, 'Config'), h('dd', { class: 'mono wrap', id: 'detail-config' }, show(v.config)),
      h('dt', {}, 'Agent pool'), h('dd', {}, pool ? [h('span', { class: 'mono' }, pool.pool),
        pool.agents ? ` — ${pool.agents} agent(s) connected` : h('span', { class: 'badge error' }, 'no agent connected')] : '—'));
    const r = state.rates.get(id) || { rx: 0, tx: 0 };
    replace(counters,
      ...kv('TCP in / out', `${fmtBytes(v.tcprx)} / ${fmtBytes(v.tcptx)}`, 'c-tcp', v.tcprx + v.tcptx),
      ...kv('UDP in / out', `${fmtBytes(v.udprx)} / ${fmtBytes(v.udptx)}`, 'c-udp', v.udprx + v.udptx),
      ...kv('Rate in / out', `${fmtRate(r.rx)} / ${fmtRate(r.tx)}`, 'c-rate'),
      ...kv('Connections', `${v.tcps} TCP, ${v.udps} UDP`, 'c-conns'),
      ...kv('Tunnel', `${v.pool} pooled, ${v.ping} ms`, 'c-tunnel'));
    if (what && what.has('logs') || !logs.childElementCount) renderLogs();
    if (what && what.has('instances') && Date.now() - lastFetch > 4000) fetchHistory();
  }

  function renderLogs() {
    const lines = state.logs.get(id) || [];
    const atEnd = logs.scrollTop + logs.clientHeight >= logs.scrollHeight - 4;
    replace(logs, lines.length ? lines.map((l) => h('li', {}, plain(l.text)))
      : h('li', { class: 'muted' }, 'No lines yet.'));
    if (atEnd) logs.scrollTop = logs.scrollHeight;
  }

  reveal.addEventListener('change', () => render());
  const off = subscribe(render);
  loadAgents().catch(() => {});
  const timer = setInterval(() => loadAgents().catch(() => {}), 5000);
  fetchHistory();
  render();
  return { el, unmount() { clearInterval(timer); off(); if (requests) requests.unmount(); } };
}

function kv(name, value, id, n) {
  return [h('dt', {}, name), h('dd', { id, 'data-n': n === undefined ? null : String(n) }, value)];
}


// plain drops terminal colour codes from a log line (it stays text).
function plain(s) {
  return String(s).replace(/\u001b\[[0-9;]*[A-Za-z]/g, '');
}
