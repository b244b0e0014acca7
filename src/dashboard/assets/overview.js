// The overview: jobs by status, what runs now, recent failures, the nodes and their heartbeats, the orphaned
// count. It refreshes while open.
import { html, useState, useEffect, Badge, When, Failure } from './ui.js';
import { get, itemsOf } from './api.js';

const STATUSES = ['pending', 'running', 'completed', 'failed', 'canceled'];
const REFRESH_MS = 5000;

async function load() {
  const totals = await Promise.all(STATUSES.map((s) => get(`/api/v1/jobs?status=${s}&page=1&size=1`).then((p) => p.total)));
  const [running, failed, nodes, orphans] = await Promise.all([
    get('/api/v1/jobs?status=running&size=20'), get('/api/v1/jobs?status=failed&size=10'),
    get('/api/v1/nodes'), get('/api/v1/tasks/$orphaned?size=1'),
  ]);
  return { counts: Object.fromEntries(STATUSES.map((s, i) => [s, totals[i]])), running: itemsOf(running), failed: itemsOf(failed),
    nodes: itemsOf(nodes), orphans: orphans.count };
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
    <div class="columns">
      <section><h2>Running now</h2><${JobRows} jobs=${data.running} none="Nothing runs." /></section>
      <section><h2>Recent failures</h2><${JobRows} jobs=${data.failed} none="No failed jobs." /></section>
    </div>
    <section><h2>Nodes</h2><table id="nodes"><thead><tr><th>Node</th><th>Status</th><th>Host</th><th>Running</th><th>Last heartbeat</th></tr></thead>
      <tbody>${data.nodes.map((n) => html`<tr><td><code>${n.id}</code></td><td><${Badge} value=${n.status} /></td>
        <td>${n.hostname} (${n.address})</td><td>${n.running_jobs}/${n.max_concurrency}</td><td><${When} at=${n.last_heartbeat_at} /></td></tr>`)}</tbody></table></section>`}`;
}
