// One job: its record (every field the server sends, known or not), progress, retries, actions, and its output
// following `$stream` live: stdout and stderr told apart, ANSI colours as styled text (never HTML), the tail
// followed, truncation marked, a dropped connection resumed without gaps or repeats. Actions: cancel, retry,
// delete, download the output.
import { html, useState, useEffect, Badge, When, duration, Failure } from './ui.js';
import { call, follow, download } from './api.js';
import { segments, fresh } from './ansi.js';
import { useRef } from './vendor/htm-preact.js';

const SHOWN = ['id', 'status', 'outcome', 'task_id', 'attempt', 'max_attempts', 'progress', 'duration_ms'];

function Value({ v }) {
  if (v == null) return html`<span class="muted">—</span>`;
  if (typeof v === 'object') return html`<code>${JSON.stringify(v)}</code>`;
  if (typeof v === 'string' && /^\d{4}-\d\d-\d\dT/.test(v)) return html`<${When} at=${v} />`;
  return String(v);
}

function Record({ job }) {
  const rest = Object.keys(job).filter((k) => !SHOWN.includes(k));
  return html`<dl class="record">${rest.map((k) => html`<dt>${k}</dt><dd data-field=${k}><${Value} v=${job[k]} /></dd>`)}</dl>`;
}

function Progress({ p }) {
  if (!p) return '';
  const pct = Math.max(0, Math.min(100, p.percent));
  return html`<div class="progress" title=${`${pct}%`}><div class="bar" style=${{ width: pct + '%' }}></div>
    <span>${pct.toFixed(0)}%${p.total != null ? ` (${p.done}/${p.total})` : ''}</span></div>`;
}

function Line({ item }) {
  if (item.kind === 'note') return html`<div class=${'note ' + item.cls}>${item.text}</div>`;
  return html`<div class=${'line ' + item.kind}>${item.segs.map((s) => s.cls || Object.keys(s.style).length
    ? html`<span class=${s.cls} style=${s.style}>${s.text}</span>` : s.text)}</div>`;
}

export function Job({ id }) {
  const [job, setJob] = useState(null);
  const [error, setError] = useState(null);
  const [conn, setConn] = useState('connecting');
  const [, redraw] = useState(0);
  const lines = useRef([]);
  const ansi = useRef({ stdout: fresh(), stderr: fresh() });
  const box = useRef(null);
  const [tail, setTail] = useState(true);

  useEffect(() => {
    lines.current = [];
    let frame = 0;
    const flush = () => { frame = 0; redraw((n) => n + 1); };
    const add = (item) => { lines.current.push(item); if (!frame) frame = requestAnimationFrame(flush); };
    const stop = follow(id, (e) => {
      if (e.event === 'message') setJob(JSON.parse(e.data));
      else if (e.event === 'stdout' || e.event === 'stderr') add({ kind: e.event, seq: e.id, segs: segments(e.data, ansi.current[e.event]) });
      else if (e.event === 'progress') setJob((j) => j && { ...j, progress: JSON.parse(e.data) });
      else if (e.event === 'truncated') {
        const t = JSON.parse(e.data);
        add({ kind: 'note', cls: 'truncated', text: `… ${t.dropped_lines} ${t.stream} lines (${t.dropped_bytes} bytes) not kept: the output bound is ${t.limit_bytes} bytes; the last lines follow` });
      } else if (e.event === 'retry') {
        const r = JSON.parse(e.data);
        add({ kind: 'note', cls: 'retry', text: `attempt ${r.attempt} ended (${r.outcome}${r.error ? ': ' + r.error : ''}); attempt ${r.next_attempt} runs at ${r.run_at}` });
      }
    }, (state, err) => { setConn(state); if (err) setError(err); });
    return () => { stop(); if (frame) cancelAnimationFrame(frame); };
  }, [id]);

  useEffect(() => { if (tail && box.current) box.current.scrollTop = box.current.scrollHeight; });

  const act = (what) => async () => {
    setError(null);
    try {
      const { body } = await call('POST', `/api/v1/jobs/${id}/$${what}`);
      if (what === 'retry' && body && body.id) location.hash = '#/jobs/' + body.id;
    } catch (e) { setError(e); }
  };
  const remove = async () => {
    if (!confirm('Delete this job and its output?')) return;
    try { await call('DELETE', `/api/v1/jobs/${id}`); location.hash = '#/jobs'; } catch (e) { setError(e); }
  };
  const onScroll = (e) => { const el = e.target; setTail(el.scrollHeight - el.scrollTop - el.clientHeight < 24); };
  const running = job && (job.status === 'pending' || job.status === 'running');

  return html`<h1>Job <code>${id}</code></h1>
    <${Failure} error=${error} />
    ${!job ? html`<p class="muted">Loading…</p>` : html`
    <p class="summary"><span id="job-status"><${Badge} value=${job.status} /></span> <${Badge} value=${job.outcome} />
      attempt ${job.attempt} of ${job.max_attempts} · ${duration(job.duration_ms) || (running ? 'running' : '')}
      · task <a href=${'#/jobs?task_id=' + job.task_id}><code>${job.task_id}</code></a>
      · <span class="muted" id="stream-state">${conn}</span></p>
    <${Progress} p=${job.progress} />
    <p class="actions">
      <button id="cancel" disabled=${!running} onClick=${act('cancel')}>Cancel</button>
      <button id="retry" disabled=${running} onClick=${act('retry')}>Retry</button>
      <button id="download" onClick=${() => download(id).catch(setError)}>Download output</button>
      <button id="delete" disabled=${running} onClick=${remove}>Delete</button>
    </p>`}
    <h2>Output <label class="follow"><input type="checkbox" checked=${tail} onChange=${(e) => setTail(e.target.checked)} /> follow</label></h2>
    <div id="output" class="output" ref=${box} onScroll=${onScroll}>${lines.current.map((it) => html`<${Line} item=${it} />`)}</div>
    ${job && html`<h2>Record</h2><${Record} job=${job} />`}`;
}
