// Instance URLs: parsing one for display and building one from a form.
//   scheme://[key@]listen_host:port/target[,target2...]?param=value&...

const URL_RE = /^([a-z][a-z0-9+.-]*):\/\/(?:([^@/?#]*)@)?([^/?#]*)(?:\/([^?#]*))?(?:\?([^#]*))?$/i;

// Query parameters whose values are secrets (never shown unless asked).
export const SECRET_PARAMS = ['agent', 'auth'];

// parseURL splits an instance URL; null when it does not look like one.
export function parseURL(raw) {
  const m = URL_RE.exec(String(raw || '').trim());
  if (!m) return null;
  const params = [];
  for (const part of (m[5] || '').split('&')) {
    if (!part) continue;
    const eq = part.indexOf('=');
    const k = eq < 0 ? part : part.slice(0, eq);
    const v = eq < 0 ? '' : part.slice(eq + 1);
    params.push([safeDecode(k), safeDecode(v)]);
  }
  return {
    scheme: m[1].toLowerCase(),
    key: m[2] === undefined ? '' : safeDecode(m[2]),
    listen: m[3] || '',
    targets: (m[4] || '').split(',').filter(Boolean),
    params,
  };
}

function safeDecode(s) {
  try { return decodeURIComponent(s.replace(/\+/g, ' ')); } catch { return s; }
}

// param returns the value of name in a parsed URL ('' when absent).
export function param(u, name) {
  const p = u && u.params.find(([k]) => k === name);
  return p ? p[1] : '';
}

// redact returns raw with the userinfo key and secret parameters masked.
export function redact(raw) {
  const u = parseURL(raw);
  if (!u) return raw;
  return buildURL({
    ...u,
    key: u.key ? '•••' : '',
    params: u.params.map(([k, v]) => [k, SECRET_PARAMS.includes(k) && v ? '•••' : v]),
  }, true);
}

// enc percent-encodes what the URL grammar would misread, keeping the
// characters people write in these URLs (: , * /) readable.
function enc(s) {
  return encodeURIComponent(s).replace(/%3A/gi, ':').replace(/%2C/gi, ',').replace(/%2A/gi, '*').replace(/%2F/gi, '/');
}

// buildURL renders a parsed URL back; display keeps masks unencoded.
export function buildURL(u, display) {
  const e = display ? (s) => s : enc;
  let s = u.scheme + '://';
  if (u.key) s += (display ? u.key : encodeURIComponent(u.key)) + '@';
  s += u.listen;
  if (u.targets.length) s += '/' + u.targets.join(',');
  const q = u.params.filter(([k, v]) => k && v !== '').map(([k, v]) => e(k) + '=' + e(v));
  if (q.length) s += '?' + q.join('&');
  return s;
}

// Parameters the forms offer, beyond a handler's own descriptor. kinds
// says which form shows them: server, client, handler (every handler
// scheme), or a scheme name.
export const PARAMS = [
  { name: 'agent', label: 'Agent pool key', type: 'secret', kinds: ['handler'], required: true,
    help: 'Links go through the agents that connect with this key.' },
  { name: 'tls', label: 'TLS', type: 'select', options: ['', '0', '1', '2'], kinds: ['server', 'client'],
    help: '0 plain, 1 self-signed certificate, 2 crt and key files.' },
  { name: 'crt', label: 'Certificate file', type: 'string', kinds: ['server'], help: 'PEM file, with tls=2.' },
  { name: 'key', label: 'Key file', type: 'string', kinds: ['server'], help: 'PEM file, with tls=2.' },
  { name: 'fp', label: 'Bridge fingerprint', type: 'string', kinds: ['client'],
    help: 'SHA-256 of the bridge certificate (hex); implies TLS.' },
  { name: 'sni', label: 'TLS server name', type: 'string', kinds: ['client'] },
  { name: 'allow', label: 'Allow', type: 'list', kinds: ['client'],
    help: 'CIDRs, host:port, host:* or *.domain:port this agent may dial.' },
  { name: 'dial', label: 'Source IP', type: 'string', kinds: ['client'], help: 'auto or an IP address.' },
  { name: 'slot', label: 'Slots', type: 'int', kinds: ['server', 'handler'], help: 'Maximum concurrent connections (default 65536).' },
  { name: 'rate', label: 'Rate limit (Mbit/s)', type: 'int', kinds: ['server', 'handler'], help: '0 = unlimited.' },
  { name: 'proxy', label: 'PROXY protocol', type: 'bool', kinds: ['server', 'tcp'], help: 'Send the user address to the target.' },
  { name: 'notcp', label: 'No TCP', type: 'bool', kinds: ['server'] },
  { name: 'noudp', label: 'No UDP', type: 'bool', kinds: ['server'] },
  { name: 'idle', label: 'UDP idle timeout', type: 'duration', kinds: ['udp'], help: 'Default 60s.' },
  { name: 'read', label: 'Read timeout', type: 'duration', kinds: ['server', 'client', 'tcp', 'udp'], help: '0 = none.' },
  { name: 'log', label: 'Log level', type: 'select', options: ['', 'debug', 'info', 'warn', 'error', 'event', 'none'],
    kinds: ['server', 'client', 'handler'] },
];

// paramsFor returns the form's parameters for a scheme description from
// GET /schemes: the shared ones, then the handler's own (its descriptor
// wins for a name both have).
export function paramsFor(scheme) {
  const kinds = [scheme.kind, scheme.scheme];
  const own = (scheme.params || []).map((p) => ({
    name: p.name, label: p.name, type: p.type || 'string', help: p.help || '', placeholder: p.default || '',
    required: /^required\b/i.test(p.help || ''),
  }));
  const names = new Set(own.map((p) => p.name));
  const shared = PARAMS.filter((p) => p.kinds.some((k) => kinds.includes(k)) && !names.has(p.name));
  const agent = shared.filter((p) => p.name === 'agent');
  return [...agent, ...own, ...shared.filter((p) => p.name !== 'agent')];
}

// problems splits a 400 message into its parts and names the field each
// one is about ('' when none): "parameter NAME: ...", "NAME= is required",
// "listen ...", "target ...".
export function problems(message) {
  const text = String(message || '')
    .replace(/^Invalid URL (format|scheme):\s*/, '')
    .replace(/^invalid instance URL "(?:[^"\\]|\\.)*":\s*/, '');
  return splitProblems(text).map((part) => {
    let m = /^parameter ([A-Za-z0-9_.-]+)(?:[:=]|\b)/.exec(part);
    if (m) return { field: m[1], text: part };
    m = /^([A-Za-z0-9_]+)= is required/.exec(part);
    if (m) return { field: m[1], text: part };
    if (/^listen\b/.test(part)) return { field: 'listen', text: part };
    if (/^targets?\b/.test(part)) return { field: 'targets', text: part };
    return { field: '', text: part };
  });
}

// splitProblems splits at "; " outside double-quoted values (conf quotes
// the values it names, and a value may hold "; ").
function splitProblems(text) {
  const out = [];
  let cur = '', quoted = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (quoted && c === '\\') { cur += c + (text[i + 1] || ''); i++; continue; }
    if (c === '"') quoted = !quoted;
    if (!quoted && c === ';' && text[i + 1] === ' ') {
      if (cur.trim()) out.push(cur.trim());
      cur = '';
      i++;
      continue;
    }
    cur += c;
  }
  if (cur.trim()) out.push(cur.trim());
  return out;
}
