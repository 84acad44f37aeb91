// The HTTP inspector of one http instance (inspect=1 or inspect=body): the
// requests it recorded, newest first, kept live from the instance's request
// stream; a record's headers and bodies; Replay. Every recorded value is
// shown as text: headers in table cells, bodies in a <pre> filled with
// textContent, binary bodies as a hex dump, never as HTML.

import { h, replace, fmtBytes, fmtTime, toast } from '../dom.js';
import { get, request, EventStream } from '../api.js';

const MAX_ROWS = 200;

// inspectMode reads inspect= from an instance URL ('' when off).
export function inspectMode(url) {
  const q = String(url).split('?')[1] || '';
  const v = new URLSearchParams(q).get('inspect') || '';
  return v === '0' ? '' : v;
}

export function requestsPanel(id, mode) {
  const base = `/instances/${encodeURIComponent(id)}/requests`;
  const status = h('p', { class: 'muted', id: 'requests-status', 'aria-live': 'polite' });
  const tbody = h('tbody', { id: 'requests-rows' });
  const table = h('table', { class: 'list', id: 'requests-table' },
    h('caption', { class: 'sr-only' }, 'Recorded requests'),
    h('thead', {}, h('tr', {}, ['Time', 'Method', 'Host', 'Path', 'Status', 'Duration', 'In / out', 'Client']
      .map((t) => h('th', { scope: 'col' }, t)))), tbody);
  const detail = h('div', { id: 'request-detail' });
  const el = h('section', { class: 'card', 'aria-labelledby': 'requests-title', id: 'requests-card' },
    h('h2', { id: 'requests-title' }, 'Requests'), status,
    mode ? [h('div', { class: 'table-wrap' }, table), detail] : null);
  if (!mode) {
    replace(status, 'This instance does not record its requests. Add inspect=1 (headers) or inspect=body (headers and the first 16 KiB of bodies) to its URL to inspect them here.');
    return { el, unmount() {} };
  }
  replace(status, mode === 'body' ? 'Recording headers and bodies (16 KiB each).' : 'Recording headers (inspect=1: bodies are not recorded).');

  const rows = new Map(); // record id -> tr
  let selected = '';

  function row(s) {
    const tr = h('tr', { 'data-rid': s.id, tabindex: '0', class: 'clickable', onClick: () => show(s.id),
      onKeydown: (ev) => { if (ev.key === 'Enter') show(s.id); } },
    h('td', { 'data-label': 'Time' }, new Date(s.time).toLocaleTimeString()),
    h('td', { 'data-label': 'Method', class: 'mono' }, s.method, s.replay_of ? [' ', h('span', { class: 'badge', 'data-replay': s.replay_of }, 'replay')] : null),
    h('td', { 'data-label': 'Host', class: 'mono wrap' }, s.host),
    h('td', { 'data-label': 'Path', class: 'mono wrap' }, s.path),
    h('td', { 'data-label': 'Status', 'data-status': String(s.status) }, s.status ? String(s.status) : (s.upgrade ? 'upgrade' : '—'),
      s.error ? h('span', { class: 'reason' }, ' ' + s.error) : null),
    h('td', { 'data-label': 'Duration' }, `${s.duration_ms.toFixed(1)} ms`),
    h('td', { 'data-label': 'In / out' }, `${fmtBytes(s.req_bytes)} / ${fmtBytes(s.resp_bytes)}`),
    h('td', { 'data-label': 'Client', class: 'mono' }, s.client));
    if (s.id === selected) tr.setAttribute('aria-selected', 'true');
    return tr;
  }

  function add(s, atTop) {
    if (rows.has(s.id)) return;
    const tr = row(s);
    rows.set(s.id, tr);
    if (atTop) tbody.prepend(tr); else tbody.append(tr);
    const empty = tbody.querySelector('tr.empty');
    if (empty) empty.remove();
    while (rows.size > MAX_ROWS) {
      const last = tbody.lastElementChild;
      rows.delete(last.dataset.rid);
      last.remove();
    }
  }

  async function load() {
    try {
      const list = await get(`${base}?limit=100`);
      for (const s of list.records) add(s, false);
      if (!list.records.length) tbody.append(h('tr', { class: 'empty' }, h('td', { colspan: '8', class: 'muted' }, 'No requests yet.')));
      if (list.dropped) status.append(` ${list.dropped} record(s) were dropped before they reached the master.`);
    } catch (err) {
      replace(status, h('span', { class: 'error' }, err.message));
    }
  }

  async function show(rid) {
    selected = rid;
    for (const [k, tr] of rows) tr.toggleAttribute('aria-selected', k === rid);
    let r;
    try {
      r = await get(`${base}/${encodeURIComponent(rid)}`);
    } catch (err) {
      replace(detail, h('p', { class: 'error' }, err.message));
      return;
    }
    const replay = h('button', { type: 'button', class: 'primary small', id: 'replay', onClick: () => doReplay(r, replay) }, 'Replay');
    replace(detail, h('section', { class: 'request-detail', 'data-rid': r.id, 'aria-label': 'Request ' + r.id },
      h('div', { class: 'view-head' }, h('h3', {}, `${r.method} ${r.path}`), replay),
      h('dl', { class: 'kv' },
        h('dt', {}, 'Request id'), h('dd', { class: 'mono' }, r.id),
        h('dt', {}, 'Time'), h('dd', {}, fmtTime(r.time)),
        h('dt', {}, 'Host'), h('dd', { class: 'mono' }, r.host),
        h('dt', {}, 'Status'), h('dd', {}, r.status ? String(r.status) : '—', r.error ? ` (${r.error})` : ''),
        h('dt', {}, 'Client'), h('dd', { class: 'mono' }, r.client),
        r.replay_of ? [h('dt', {}, 'Replay of'), h('dd', { class: 'mono' }, r.replay_of)] : null),
      h('p', { class: 'muted small-text' }, 'Authorization, Proxy-Authorization, Cookie and Set-Cookie values are never recorded; a replay leaves them out.'),
      r.headers_truncated ? h('p', { class: 'muted' }, 'Headers beyond 16 KiB were not recorded.') : null,
      h('div', { class: 'grid two' },
        h('div', {}, h('h4', {}, 'Request headers'), headers(r.req_headers, 'req-headers'), body(r.req_body, 'req-body', mode)),
        h('div', {}, h('h4', {}, 'Response headers'), headers(r.resp_headers, 'resp-headers'), body(r.resp_body, 'resp-body', mode))),
      h('div', { id: 'replay-result', 'aria-live': 'polite' })));
  }

  async function doReplay(r, btn) {
    btn.disabled = true;
    const out = detail.querySelector('#replay-result');
    try {
      const res = await request('POST', `${base}/${encodeURIComponent(r.id)}/replay`);
      const skipped = res.not_replayed.length ? ` Not replayed (redacted): ${res.not_replayed.join(', ')}.` : '';
      replace(out, h('p', { id: 'replay-outcome', 'data-status': String(res.status) }, `Replayed: ${res.status}.${skipped}`));
      if (res.record) add(res.record, true);
      toast(`Replayed ${r.method} ${r.path}: ${res.status}`);
    } catch (err) {
      replace(out, h('p', { class: 'error', id: 'replay-outcome' }, err.message));
    } finally {
      btn.disabled = false;
    }
  }

  const stream = new EventStream({
    path: `${base}/stream`,
    onEvent: (ev, name) => { if (name === 'request' && ev.id) add(ev, true); },
  });
  load().then(() => stream.start());
  return { el, unmount() { stream.stop(); } };
}

function headers(list, id) {
  if (!list.length) return h('p', { class: 'muted', id }, 'None.');
  return h('table', { class: 'list headers', id },
    h('tbody', {}, list.map((x) => h('tr', {}, h('th', { scope: 'row', class: 'mono' }, x.name), h('td', { class: 'mono wrap' }, x.value)))));
}

function body(b, id, mode) {
  return [h('h4', {}, 'Body'), bodyContent(b, id, mode)];
}

function bodyContent(b, id, mode) {
  if (!b) return h('p', { class: 'muted', id }, mode === 'body' ? 'No body.' : 'Bodies are recorded with inspect=body.');
  if (!b.size) return h('p', { class: 'muted', id }, 'Empty body.');
  const note = b.truncated ? ` (the first ${fmtBytes(b.size)}; the rest was not recorded)` : '';
  if (b.binary) {
    return h('div', { id }, h('p', { class: 'muted', 'data-binary': '' }, `Binary body, ${fmtBytes(b.size)}${note}:`),
      h('pre', { class: 'body mono' }, hexdump(b.base64)));
  }
  return h('div', { id }, note ? h('p', { class: 'muted' }, 'Body' + note) : null, h('pre', { class: 'body mono' }, b.text));
}

// hexdump shows the first 512 bytes of a base64 body as hex and ASCII.
function hexdump(b64) {
  const raw = atob(b64);
  const lines = [];
  for (let off = 0; off < Math.min(raw.length, 512); off += 16) {
    const chunk = raw.slice(off, off + 16);
    const hex = [...chunk].map((c) => c.charCodeAt(0).toString(16).padStart(2, '0')).join(' ');
    const ascii = [...chunk].map((c) => (c >= ' ' && c <= '~' ? c : '.')).join('');
    lines.push(off.toString(16).padStart(6, '0') + '  ' + hex.padEnd(48) + ' ' + ascii);
  }
  if (raw.length > 512) lines.push(`… ${raw.length - 512} more bytes`);
  return lines.join('\n');
}
