// Overview: instances by status, agents online, throughput and totals, the
// master's version and uptime, and how to connect an agent.

import { h, replace, fmtBytes, fmtRate, fmtDuration, copyButton } from '../dom.js';
import { state, subscribe, loadAgents, loadInfo } from '../state.js';

export function overview() {
  const body = h('div', { class: 'grid' });
  const bridge = h('section', { class: 'card wide', 'aria-labelledby': 'bridge-title' });
  const el = h('section', { class: 'view' }, h('h1', {}, 'Overview'), body, bridge);

  function stat(id, label, value, extra) {
    return h('div', { class: 'card stat', id }, h('div', { class: 'label' }, label),
      h('div', { class: 'value' }, value), extra ? h('div', { class: 'muted' }, extra) : null);
  }

  function render() {
    const counts = { running: 0, stopped: 0, error: 0 };
    let rx = 0, tx = 0, rrx = 0, rtx = 0;
    for (const v of state.instances.values()) {
      counts[v.status] = (counts[v.status] || 0) + 1;
      rx += (v.tcprx || 0) + (v.udprx || 0);
      tx += (v.tcptx || 0) + (v.udptx || 0);
      const r = state.rates.get(v.id);
      if (r) { rrx += r.rx; rtx += r.tx; }
    }
    const info = state.info || {};
    const orphaned = state.pools.filter((p) => p.agents === 0 && p.instances.length).length;
    replace(body,
      stat('ov-instances', 'Instances', String(state.instances.size),
        `${counts.running} running · ${counts.stopped} stopped · ${counts.error} error`),
      stat('ov-agents', 'Agents online', String(state.agents.length),
        orphaned ? `${orphaned} pool(s) without an agent` : 'every pool in use has an agent'),
      stat('ov-rate', 'Throughput now', `in ${fmtRate(rrx)}`, `out ${fmtRate(rtx)}`),
      stat('ov-totals', 'Traffic total', `in ${fmtBytes(rx)}`, `out ${fmtBytes(tx)}`),
      stat('ov-master', 'Master', info.alias || info.name || '—',
        `Burrow ${info.burrow || '?'} · API ${info.ver || '?'} · ${info.os || ''}/${info.arch || ''}`),
      stat('ov-uptime', 'Uptime', fmtDuration(info.uptime), 'since the master started'),
    );
    const b = info.bridge;
    if (b && b.addr) {
      const cmd = h('input', { id: 'agent-command', class: 'mono', readonly: true, value: b.agent || '',
        'aria-label': 'Agent command line' });
      replace(bridge,
        h('h2', { id: 'bridge-title' }, 'Bridge'),
        h('dl', { class: 'kv' },
          h('dt', {}, 'Address'), h('dd', { id: 'bridge-addr', class: 'mono' }, b.addr),
          h('dt', {}, 'TLS'), h('dd', {}, b.tls ? 'on' : 'off'),
          b.fp ? [h('dt', {}, 'Fingerprint'), h('dd', { class: 'mono wrap' }, b.fp)] : null),
        b.agent ? [h('p', {}, 'Run this on the private machine to connect an agent:'),
          h('div', { class: 'copy' }, cmd, copyButton(cmd))] : null);
    } else {
      replace(bridge, h('h2', { id: 'bridge-title' }, 'Bridge'),
        h('p', { class: 'muted', id: 'bridge-none' },
          'The master reports no shared bridge. Without one (bridge= in the master URL), tcp, udp and http instances cannot reach agents.'));
    }
  }

  const refresh = () => { loadAgents().catch(() => {}); loadInfo().catch(() => {}); };
  refresh();
  const timer = setInterval(refresh, 5000);
  const off = subscribe(render);
  render();
  return { el, unmount() { clearInterval(timer); off(); } };
}
