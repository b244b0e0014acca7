// The overview: jobs by status, a chart of jobs finished per minute by outcome, what runs now, recent failures, the nodes and their heartbeats, the orphaned
// count. It refreshes while open.
import { html, useState, useEffect, Badge, When, Failure } from './ui.js';
import { get, itemsOf } from './api.js';

const STATUSES = ['pending', 'running', 'completed', 'failed', 'canceled'];
const REFRESH_MS = 5000;

async function load() {
  const totals = await Promise.all(STATUSES.map((s) => get(`/api/v1/jobs?status=${s}&page=1&size=1`).then((p) => p.total)));
  const [running, failed, nodes, orphans, finished] = await Promise.all([
    get('/api/v1/jobs?status=running&size=20'), get('/api/v1/jobs?status=failed&size=10'),
    get('/api/v1/nodes'), get('/api/v1/tasks/$orphaned?size=1'), get('/api/v1/stats/finished?minutes=60'),
  ]);
  return { counts: Object.fromEntries(STATUSES.map((s, i) => [s, totals[i]])), running: itemsOf(running), failed: itemsOf(failed),
    nodes: itemsOf(nodes), orphans: orphans.count, finished };
}

/** Which bar an outcome adds to: success, canceled, or a failure of any kind. */
const kindOf = (outcome) => (outcome === 'success' ? 'success' : outcome === 'canceled' ? 'canceled' : 'failure');
const KINDS = ['success', 'failure', 'canceled'];

/** Jobs finished per minute over the window, stacked by kind of outcome, as an SVG picture. */
function Chart({ stats }) {
  const W = 720, H = 140, top = 8, bottom = 18, n = stats.minutes;
  const start = Date.parse(stats.since);
  const bars = Array.from({ length: n }, () => ({ success: 0, failure: 0, canceled: 0 }));
  for (const c of stats.counts) {
    const i = Math.round((Date.parse(c.minute) - start) / 60000);
    if (i >= 0 && i < n) bars[i][kindOf(c.outcome)] += c.count;
  }
  const max = Math.max(1, ...bars.map((b) => b.success + b.failure + b.canceled));
  const bw = W / n, scale = (H - top - bottom) / max;
  const total = (k) => bars.reduce((s, b) => s + b[k], 0);
  const rects = [];
  bars.forEach((b, i) => {
    let y = H - bottom;
    for (const k of KINDS) {
      if (!b[k]) continue;
      const h = b[k] * scale;
      y -= h;
      const at = new Date(start + i * 60000).toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' });
      rects.push(html`<rect class=${k} x=${i * bw + 1} y=${y} width=${Math.max(1, bw - 2)} height=${h}><title>${at}: ${b[k]} ${k}</title></rect>`);
    }
  });
  const ticks = [0, 15, 30, 45].filter((m) => m < n).map((m) => html`<text x=${m * bw} y=${H - 4}>
    ${new Date(start + m * 60000).toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' })}</text>`);
  return html`<figure>
    <svg id="finished-chart" class="chart" viewBox=${`0 0 ${W} ${H}`} width="100%" role="img"
      aria-label=${`Jobs finished per minute over the last ${n} minutes`}>
      <text x="2" y=${top + 4}>${max}/min</text>${rects}${ticks}</svg>
    <figcaption class="muted">Finished per minute, last ${n} minutes: ${KINDS.map((k) => html`<span class=${'key ' + k}>${total(k)} ${k}</span> `)}</figcaption>
  </figure>`;
}

const JobRows = ({ jobs, none }) => jobs.length ? html`<ul class="joblist">${jobs.map((j) => html`<li>
  <a href=${'#/jobs/' + j.id}><code>${j.id}</code></a> <${Badge} value=${j.outcome || j.status} />
  <small class="muted">${(j.argv || []).join(' ')}</small> ${j.error && html`<small class="error">${j.error}</small>`}</li>`)}</ul>`
  : html`<p class="muted">${none}</p>`;

export function Overview() {
  const [data, setData] = useState(null);
  const [error, setError] = useState(null);
  const [tick, setTick] = useState(0);
  useEffect(() => {
    let live = true;
    load().then((d) => { if (live) { setData(d); setError(null); } }, (e) => live && setError(e));
    const timer = setTimeout(() => setTick((t) => t + 1), REFRESH_MS);
    return () => { live = false; clearTimeout(timer); };
  }, [tick]);
  return html`<h1>Overview</h1><${Failure} error=${error} />
    ${data && html`
    <section class="counts" id="counts">${STATUSES.map((s) => html`<a class="count" href=${'#/jobs?status=' + s} data-status=${s}>
      <strong>${data.counts[s]}</strong><${Badge} value=${s} /></a>`)}
      <a class="count" href="#/orphans"><strong id="orphaned">${data.orphans}</strong><span class="badge">orphaned tasks</span></a></section>
    <section><h2>Jobs finished per minute</h2><${Chart} stats=${data.finished} /></section>
    <div class="columns">
      <section><h2>Running now</h2><${JobRows} jobs=${data.running} none="Nothing runs." /></section>
      <section><h2>Recent failures</h2><${JobRows} jobs=${data.failed} none="No failed jobs." /></section>
    </div>
    <section><h2>Nodes</h2><table id="nodes"><thead><tr><th>Node</th><th>Status</th><th>Host</th><th>Running</th><th>Last heartbeat</th></tr></thead>
      <tbody>${data.nodes.map((n) => html`<tr><td><code>${n.id}</code></td><td><${Badge} value=${n.status} /></td>
        <td>${n.hostname} (${n.address})</td><td>${n.running_jobs}/${n.max_concurrency}</td><td><${When} at=${n.last_heartbeat_at} /></td></tr>`)}</tbody></table></section>`}`;
}
