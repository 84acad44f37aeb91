// Instance actions shared by the table and the detail page.

import { h, confirm, toast } from './dom.js';
import { request } from './api.js';

// label names an instance for people: its alias and id.
export function label(v) {
  return v.alias ? `${v.alias} (${v.id})` : v.id;
}

// fromFile reports whether the master's config file declares v: its URL,
// alias, auto-start and tags are the file's (the API answers 409), its
// actions are not.
export function fromFile(v) {
  return v.source === 'file';
}

// sourceBadge marks an instance the config file declares; null otherwise.
export function sourceBadge(v) {
  if (!fromFile(v)) return null;
  return h('span', { class: 'badge file', 'data-source': 'file', title: `Declared in the config file as instances.${v.name}: change it there` }, 'file');
}

const ACTIONS = {
  start: { text: 'Start' },
  stop: { text: 'Stop', ask: 'Stop instance', why: 'Its listener closes and open connections end.' },
  restart: { text: 'Restart', ask: 'Restart instance', why: 'Open connections end.' },
  reset: { text: 'Reset', ask: 'Reset counters of', why: 'Its traffic counters go back to zero.' },
};

// act runs a PATCH action on v, asking first for the disruptive ones.
export async function act(v, action) {
  const a = ACTIONS[action];
  if (a.ask && !(await confirm(`${a.ask} ${label(v)}?`, a.why, a.text))) return;
  try {
    await request('PATCH', '/instances/' + encodeURIComponent(v.id), { action });
  } catch (e) {
    toast(`${a.text} ${label(v)} failed: ${e.message}`);
  }
}

// remove deletes v after a confirmation naming it; resolves true when deleted.
export async function remove(v) {
  if (!(await confirm(`Delete instance ${label(v)}?`, 'It stops and is removed for good.', 'Delete'))) return false;
  try {
    await request('DELETE', '/instances/' + encodeURIComponent(v.id));
    toast(`Deleted ${label(v)}.`);
    return true;
  } catch (e) {
    toast(`Delete ${label(v)} failed: ${e.message}`);
    return false;
  }
}

export async function patch(v, body) {
  try {
    await request('PATCH', '/instances/' + encodeURIComponent(v.id), body);
    return true;
  } catch (e) {
    toast(`Change ${label(v)} failed: ${e.message}`);
    return false;
  }
}

// actionButtons returns the buttons for v's status.
export function actionButtons(v, onDeleted) {
  const b = (action, cls) => h('button', {
    type: 'button', class: 'small ' + (cls || 'secondary'), 'data-action': action,
    'aria-label': `${ACTIONS[action].text} ${label(v)}`, onClick: () => act(v, action),
  }, ACTIONS[action].text);
  return h('div', { class: 'row-actions' },
    v.status === 'running' ? b('stop') : b('start', 'primary'),
    b('restart'), b('reset'),
    fromFile(v) ? null : h('button', {
      type: 'button', class: 'small danger', 'data-action': 'delete', 'aria-label': `Delete ${label(v)}`,
      onClick: async () => { if (await remove(v) && onDeleted) onDeleted(); },
    }, 'Delete'));
}

// aliasEditor shows the alias with an edit button; editing takes Enter to
// save and Escape to cancel.
export function aliasEditor(v) {
  const wrap = h('span', { class: 'alias-edit' });
  const show = () => {
    wrap.replaceChildren(
      h('span', { class: 'alias', 'data-alias': '' }, v.alias || '—'),
      fromFile(v) ? null : h('button', { type: 'button', class: 'icon', 'aria-label': `Edit alias of ${label(v)}`, onClick: edit }, '✎'));
  };
  const edit = () => {
    const input = h('input', { type: 'text', value: v.alias, maxlength: '256', 'aria-label': `Alias of ${v.id}`, class: 'alias-input' });
    let done = false;
    const save = async () => {
      if (done) return;
      done = true;
      if (input.value !== v.alias) await patch(v, { alias: input.value });
      show();
    };
    input.addEventListener('keydown', (ev) => {
      if (ev.key === 'Enter') { ev.preventDefault(); save(); }
      if (ev.key === 'Escape') { ev.preventDefault(); done = true; show(); }
    });
    input.addEventListener('blur', save);
    wrap.replaceChildren(input);
    input.focus();
    input.select();
  };
  show();
  return wrap;
}

// restartToggle is the restart policy as a checkbox.
export function restartToggle(v) {
  const id = 'restart-' + v.id;
  const box = h('input', { type: 'checkbox', id, checked: v.restart, disabled: fromFile(v), onChange: async () => {
    if (!(await patch(v, { restart: box.checked }))) box.checked = !box.checked;
  } });
  return h('span', { class: 'toggle' }, box, h('label', { for: id }, 'auto-start'));
}
