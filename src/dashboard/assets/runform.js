// The Run form of a task, generated from its parameters: a shell task's `{placeholders}` (defaults from its
// params) typed by its `params_schema` when it has one; a function task's JSON Schema. The checks here mirror the
// server's for a quick answer; the server decides, and its answer is shown next to the field it names.
import { html, useState, useLoad, Failure } from './ui.js';
import { call, get } from './api.js';

const PLACEHOLDER = /\{([A-Za-z_][A-Za-z0-9_]*)\}/g;

/** The fields of the form: [{ name, type, enum, required, default, schema }]. */
export function fieldsOf(task) {
  const schema = task.params_schema || {};
  const props = schema.properties || {};
  const required = new Set(schema.required || []);
  const defaults = task.params || {};
  const placeholders = [...(task.command || '').matchAll(PLACEHOLDER)].map((m) => m[1]);
  const names = [...new Set([...Object.keys(props), ...placeholders])];
  return names.map((name) => {
    const p = props[name] || {};
    const type = Array.isArray(p.type) ? p.type.find((t) => t !== 'null') : p.type;
    const dflt = name in defaults ? defaults[name] : p.default;
    // A placeholder without a default must be given, as the server requires.
    const req = required.has(name) || (placeholders.includes(name) && dflt === undefined);
    return { name, type: type || 'string', enum: p.enum, required: req, default: dflt, schema: p };
  });
}

/** A field's text → [value, error]. Empty → undefined (the server's default applies). */
export function check(f, text) {
  if (f.type === 'boolean') return [text === 'true', null];
  if (text === '' || text == null) return [undefined, f.required && f.default === undefined ? 'required' : null];
  let v = text;
  if (f.type === 'integer') { if (!/^-?\d+$/.test(text)) return [null, 'a whole number']; v = Number(text); }
  else if (f.type === 'number') { v = Number(text); if (!Number.isFinite(v) || !/\d/.test(text)) return [null, 'a number']; }
  const s = f.schema;
  if (f.enum && !f.enum.some((e) => String(e) === text)) return [null, 'one of ' + f.enum.join(', ')];
  if (f.enum) v = f.enum.find((e) => String(e) === text);
  if (typeof v === 'number') {
    if (s.minimum != null && v < s.minimum) return [null, `at least ${s.minimum}`];
    if (s.maximum != null && v > s.maximum) return [null, `at most ${s.maximum}`];
  }
  if (typeof v === 'string') {
    if (s.minLength != null && v.length < s.minLength) return [null, `at least ${s.minLength} characters`];
    if (s.maxLength != null && v.length > s.maxLength) return [null, `at most ${s.maxLength} characters`];
    if (s.pattern && !new RegExp(s.pattern, 'u').test(v)) return [null, `must match ${s.pattern}`];
  }
  return [v, null];
}

function Input({ f, value, set }) {
  const id = 'param-' + f.name;
  if (f.type === 'boolean') return html`<input type="checkbox" id=${id} name=${f.name} checked=${value === 'true'} onChange=${(e) => set(String(e.target.checked))} />`;
  if (f.enum) return html`<select id=${id} name=${f.name} value=${value} onChange=${(e) => set(e.target.value)}>
    ${!f.required && html`<option value="">(default)</option>`}${f.enum.map((e) => html`<option value=${String(e)}>${String(e)}</option>`)}</select>`;
  return html`<input type="text" inputmode=${f.type === 'string' ? 'text' : 'decimal'} id=${id} name=${f.name} value=${value}
    placeholder=${f.default === undefined ? '' : String(f.default)} onInput=${(e) => set(e.target.value)} />`;
}

export function RunTask({ id }) {
  const [task, loadError] = useLoad(() => get(`/api/v1/tasks/${encodeURIComponent(id)}`), [id]);
  const [values, setValues] = useState({});
  const [errors, setErrors] = useState({});
  if (!task) return html`<h1>Run ${id}</h1><${Failure} error=${loadError} />`;
  const fields = fieldsOf(task);
  const text = (f) => (f.name in values ? values[f.name] : f.type === 'boolean' ? String(f.default === true) : '');
  const run = async (e) => {
    e.preventDefault();
    const params = {}, local = {};
    for (const f of fields) {
      const [v, err] = check(f, text(f));
      if (err) local[f.name] = err; else if (v !== undefined) params[f.name] = v;
    }
    setErrors(local);
    if (Object.keys(local).length) return;
    try {
      const { body } = await call('POST', `/api/v1/tasks/${task.id}/$execute`, { params });
      location.hash = '#/jobs/' + body.job_id;
    } catch (err) {
      const named = fields.find((f) => (err.message || '').includes(`'${f.name}'`) || (err.message || '').startsWith(f.name));
      setErrors({ [named ? named.name : '_form']: err.message });
    }
  };
  return html`<h1>Run ${task.name || task.id}</h1>
    <p><code>${task.command ?? task.function ?? ''}</code></p>
    <form id="run-form" class="form" onSubmit=${run}>
      ${errors._form && html`<p class="error field-error" data-for="_form">${errors._form}</p>`}
      ${!fields.length && html`<p class="muted">This task takes no parameters.</p>`}
      ${fields.map((f) => html`<label>${f.name}${f.required ? ' *' : ''} <small class="muted">${f.enum ? 'one of' : f.type}${f.schema.description ? ' — ' + f.schema.description : ''}</small>
        <${Input} f=${f} value=${text(f)} set=${(v) => setValues({ ...values, [f.name]: v })} />
        ${errors[f.name] && html`<span class="error field-error" data-for=${f.name}>${errors[f.name]}</span>`}</label>`)}
      <button type="submit" id="run">Run</button>
    </form>`;
}
