// The API client. The key lives in sessionStorage (gone when the tab
// closes) and travels only in the X-API-Key header, never in a URL; the
// event stream is read with fetch and a ReadableStream for that reason
// (the browser's built-in SSE client cannot send headers).

const KEY = 'burrow.apiKey';

export const root = document.querySelector('meta[name="burrow-root"]').content;

export class APIError extends Error {
  constructor(status, message) {
    super(message);
    this.status = status;
  }
}

export function getKey() { return sessionStorage.getItem(KEY) || ''; }
export function setKey(k) { sessionStorage.setItem(KEY, k); }
export function dropKey() { sessionStorage.removeItem(KEY); }

// request calls the API and returns the decoded JSON (null for 204). A
// non-2xx answer throws an APIError with the server's message.
export async function request(method, path, body, key = getKey()) {
  const init = { method, headers: { 'X-API-Key': key }, cache: 'no-store', credentials: 'omit' };
  if (body !== undefined) {
    init.headers['Content-Type'] = 'application/json';
    init.body = JSON.stringify(body);
  }
  const res = await fetch(root + path, init);
  const text = await res.text();
  let data = null;
  if (text) {
    try { data = JSON.parse(text); } catch { data = null; }
  }
  if (!res.ok) {
    throw new APIError(res.status, (data && data.error) || res.statusText || ('HTTP ' + res.status));
  }
  return data;
}

export const get = (path) => request('GET', path);

// EventStream reads an SSE endpoint (GET /events unless path says
// otherwise) and calls onEvent with each decoded event and its event name
// until stopped. When the stream ends (master restarting, key rotated) it
// reconnects after the server's retry interval; a 401 calls onAuth.
export class EventStream {
  constructor({ onEvent, onState, onAuth, path }) {
    this.path = path || '/events';
    this.onEvent = onEvent;
    this.onState = onState || (() => {});
    this.onAuth = onAuth || (() => {});
    this.retry = 3000;
    this.ctrl = null;
    this.stopped = true;
    this.timer = 0;
  }

  start() {
    this.stopped = false;
    this.connect();
  }

  stop() {
    this.stopped = true;
    clearTimeout(this.timer);
    if (this.ctrl) this.ctrl.abort();
    this.ctrl = null;
  }

  // restart drops the current stream and opens a new one at once.
  restart() {
    this.stop();
    this.start();
  }

  async connect() {
    const ctrl = new AbortController();
    this.ctrl = ctrl;
    this.onState('connecting');
    try {
      const res = await fetch(root + this.path, {
        headers: { 'X-API-Key': getKey(), Accept: 'text/event-stream' },
        cache: 'no-store', credentials: 'omit', signal: ctrl.signal,
      });
      if (res.status === 401) {
        this.stop();
        this.onAuth();
        return;
      }
      if (!res.ok || !res.body) throw new Error('HTTP ' + res.status);
      this.onState('live');
      await this.read(res.body.getReader());
    } catch (err) {
      if (ctrl.signal.aborted) return;
    }
    if (this.ctrl !== ctrl || this.stopped) return;
    this.onState('reconnecting');
    this.timer = setTimeout(() => { if (!this.stopped) this.connect(); }, this.retry);
  }

  async read(reader) {
    const dec = new TextDecoder();
    let buf = '';
    for (;;) {
      const { value, done } = await reader.read();
      if (done) return;
      buf += dec.decode(value, { stream: true });
      let i;
      while ((i = buf.indexOf('\n\n')) >= 0) {
        const block = buf.slice(0, i);
        buf = buf.slice(i + 2);
        this.block(block);
      }
      if (buf.length > 1 << 20) buf = ''; // a line longer than any event: drop it
    }
  }

  block(text) {
    const data = [];
    let name = 'message';
    for (const line of text.split('\n')) {
      if (line.startsWith('data:')) data.push(line.slice(5).replace(/^ /, ''));
      else if (line.startsWith('event:')) name = line.slice(6).trim();
      else if (line.startsWith('retry:')) this.retry = Number(line.slice(6)) || this.retry;
    }
    if (!data.length) return;
    let ev;
    try { ev = JSON.parse(data.join('\n')); } catch { return; }
    this.onEvent(ev, name);
  }
}
