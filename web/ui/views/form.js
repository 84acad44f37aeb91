// Create and edit: a form per scheme that builds the instance URL as you
// type, or a pasted URL; the server's 400 is shown next to the field it
// names.

import { h, replace, toast } from '../dom.js';
import { request, get } from '../api.js';
import { state } from '../state.js';
import { parseURL, buildURL, paramsFor, problems } from '../urls.js';

let schemesCache = null;

async function schemes() {
  if (!schemesCache) schemesCache = await get('/schemes');
  return schemesCache;
}

// What the authority, the key and the targets mean for each kind.
const SHAPE = {
  server: { listen: 'Tunnel address (host:port agents dial)', key: 'Tunnel key', targets: 'User address (host:port users connect to)' },
  client: { listen: 'Bridge address (host:port)', key: 'Tunnel key', targets: 'Default targets (host:port, comma-separated)' },
  handler: { listen: 'Listen address (host:port)', targets: 'Targets (host:port, comma-separated)' },
};

export function formView(id) {
  const editing = id ? state.instances.get(id) : null;
  const el = h('section', { class: 'view' }, h('h1', {}, id ? `Edit ${id}` : 'New instance'));
  const body = h('div', {}, h('p', { class: 'muted' }, 'Loading schemes…'));
  el.append(body);
  if (id && !editing) {
    replace(body, h('p', { class: 'error' }, `No instance ${id}.`));
    return { el };
  }
  schemes().then((list) => replace(body, buildForm(list, editing)))
    .catch((e) => replace(body, h('p', { class: 'error' }, 'Cannot list schemes: ' + e.message)));
  return { el };
}

function field(name, labelText, input, help) {
  const hid = 'help-' + name, eid = 'err-' + name;
  input.id = 'f-' + name;
  input.name = name;
  input.setAttribute('aria-describedby', `${hid} ${eid}`);
  return h('div', { class: 'field', 'data-field': name },
    h('label', { for: input.id }, labelText), input,
    h('small', { id: hid, class: 'muted' }, help || ''),
    h('p', { id: eid, class: 'field-error', 'data-error-for': name, role: 'alert' }));
}

function inputFor(p) {
  if (p.type === 'select') return h('select', {}, p.options.map((o) => h('option', { value: o }, o || 'default')));
  if (p.type === 'bool') return h('select', {}, ['', '0', '1'].map((o) => h('option', { value: o }, o === '' ? 'default' : o === '1' ? 'on' : 'off')));
  return h('input', { type: p.type === 'secret' ? 'password' : 'text', placeholder: p.placeholder || '', autocomplete: 'off', spellcheck: 'false' });
}

function buildForm(list, editing) {
  const init = editing ? parseURL(editing.url) : null;
  const scheme = h('select', {});
  for (const s of list) {
    scheme.append(h('option', { value: s.scheme, disabled: s.error ? true : null }, s.scheme + (s.plugin && !['tcp', 'udp', 'http'].includes(s.scheme) ? ' (plugin)' : '')));
  }
  scheme.value = init ? init.scheme : (list.find((s) => s.scheme === 'tcp') ? 'tcp' : list[0].scheme);
  if (editing) scheme.disabled = true;
  const alias = h('input', { type: 'text', maxlength: '256', value: editing ? editing.alias : '' });
  const fields = h('div', { class: 'fields' });
  const raw = h('textarea', { rows: '3', spellcheck: 'false', class: 'mono', id: 'f-url', name: 'url',
    'aria-describedby': 'url-help err-url' });
  const rawMode = h('input', { type: 'checkbox', id: 'raw-mode' });
  const general = h('div', { class: 'form-error', id: 'form-error', role: 'alert' });
  const submit = h('button', { type: 'submit', class: 'primary', id: 'form-submit' }, editing ? 'Save' : 'Create');
  const form = h('form', { class: 'card instance-form', id: 'instance-form', novalidate: true },
    field('scheme', 'Scheme', scheme, 'What the instance runs.'),
    field('alias', 'Alias', alias, 'A name for people (optional).'),
    fields,
    h('div', { class: 'field' },
      h('label', { for: 'f-url' }, 'Instance URL'), raw,
      h('small', { id: 'url-help', class: 'muted' }, 'Built from the fields as you type. Tick the box to paste or edit it directly.'),
      h('p', { id: 'err-url', class: 'field-error', 'data-error-for': 'url', role: 'alert' }),
      h('span', { class: 'toggle' }, rawMode, h('label', { for: 'raw-mode' }, 'Edit the URL directly'))),
    general,
    h('div', { class: 'actions' }, h('a', { class: 'button secondary', href: editing ? '#/instances/' + editing.id : '#/instances' }, 'Cancel'), submit));

  let inputs = {}; // name -> element
  let current = null; // scheme description

  function renderFields(from) {
    current = list.find((s) => s.scheme === scheme.value);
    const shape = SHAPE[current.kind] || SHAPE.handler;
    inputs = {};
    const parts = [];
    const add = (name, labelText, input, help) => { inputs[name] = input; parts.push(field(name, labelText, input, help)); };
    if (shape.key) {
      add('userkey', shape.key, h('input', { type: 'password', autocomplete: 'off' }), current.kind === 'server'
        ? 'The key agents must present; without one it is derived from the port, as NodePass does.'
        : 'The key of the bridge or the instance this agent serves.');
    }
    add('listen', shape.listen, h('input', { type: 'text', placeholder: current.kind === 'client' ? 'vps.example.com:10101' : '0.0.0.0:8080', spellcheck: 'false' }));
    add('targets', shape.targets, h('input', { type: 'text', placeholder: '127.0.0.1:3000', spellcheck: 'false' }),
      current.kind === 'handler' && !['tcp', 'udp', 'http'].includes(current.scheme) ? 'For plugins, patterns the plugin may link to.' : '');
    for (const p of paramsFor(current)) add(p.name, p.label + (p.required ? ' (required)' : ''), inputFor(p), p.help);
    add('extra', 'Other parameters', h('input', { type: 'text', placeholder: 'name=value&name2=value2', spellcheck: 'false' }),
      'Appended to the query as written.');
    replace(fields, parts);
    if (from) fill(from);
    for (const input of Object.values(inputs)) input.addEventListener('input', update);
    update();
  }

  function fill(u) {
    if (inputs.userkey) inputs.userkey.value = u.key;
    inputs.listen.value = u.listen;
    inputs.targets.value = u.targets.join(',');
    const extra = [];
    for (const [k, v] of u.params) {
      const input = !['userkey', 'listen', 'targets', 'extra'].includes(k) && inputs[k];
      if (!input) { extra.push(k + '=' + v); continue; }
      if (input.tagName === 'SELECT' && ![...input.options].some((o) => o.value === v)) {
        input.append(h('option', { value: v }, v)); // keep a value the form does not offer
      }
      input.value = v;
    }
    inputs.extra.value = extra.join('&');
  }

  function url() {
    const params = [];
    for (const [name, input] of Object.entries(inputs)) {
      if (['userkey', 'listen', 'targets', 'extra'].includes(name)) continue;
      if (input.value !== '') params.push([name, input.value.trim()]);
    }
    for (const part of inputs.extra.value.split('&')) {
      const eq = part.indexOf('=');
      if (eq > 0) params.push([part.slice(0, eq).trim(), part.slice(eq + 1).trim()]);
    }
    return buildURL({
      scheme: scheme.value, key: inputs.userkey ? inputs.userkey.value.trim() : '', listen: inputs.listen.value.trim(),
      targets: inputs.targets.value.split(',').map((s) => s.trim()).filter(Boolean), params,
    });
  }

  function update() {
    if (!rawMode.checked) raw.value = url();
  }

  raw.addEventListener('input', () => {
    rawMode.checked = true;
    const u = parseURL(raw.value);
    if (u && list.some((s) => s.scheme === u.scheme) && !editing) {
      if (scheme.value !== u.scheme) { scheme.value = u.scheme; renderFields(u); } else fill(u);
    } else if (u && editing && u.scheme === scheme.value) fill(u);
  });
  rawMode.addEventListener('change', () => { if (!rawMode.checked) update(); });
  scheme.addEventListener('change', () => renderFields(null));

  function clearErrors() {
    general.textContent = '';
    for (const e of form.querySelectorAll('.field-error')) e.textContent = '';
    for (const e of form.querySelectorAll('[aria-invalid]')) e.removeAttribute('aria-invalid');
  }

  // showErrors puts each part of a 400 message next to the field it names;
  // the rest (and everything while the URL is edited directly) goes under
  // the URL.
  function showErrors(message) {
    let first = null;
    const rest = [];
    for (const p of problems(message)) {
      const name = p.field === 'key' && !inputs.key ? 'userkey' : p.field;
      const slot = !rawMode.checked && name && inputs[name] && form.querySelector(`[data-error-for="${name}"]`);
      if (!slot) { rest.push(p.text); continue; }
      slot.textContent = slot.textContent ? slot.textContent + '; ' + p.text : p.text;
      inputs[name].setAttribute('aria-invalid', 'true');
      first = first || inputs[name];
    }
    if (rest.length) {
      form.querySelector('[data-error-for="url"]').textContent = rest.join('; ');
      raw.setAttribute('aria-invalid', 'true');
      first = first || raw;
    }
    general.textContent = 'The master refused this instance: ' + message;
    first.focus();
  }

  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    clearErrors();
    submit.disabled = true;
    const u = (rawMode.checked ? raw.value : url()).trim();
    try {
      let v;
      if (editing) {
        if (u !== editing.url) {
          try {
            v = await request('PUT', '/instances/' + encodeURIComponent(editing.id), { url: u });
          } catch (e) {
            if (e.status !== 409) throw e; // 409: the same URL once normalised, nothing to replace
          }
        }
        if (alias.value !== editing.alias) v = await request('PATCH', '/instances/' + encodeURIComponent(editing.id), { alias: alias.value });
        v = v || editing;
      } else {
        v = await request('POST', '/instances', { url: u, alias: alias.value });
      }
      toast(editing ? `Saved ${v.id}.` : `Created ${v.id}.`);
      location.hash = '#/instances/' + encodeURIComponent(v.id);
    } catch (e) {
      if (e.status === 400 || e.status === 409) showErrors(e.message);
      else general.textContent = e.message;
    } finally {
      submit.disabled = false;
    }
  });

  renderFields(init);
  return form;
}
