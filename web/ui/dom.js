// DOM helpers. Everything the dashboard shows is built with these: values
// become text nodes (never parsed as HTML), attributes are set one by one,
// and handlers are attached with addEventListener, so no data from the API
// can become markup or script.

// h builds an element: h('a', {href: '#/x', class: 'btn', onClick: fn}, 'text', child).
// Attribute values are strings set with setAttribute; on<Event> keys attach
// listeners; true/false toggle boolean attributes; null/undefined skip.
export function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v == null || v === false) continue;
    if (k.startsWith('on') && typeof v === 'function') {
      el.addEventListener(k.slice(2).toLowerCase(), v);
    } else if (k === 'value') {
      el.value = String(v);
    } else if (k === 'checked') {
      el.checked = Boolean(v);
    } else if (/^(style|srcdoc|inner|outer)/i.test(k)) {
      throw new Error('h: ' + k + ' is not allowed');
    } else {
      el.setAttribute(k, v === true ? '' : String(v));
    }
  }
  append(el, children);
  return el;
}

// append adds children (nodes, strings as text, arrays, null skipped).
export function append(el, children) {
  for (const c of children.flat(Infinity)) {
    if (c == null || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return el;
}

// clear removes every child of el.
export function clear(el) {
  while (el.firstChild) el.firstChild.remove();
  return el;
}

// replace puts children in el instead of what it held.
export function replace(el, ...children) {
  return append(clear(el), children);
}

// fmtBytes renders a byte count: 0 B, 1.2 KiB, 3.4 MiB...
export function fmtBytes(n) {
  n = Number(n) || 0;
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB', 'PiB'];
  let i = 0;
  while (Math.abs(n) >= 1024 && i < units.length - 1) { n /= 1024; i++; }
  return (i === 0 ? String(Math.round(n)) : String(Number(n.toFixed(n < 10 ? 2 : n < 100 ? 1 : 0)))) + ' ' + units[i];
}

// fmtRate renders bytes per second.
export function fmtRate(n) { return fmtBytes(n) + '/s'; }

// fmtDuration renders seconds as 3d 4h, 5h 6m, 7m 8s or 9s.
export function fmtDuration(s) {
  s = Math.max(0, Math.floor(Number(s) || 0));
  const d = Math.floor(s / 86400), hr = Math.floor(s % 86400 / 3600), m = Math.floor(s % 3600 / 60);
  if (d) return d + 'd ' + hr + 'h';
  if (hr) return hr + 'h ' + m + 'm';
  if (m) return m + 'm ' + (s % 60) + 's';
  return s + 's';
}

// fmtTime renders a date as local date and time.
export function fmtTime(t) {
  const d = new Date(t);
  return isNaN(d) ? '' : d.toLocaleString();
}

// dialog shows a modal <dialog> with a title, a body and buttons, and
// resolves with the value of the button chosen (Escape: null). The first
// button is the default (Enter), the last one gets focus first when
// danger is set so that a stray Enter does not confirm a destructive action.
export function dialog({ title, body, buttons, danger }) {
  return new Promise((resolve) => {
    const form = h('form', { method: 'dialog', class: 'dialog-form' });
    const heading = h('h2', { id: 'dialog-title' }, title);
    const actions = h('div', { class: 'actions' });
    const dlg = h('dialog', { 'aria-labelledby': 'dialog-title', class: danger ? 'danger' : '' },
      append(form, [heading, h('div', { class: 'dialog-body' }, body), actions]));
    let result = null;
    for (const b of buttons) {
      actions.append(h('button', {
        type: b.submit ? 'submit' : 'button', class: b.class || '', value: b.value,
        onClick: (ev) => { ev.preventDefault(); result = b.value; dlg.close(); },
      }, b.label));
    }
    form.addEventListener('submit', (ev) => {
      ev.preventDefault();
      const def = buttons.find((b) => b.submit);
      result = def ? def.value : null;
      dlg.close();
    });
    dlg.addEventListener('close', () => { dlg.remove(); resolve(result); });
    document.body.append(dlg);
    dlg.showModal();
    const focus = dlg.querySelector('[autofocus]') || actions.querySelector(danger ? 'button' : 'button:last-child');
    if (focus) focus.focus();
  });
}

// confirm asks a yes/no question about a named thing; resolves true on yes.
export async function confirm(title, message, yesLabel) {
  const v = await dialog({
    title, body: h('p', {}, message), danger: true,
    buttons: [
      { label: 'Cancel', value: 'no', class: 'secondary' },
      { label: yesLabel, value: 'yes', class: 'danger', submit: true },
    ],
  });
  return v === 'yes';
}

// toast shows a short notice in the page's status region.
export function toast(text) {
  const t = document.getElementById('toast');
  t.textContent = text;
  t.hidden = false;
  clearTimeout(toast.timer);
  toast.timer = setTimeout(() => { t.hidden = true; }, 6000);
}

// copyButton copies the value of an input (selecting it when the
// clipboard is not available, as on plain-HTTP pages of a remote master).
export function copyButton(input, label = 'Copy') {
  return h('button', {
    type: 'button', class: 'secondary small',
    onClick: async () => {
      input.focus();
      input.select();
      try {
        await navigator.clipboard.writeText(input.value);
        toast('Copied.');
      } catch {
        toast('Selected: press Ctrl+C (⌘C) to copy.');
      }
    },
  }, label);
}
