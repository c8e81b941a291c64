// What the edit forms share: labelled fields with a slot for the API's message, the API's 400 issues put
// next to the fields they name, a delete button that asks twice, a message that outlives a re-render, and
// the CSV upload with its dry run.
import { api, h, notice } from './api.js';

/** A field: label, input, optional hint and the slot `#error-<name>` the API's messages go to. */
export function field(name, label, input, hint) {
  return h('div', { class: 'field', 'data-field': name },
    h('label', { for: `f-${name}` }, label), input,
    hint ? h('div', { class: 'hint' }, hint) : null,
    h('div', { class: 'field-error', id: `error-${name}`, 'aria-live': 'polite' }));
}

/** A select of `options`: values, or [value, label] pairs. */
export const select = (name, options, value, attrs = {}) => h('select', { id: `f-${name}`, name, ...attrs },
  options.map((o) => {
    const [v, label] = Array.isArray(o) ? o : [o, o];
    return h('option', { value: v, selected: v === value }, label);
  }));
export const checkbox = (name, checked) => h('input', { id: `f-${name}`, name, type: 'checkbox', checked });
export const text = (name, value, attrs = {}) => h('input', { id: `f-${name}`, name, type: 'text', value: value ?? '', autocomplete: 'off', ...attrs });

/** Removes the messages of the last submit. */
export function clearIssues(form, msg) {
  msg.replaceChildren();
  for (const e of form.querySelectorAll('.field-error')) e.replaceChildren();
  for (const e of form.querySelectorAll('.invalid')) e.classList.remove('invalid');
}

/** Puts `message` in the slot of field `name`; false when the form has no such field. */
export function fieldMessage(form, name, message) {
  const slot = name && form.querySelector(`#error-${name}`);
  if (!slot) return false;
  slot.append(h('div', {}, message));
  slot.closest('.field').classList.add('invalid');
  return true;
}

/**
 * Shows a refused write: each of the API's issues next to the field `fieldOf(issue.path)` names (the
 * others, and a refusal without issues, in `msg`).
 */
export function showIssues(form, msg, err, fieldOf) {
  const general = err.issues.filter((i) => !fieldMessage(form, fieldOf(i.path), i.message)).map((i) => `${i.path}: ${i.message}`);
  msg.append(notice('error', err.issues.length ? 'Not saved: see the messages next to the fields.' : `Not saved: ${err.message}`));
  for (const g of general) msg.append(notice('error', g));
}

/** The last name of an issue's path, without an index: `forwards[0].allow[1]` -> allow. */
export const lastName = (path) => String(path ?? '').split('.').pop().replace(/\[\d+\]$/, '');

/** A Delete button (`#delete`) that asks "Really delete <what>?" on the first click and runs `remove` on the second. */
export function deleteButton(what, msg, remove) {
  // Two clicks instead of confirm(): a dialog would block the page.
  let armed = false;
  return h('button', { type: 'button', class: 'danger', id: 'delete', onclick: async (ev) => {
    if (!armed) { armed = true; ev.target.textContent = `Really delete ${what}?`; return; }
    try {
      await remove();
    } catch (err) {
      msg.replaceChildren(notice('error', `Not deleted: ${err.message}`));
    }
  } }, 'Delete');
}

// A message that outlives the re-render after something was added (the page moves to its edit URL).
let flash = null;

/** Keeps `el` for the next page shown. */
export const setFlash = (el) => { flash = el; };

/** The kept message (once), or null. */
export function takeFlash() {
  const el = flash;
  flash = null;
  return el;
}

/**
 * The CSV upload of `noun` (proxies, forwards) to `path`, with a dry run; `id` prefixes its elements'
 * ids (`<id>-file`, `<id>-dry`, `<id>-message`). A refusal lists the API's problems by line and column;
 * `onImported` runs after an import that changed the config.
 */
export function csvForm({ id, noun, path, title, hint, onImported = async () => {} }) {
  const file = h('input', { id: `${id}-file`, type: 'file', accept: '.csv,text/csv' });
  const dry = h('input', { id: `${id}-dry`, type: 'checkbox' });
  const msg = h('div', { class: 'form-message', id: `${id}-message` });
  return h('form', { class: 'csv-form', id: `${id}-form`, onsubmit: async (ev) => {
    ev.preventDefault();
    msg.replaceChildren();
    const f = file.files[0];
    if (!f) { msg.append(notice('error', 'Choose a CSV file first.')); return; }
    try {
      const r = await api('POST', `${path}${dry.checked ? '?dryRun=1' : ''}`, { csv: await f.text() });
      msg.append(notice('ok', r.dryRun ? `${r.import.rows} rows are valid (${r.import.added} would be added, ${r.import.replaced} replaced); nothing changed.`
        : `Imported ${r.import.rows} ${noun} (${r.import.added} added, ${r.import.replaced} replaced).`));
      if (!r.dryRun) await onImported();
    } catch (err) {
      msg.append(notice('error', `Not imported, nothing changed: ${err.message.split('\n')[0]}`));
      if (err.issues.length) {
        msg.append(h('table', { class: 'grid narrow csv-issues' }, h('thead', {}, h('tr', {}, h('th', {}, 'Line'), h('th', {}, 'Column'), h('th', {}, 'Problem'))),
          h('tbody', {}, err.issues.map((i) => h('tr', {}, h('td', {}, i.line ?? '-'), h('td', {}, i.column ?? i.path ?? '-'), h('td', {}, i.message))))));
      }
    }
  } },
  h('h2', {}, title),
  h('p', { class: 'hint' }, hint),
  h('div', { class: 'field' }, h('label', { for: `${id}-file` }, 'CSV file'), file),
  h('div', { class: 'field inline' }, dry, h('label', { for: `${id}-dry` }, 'Dry run (validate only)')),
  h('div', { class: 'buttons' }, h('button', { type: 'submit' }, 'Import')),
  msg);
}
