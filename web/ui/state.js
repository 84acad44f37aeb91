// The dashboard's live state: instances from the event stream (with rates
// worked out from consecutive counter readings), their log lines, and the
// agents and pools, polled while a view needs them.

import { get } from './api.js';
import { parseURL, param } from './urls.js';

const MAX_LOG_LINES = 500; // per instance, in this page only

export const KEY_ID = '********';

export const state = {
  instances: new Map(), // id -> instance view
  keyRecord: null,
  rates: new Map(), // id -> {rx, tx} bytes/s
  logs: new Map(), // id -> [{time, text}]
  agents: [],
  pools: [],
  info: null,
  stream: 'connecting',
};

const prev = new Map(); // id -> {t, rx, tx}
const listeners = new Set();
let scheduled = false;

// subscribe calls fn (batched per frame) after every change; returns the unsubscriber.
export function subscribe(fn) {
  listeners.add(fn);
  return () => listeners.delete(fn);
}

export function changed(what) {
  changed.what.add(what);
  if (scheduled) return;
  scheduled = true;
  requestAnimationFrame(() => {
    scheduled = false;
    const w = changed.what;
    changed.what = new Set();
    for (const fn of listeners) fn(w);
  });
}
changed.what = new Set();

function total(v) {
  return { rx: (v.tcprx || 0) + (v.udprx || 0), tx: (v.tcptx || 0) + (v.udptx || 0) };
}

function noteRate(v, time) {
  const t = Date.parse(time) || Date.now();
  const cur = { t, ...total(v) };
  const p = prev.get(v.id);
  prev.set(v.id, cur);
  if (v.status !== 'running') {
    state.rates.set(v.id, { rx: 0, tx: 0 });
    return;
  }
  if (!p || cur.t <= p.t) return;
  const dt = (cur.t - p.t) / 1000;
  if (dt < 1) return; // two events a moment apart (an action): keep the last rate
  state.rates.set(v.id, { rx: Math.max(0, cur.rx - p.rx) / dt, tx: Math.max(0, cur.tx - p.tx) / dt });
}

// applyEvent takes one event of GET /events.
export function applyEvent(ev) {
  const v = ev.instance;
  switch (ev.type) {
    case 'initial':
    case 'create':
    case 'update':
      if (!v) return;
      if (v.id === KEY_ID) { state.keyRecord = v; changed('key'); return; }
      state.instances.set(v.id, v);
      noteRate(v, ev.time);
      changed('instances');
      return;
    case 'delete':
      if (!v) return;
      state.instances.delete(v.id);
      state.rates.delete(v.id);
      state.logs.delete(v.id);
      prev.delete(v.id);
      changed('instances');
      return;
    case 'log': {
      if (!v) return;
      const list = state.logs.get(v.id) || [];
      list.push({ time: ev.time, text: ev.logs });
      if (list.length > MAX_LOG_LINES) list.splice(0, list.length - MAX_LOG_LINES);
      state.logs.set(v.id, list);
      changed('logs');
      return;
    }
  }
}

// reset forgets everything (logout, key rotation: the stream starts over).
export function reset() {
  state.instances.clear();
  state.rates.clear();
  prev.clear();
  state.keyRecord = null;
  changed('instances');
}

export async function loadAgents() {
  const [agents, pools] = await Promise.all([get('/agents'), get('/pools')]);
  state.agents = agents || [];
  state.pools = pools || [];
  changed('agents');
}

export async function loadInfo() {
  state.info = await get('/info');
  changed('info');
}

// poolOf returns the pool record an instance links through, or null.
export function poolOf(id) {
  return state.pools.find((p) => p.instances.includes(id)) || null;
}

// sortedInstances returns the instances, oldest first as the server lists them.
export function sortedInstances() {
  return [...state.instances.values()];
}

// listenTargets is the "listen → targets" text of an instance.
export function listenTargets(v) {
  const u = parseURL(v.url);
  if (!u) return '';
  const t = u.targets.join(', ');
  return t ? u.listen + ' → ' + t : u.listen;
}

export function hostOf(v) {
  const u = parseURL(v.url);
  return u ? param(u, 'host') : '';
}
