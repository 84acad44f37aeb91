// Agents: every connected agent, and the instances of each pool; a pool
// that instances use but no agent serves stands out.

import { h, replace, fmtBytes, fmtTime, fmtDuration } from '../dom.js';
import { state, subscribe, loadAgents } from '../state.js';
import { label } from '../actions.js';

// rttOf reads a measured round trip if the API reports one (ms).
function rttOf(a) {
  for (const k of ['rtt_ms', 'rtt', 'ping']) if (typeof a[k] === 'number') return a[k] + ' ms';
  return null;
}

export function agentsView() {
  const agents = h('div', { class: 'table-wrap' });
  const pools = h('div', { id: 'pools' });
  const el = h('section', { class: 'view' }, h('h1', {}, 'Agents'),
    h('section', { class: 'card', 'aria-labelledby': 'ag-title' }, h('h2', { id: 'ag-title' }, 'Connected agents'), agents),
    h('section', { class: 'card', 'aria-labelledby': 'pl-title' }, h('h2', { id: 'pl-title' }, 'Pools'),
      h('p', { class: 'muted' }, 'A pool is the agents that connect with one key (shown as a hash of it, never the key).'), pools));

  function render() {
    const hasRTT = state.agents.some((a) => rttOf(a) !== null);
    const cols = ['Pool', 'Name', 'Version', 'Address', 'Connected', 'Streams', 'Bytes in / out', ...(hasRTT ? ['Round trip'] : [])];
    if (!state.agents.length) {
      replace(agents, h('p', { class: 'muted', id: 'no-agents' }, 'No agent is connected.'));
    } else {
      replace(agents, h('table', { class: 'list', id: 'agents-table' },
        h('thead', {}, h('tr', {}, cols.map((c) => h('th', { scope: 'col' }, c)))),
        h('tbody', {}, state.agents.map((a) => h('tr', { 'data-agent': a.id, 'data-pool': a.pool },
          h('td', { 'data-label': 'Pool', class: 'mono' }, a.pool),
          h('td', { 'data-label': 'Name' }, a.name),
          h('td', { 'data-label': 'Version' }, a.version),
          h('td', { 'data-label': 'Address', class: 'mono' }, a.addr),
          h('td', { 'data-label': 'Connected', title: fmtTime(a.connected) }, fmtDuration((Date.now() - Date.parse(a.connected)) / 1000) + ' ago'),
          h('td', { 'data-label': 'Streams' }, String(a.streams)),
          h('td', { 'data-label': 'Bytes' }, `${fmtBytes(a.bytes_in)} / ${fmtBytes(a.bytes_out)}`),
          hasRTT ? h('td', { 'data-label': 'Round trip' }, rttOf(a) || '—') : null)))));
    }
    const orphan = (p) => (p.agents === 0 && p.instances.length > 0 ? 1 : 0);
    const list = [...state.pools].sort((a, b) => orphan(b) - orphan(a) || a.pool.localeCompare(b.pool));
    replace(pools, list.length ? h('ul', { class: 'pools' }, list.map((p) => {
      const none = orphan(p) === 1;
      return h('li', { class: 'card pool' + (none ? ' orphan' : ''), 'data-pool': p.pool },
        h('div', {}, h('span', { class: 'mono' }, p.pool), ' ',
          none ? h('span', { class: 'badge error' }, 'no agent') : h('span', { class: 'badge running' }, `${p.agents} agent(s)`)),
        p.instances.length ? h('ul', {}, p.instances.map((id) => {
          const v = state.instances.get(id);
          return h('li', {}, h('a', { href: '#/instances/' + encodeURIComponent(id) }, v ? label(v) : id), v ? ` — ${v.type}, ${v.status}` : '');
        })) : h('p', { class: 'muted' }, 'No instance uses this pool.'));
    })) : h('p', { class: 'muted' }, 'No instance uses an agent pool yet.'));
  }

  loadAgents().catch(() => {});
  const timer = setInterval(() => loadAgents().catch(() => {}), 3000);
  const off = subscribe(render);
  render();
  return { el, unmount() { clearInterval(timer); off(); } };
}
