// Jobs, newest first: filters by status, task, tag and submit time, keyset paging (fast however many jobs are stored), the first
// page refreshing while it is open, and retrying or deleting selected failed jobs together.
import { html, useState, useEffect, Badge, When, duration, Failure } from './ui.js';
import { call, itemsOf } from './api.js';

const STATUSES = ['pending', 'running', 'completed', 'failed', 'canceled'];
const SIZE = 50;
const REFRESH_MS = 3000;
// The list's filters, named as the API's query parameters (`since`/`until` in RFC 3339, UTC).
const FILTERS = ['status', 'task_id', 'tags', 'since', 'until'];

// A `datetime-local` value (the browser's time zone) as RFC 3339 in UTC, and back.
const toUtc = (local) => (local ? new Date(local).toISOString() : '');
const toLocal = (utc) => {
  if (!utc) return '';
  const d = new Date(utc);
  return new Date(d.getTime() - d.getTimezoneOffset() * 60000).toISOString().slice(0, 16);
};

function hashFor(q) {
  const s = new URLSearchParams();
  for (const [k, v] of Object.entries(q)) if (v) s.set(k, v);
  const t = s.toString();
  return '#/jobs' + (t ? '?' + t : '');
}

export function Jobs({ query }) {
  const q = {};
  for (const k of FILTERS.concat('after')) q[k] = query.get(k) || '';
  const [page, setPage] = useState({ items: null, next: null, error: null });
  const [selected, setSelected] = useState(new Set());
  const [results, setResults] = useState(null);
  const [tick, setTick] = useState(0);

  useEffect(() => {
    let live = true;
    const s = new URLSearchParams({ size: String(SIZE) });
    for (const k of FILTERS.concat('after')) if (q[k]) s.set(k, q[k]);
    // Ids sort by age, so the next page starts after the last id shown (keyset paging; no offset to count).
    call('GET', '/api/v1/jobs?' + s).then(({ body }) => {
      const items = itemsOf(body);
      if (live) setPage({ items, next: items.length === SIZE ? items[items.length - 1].id : null, error: null });
    },
      (error) => live && setPage((p) => ({ ...p, error })));
    // The first page follows new jobs; later pages stay still while they are read.
    const timer = q.after ? null : setTimeout(() => setTick((t) => t + 1), REFRESH_MS);
    return () => { live = false; if (timer) clearTimeout(timer); };
  }, [...FILTERS.map((k) => q[k]), q.after, tick]);

  const toggle = (id) => setSelected((s) => { const n = new Set(s); n.has(id) ? n.delete(id) : n.add(id); return n; });
  // One request for all of them (a page shows 50, within the bound of 100); a result per job.
  const onSelected = (action) => async () => {
    let out;
    try {
      const { body } = await call('POST', '/api/v1/jobs/$bulk', { action, ids: [...selected] });
      out = body.results.map((r) => ({ id: r.id, ok: r.status < 300,
        text: r.status === 204 ? 'deleted' : r.status === 202 ? (action === 'retry' ? 'retried' : 'canceled') : r.detail }));
    } catch (e) { out = [...selected].map((id) => ({ id, ok: false, text: e.message })); }
    setResults({ action, out });
    setSelected(new Set());
    setTick((t) => t + 1);
  };
  const filter = (k, convert = (v) => v) => (e) => {
    location.hash = hashFor({ ...q, after: '', [k]: convert(e.target.value.trim()) });
  };
  const filtered = FILTERS.some((k) => q[k]);

  return html`<h1>Jobs</h1>
    <form class="filters" onSubmit=${(e) => e.preventDefault()}>
      <label>Status <select id="filter-status" value=${q.status} onChange=${filter('status')}>
        <option value="">any</option>${STATUSES.map((s) => html`<option value=${s}>${s}</option>`)}</select></label>
      <label>Task id <input id="filter-task" value=${q.task_id} onChange=${filter('task_id')} placeholder="task id" /></label>
      <label>Tags <input id="filter-tags" value=${q.tags} onChange=${filter('tags')} placeholder="nightly,db" /></label>
      <label>From <input id="filter-since" type="datetime-local" value=${toLocal(q.since)} onChange=${filter('since', toUtc)} /></label>
      <label>To <input id="filter-until" type="datetime-local" value=${toLocal(q.until)} onChange=${filter('until', toUtc)} /></label>
    </form>
    <${Failure} error=${page.error} />
    <p class="actions">
      <button id="bulk-retry" disabled=${!selected.size} onClick=${onSelected('retry')}>Retry selected (${selected.size})</button>
      <button id="bulk-delete" disabled=${!selected.size} onClick=${onSelected('delete')}>Delete selected (${selected.size})</button>
    </p>
    ${results && html`<ul id="bulk-results" data-action=${results.action}>${results.out.map((r) => html`<li class=${r.ok ? 'ok' : 'error'}>${r.id}: ${r.text}</li>`)}</ul>`}
    ${page.items === null ? html`<p class="muted">Loading…</p>` : html`<table id="jobs">
      <thead><tr><th></th><th>Job</th><th>Status</th><th>Outcome</th><th>Task</th><th>Submitted</th><th>Duration</th><th>Attempt</th></tr></thead>
      <tbody>${page.items.map((j) => html`<tr data-job=${j.id} data-status=${j.status}>
        <td>${j.status === 'failed' && html`<input type="checkbox" class="select" checked=${selected.has(j.id)} onChange=${() => toggle(j.id)} />`}</td>
        <td><a href=${'#/jobs/' + j.id}><code>${j.id}</code></a></td>
        <td><${Badge} value=${j.status} /></td><td><${Badge} value=${j.outcome} /></td>
        <td><a href=${hashFor({ task_id: j.task_id })}><code>${j.task_id}</code></a></td>
        <td><${When} at=${j.submitted_at} /></td><td>${duration(j.duration_ms)}</td><td>${j.attempt}/${j.max_attempts}</td>
      </tr>`)}</tbody></table>
      ${!page.items.length && html`<p class="muted" id="no-jobs">No jobs${filtered ? ' match' : ' yet'}.</p>`}
      <p class="paging">
        ${q.after && html`<a href=${hashFor({ ...q, after: '' })}>Newest</a>`}
        ${page.next && html` <a id="next-page" href=${hashFor({ ...q, after: page.next })}>Older →</a>`}
      </p>`}`;
}
