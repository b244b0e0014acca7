// Tasks: the list with a tag filter and a search, enable/disable, the create and edit form (the server's
// validation errors shown next to the field they name), and the orphaned tasks with the action that fixes each.
import { html, useState, useLoad, Badge, When, Failure } from './ui.js';
import { call, get, itemsOf } from './api.js';

const ref = (t) => encodeURIComponent(t.name || t.id);

export function Tasks() {
  const [tasks, error, reload] = useLoad(() => get('/api/v1/tasks?page=1&size=1000').then(itemsOf), []);
  const [tag, setTag] = useState('');
  const [text, setText] = useState('');
  const [failure, setFailure] = useState(null);
  const tags = [...new Set((tasks || []).flatMap((t) => t.tags || []))].sort();
  const shown = (tasks || []).filter((t) => (!tag || (t.tags || []).includes(tag))
    && (!text || `${t.name || ''} ${t.command || ''} ${t.id}`.toLowerCase().includes(text.toLowerCase())));
  const toggle = async (t) => {
    setFailure(null);
    try { await call('PATCH', `/api/v1/tasks/${t.id}`, { enabled: !t.enabled }); reload(); } catch (e) { setFailure(e); }
  };
  return html`<h1>Tasks</h1>
    <p class="actions"><a class="button" id="new-task" href="#/tasks/new">New task</a></p>
    <form class="filters" onSubmit=${(e) => e.preventDefault()}>
      <label>Tag <select id="filter-tag" value=${tag} onChange=${(e) => setTag(e.target.value)}>
        <option value="">any</option>${tags.map((t) => html`<option value=${t}>${t}</option>`)}</select></label>
      <label>Search <input id="search" value=${text} onInput=${(e) => setText(e.target.value)} placeholder="name, command or id" /></label>
    </form>
    <${Failure} error=${error || failure} />
    ${tasks && html`<table id="tasks"><thead><tr><th>Name</th><th>What it runs</th><th>Tags</th><th>Enabled</th><th></th></tr></thead>
      <tbody>${shown.map((t) => html`<tr data-task=${t.name || t.id}>
        <td>${t.name || html`<code>${t.id}</code>`}</td><td><code>${t.command ?? t.function ?? ''}</code></td>
        <td>${(t.tags || []).map((g) => html`<span class="tag">${g}</span> `)}</td>
        <td><button class="toggle" onClick=${() => toggle(t)}>${t.enabled ? 'Disable' : 'Enable'}</button>
          ${!t.enabled && html` <${Badge} value="disabled" />`}</td>
        <td><a class="run" href=${`#/tasks/${ref(t)}/run`}>Run</a> · <a href=${`#/tasks/${ref(t)}/edit`}>Edit</a>
          · <a href=${'#/jobs?task_id=' + t.id}>Jobs</a></td></tr>`)}</tbody></table>
      ${!shown.length && html`<p class="muted">No tasks${tag || text ? ' match' : ' yet'}.</p>`}`}`;
}

// The form's fields: body key, label, kind. JSON fields are edited as JSON text.
const FIELDS = [
  ['name', 'Name', 'text'], ['command', 'Command', 'text'], ['tags', 'Tags (comma separated)', 'list'],
  ['params', 'Default params (JSON object)', 'json'], ['params_schema', 'Params schema (JSON Schema, optional)', 'json'],
  ['option_params', 'Params that may be options (comma separated)', 'list'], ['env', 'Environment (JSON object)', 'json'],
  ['cwd', 'Working directory', 'text'], ['timeout_seconds', 'Timeout (seconds)', 'int'],
  ['retry', 'Retry policy (JSON, optional)', 'json'],
];

function toText(kind, v) {
  if (v == null) return '';
  if (kind === 'list') return v.join(', ');
  if (kind === 'json') return typeof v === 'object' && !Object.keys(v).length ? '' : JSON.stringify(v, null, 2);
  return String(v);
}

/** The body from the form's texts; a field that cannot be read gives `errors[key]`. */
function toBody(texts, editing) {
  const body = {}, errors = {};
  for (const [key, , kind] of FIELDS) {
    const s = (texts[key] || '').trim();
    if (!s) { if (editing && kind !== 'list') body[key] = null; else if (kind === 'list') body[key] = []; continue; }
    if (kind === 'list') body[key] = s.split(',').map((x) => x.trim()).filter(Boolean);
    else if (kind === 'int') { if (/^\d+$/.test(s)) body[key] = Number(s); else errors[key] = 'a whole number of seconds'; }
    else if (kind === 'json') { try { body[key] = JSON.parse(s); } catch (e) { errors[key] = 'not valid JSON: ' + e.message; } }
    else body[key] = s;
  }
  if (!body.command && !editing) errors.command = 'a command is required';
  for (const key of ['params', 'env']) if (body[key] === null) body[key] = {};
  return { body, errors };
}

/** The field a problem's detail names (`field: …` or `field must …`), when it names one of the form's. */
export function fieldOf(detail) {
  const m = /^([a-z_]+)\b/.exec(detail || '');
  return m && FIELDS.some(([k]) => k === m[1]) ? m[1] : null;
}

export function TaskForm({ id }) {
  const [task, loadError] = useLoad(() => (id ? get(`/api/v1/tasks/${encodeURIComponent(id)}`) : Promise.resolve({})), [id]);
  const [texts, setTexts] = useState(null);
  const [errors, setErrors] = useState({});
  if (task && !texts) setTexts(Object.fromEntries(FIELDS.map(([k, , kind]) => [k, toText(kind, task[k])])));
  const save = async (e) => {
    e.preventDefault();
    const { body, errors: local } = toBody(texts, !!id);
    setErrors(local);
    if (Object.keys(local).length) return;
    try {
      const { body: saved } = id ? await call('PATCH', `/api/v1/tasks/${task.id}`, body) : await call('POST', '/api/v1/tasks', body);
      location.hash = `#/tasks/${ref(saved)}/run`;
    } catch (err) {
      const detail = err.message;
      setErrors({ [fieldOf(detail) || '_form']: detail });
    }
  };
  return html`<h1>${id ? 'Edit task' : 'New task'}</h1>
    <${Failure} error=${loadError} />
    ${texts && html`<form id="task-form" class="form" onSubmit=${save}>
      ${errors._form && html`<p class="error field-error" data-for="_form">${errors._form}</p>`}
      ${FIELDS.map(([k, label, kind]) => html`<label>${label}
        ${kind === 'json' ? html`<textarea name=${k} rows="3" value=${texts[k]} onInput=${(e) => setTexts({ ...texts, [k]: e.target.value })} />`
          : html`<input name=${k} value=${texts[k]} onInput=${(e) => setTexts({ ...texts, [k]: e.target.value })} />`}
        ${errors[k] && html`<span class="error field-error" data-for=${k}>${errors[k]}</span>`}</label>`)}
      <button type="submit" id="save-task">Save</button></form>`}`;
}

const FIX = {
  never_run: (t) => html`<a class="button" href=${`#/tasks/${ref(t)}/run`}>Run it</a>`,
  not_runnable: (t) => html`<a class="button" href=${`#/tasks/${ref(t)}/edit`}>Edit it</a>`,
  lost: (t) => html`<a class="button" href=${'#/jobs?task_id=' + t.id}>See its jobs</a>`,
};
const WHY = {
  never_run: 'never run', not_runnable: 'cannot run here now: its program is no longer allowed or found, its directory is gone, or its environment is refused',
  lost: 'its last job was lost with its runner',
};

export function Orphans() {
  const [data, error] = useLoad(() => get('/api/v1/tasks/$orphaned'), []);
  return html`<h1>Orphaned tasks</h1><${Failure} error=${error} />
    ${data && html`<p><strong id="orphan-count">${data.count}</strong> orphaned.</p>
      <table id="orphans"><thead><tr><th>Task</th><th>Reason</th><th>Created</th><th>Fix</th></tr></thead><tbody>
      ${data.orphaned_tasks.map((t) => html`<tr><td>${t.name || html`<code>${t.id}</code>`}</td>
        <td><${Badge} value=${t.reason} /> ${WHY[t.reason] || ''}</td><td><${When} at=${t.created_at} /></td>
        <td>${(FIX[t.reason] || (() => ''))(t)}</td></tr>`)}</tbody></table>`}`;
}
