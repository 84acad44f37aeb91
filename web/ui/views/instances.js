// Instances: the live table, filtered and searched, with the actions.

import { h, replace, fmtBytes, fmtRate } from '../dom.js';
import { state, subscribe, loadAgents, poolOf, listenTargets } from '../state.js';
import { actionButtons, aliasEditor, restartToggle, sourceBadge } from '../actions.js';

export function instancesView() {
  const search = h('input', { type: 'search', id: 'filter-text', placeholder: 'alias, id, address, host…' });
  const status = h('select', { id: 'filter-status' },
    ['', 'running', 'stopped', 'error'].map((s) => h('option', { value: s }, s || 'any status')));
  const type = h('select', { id: 'filter-type' }, h('option', { value: '' }, 'any type'));
  const count = h('p', { class: 'muted', id: 'instances-count', 'aria-live': 'polite' });
  const tbody = h('tbody');
  const table = h('table', { class: 'list', id: 'instances-table' },
    h('caption', { class: 'sr-only' }, 'Instances'),
    h('thead', {}, h('tr', {}, ['Status', 'Type', 'Alias', 'Listen → targets', 'Pool', 'Conns', 'Traffic in / out', 'Rate in / out', 'Auto-start', 'Actions']
      .map((t) => h('th', { scope: 'col' }, t)))),
    tbody);
  const el = h('section', { class: 'view' },
    h('div', { class: 'view-head' }, h('h1', {}, 'Instances'),
      h('a', { class: 'button primary', href: '#/instances/new', id: 'new-instance' }, 'New instance')),
    h('div', { class: 'filters', role: 'search' },
      h('label', { for: 'filter-text' }, 'Search'), search,
      h('label', { for: 'filter-status' }, 'Status'), status,
      h('label', { for: 'filter-type' }, 'Type'), type),
    count, h('div', { class: 'table-wrap' }, table));

  // Rows are kept per instance and refreshed in place, so an edit in
  // progress (alias input, focus) survives the live updates of others.
  const rows = new Map();

  function matches(v) {
    if (status.value && v.status !== status.value) return false;
    if (type.value && v.type !== type.value) return false;
    const q = search.value.trim().toLowerCase();
    if (!q) return true;
    return [v.id, v.alias, v.type, listenTargets(v)].some((s) => String(s).toLowerCase().includes(q));
  }

  // td is one cell; its content sits in one box so that the phone layout
  // (label, then value) keeps it together.
  const td = (label, cls, ...content) => h('td', { 'data-label': label, class: cls || null }, h('div', {}, ...content));

  function cells(v) {
    const pool = poolOf(v.id);
    const r = state.rates.get(v.id) || { rx: 0, tx: 0 };
    const noAgent = pool && pool.agents === 0;
    const rx = (v.tcprx || 0) + (v.udprx || 0), tx = (v.tcptx || 0) + (v.udptx || 0);
    return [
      td('Status', '', h('span', { class: 'badge ' + v.status, 'data-status': v.status }, v.status),
        v.reason ? h('span', { class: 'reason', title: v.reason }, ' ' + v.reason) : null),
      td('Type', '', v.type),
      td('Alias', '', aliasEditor(v), sourceBadge(v), h('div', {}, h('a', { href: '#/instances/' + encodeURIComponent(v.id), class: 'mono small-text' }, v.id))),
      td('Listen → targets', 'mono wrap', listenTargets(v)),
      td('Pool', noAgent ? 'warn' : '', pool ? [h('span', { class: 'mono' }, pool.pool),
        noAgent ? [' ', h('span', { class: 'badge error', 'data-noagent': '' }, 'no agent')] : ` (${pool.agents})`] : '—'),
      td('Conns', '', String((v.tcps || 0) + (v.udps || 0))),
      td('Traffic in / out', '', `${fmtBytes(rx)} / ${fmtBytes(tx)}`),
      td('Rate in / out', '', `${fmtRate(r.rx)} / ${fmtRate(r.tx)}`),
      td('Auto-start', '', restartToggle(v)),
      td('Actions', '', actionButtons(v)),
    ];
  }

  function render() {
    const types = new Set([...state.instances.values()].map((v) => v.type));
    const have = new Set([...type.options].map((o) => o.value));
    for (const t of [...types].sort()) if (!have.has(t)) type.append(h('option', { value: t }, t));
    let shown = 0;
    for (const [id, tr] of rows) {
      if (!state.instances.has(id)) { tr.remove(); rows.delete(id); }
    }
    for (const v of state.instances.values()) {
      let tr = rows.get(v.id);
      if (!tr) {
        tr = h('tr', { 'data-id': v.id });
        rows.set(v.id, tr);
      }
      if (tr.parentNode !== tbody) tbody.append(tr);
      tr.hidden = !matches(v);
      if (!tr.hidden) shown++;
      const editing = tr.contains(document.activeElement) && document.activeElement.type === 'text';
      if (editing) continue; // an alias being edited: keep the row until it is saved or cancelled
      if (tr.dataset.sig === sig(v)) continue;
      tr.dataset.sig = sig(v);
      replace(tr, cells(v));
    }
    replace(count, state.instances.size ? `${shown} of ${state.instances.size} instances` : 'No instances yet.');
  }

  function sig(v) {
    const p = poolOf(v.id);
    const r = state.rates.get(v.id);
    return JSON.stringify([v, p && p.agents, r]);
  }

  for (const c of [search, status, type]) c.addEventListener('input', render);
  const refresh = () => loadAgents().catch(() => {});
  refresh();
  const timer = setInterval(refresh, 5000);
  const off = subscribe(render);
  render();
  return { el, unmount() { clearInterval(timer); off(); } };
}
