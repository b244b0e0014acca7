// The dashboard's shell: navigation, the hash router, the API-key prompt and the small pieces every page uses.
import { render } from './vendor/htm-preact.js';
import { html, useState, useEffect } from './ui.js';
import { onKeyNeeded, setKey } from './api.js';
import { Overview } from './overview.js';
import { Jobs } from './jobs.js';
import { Job } from './job.js';
import { Tasks, TaskForm, Orphans } from './tasks.js';
import { RunTask } from './runform.js';

function parseRoute() {
  const [path, query = ''] = location.hash.replace(/^#/, '').split('?');
  return { parts: path.split('/').filter(Boolean).map(decodeURIComponent), query: new URLSearchParams(query) };
}

function Page({ route }) {
  const [a, b, c] = route.parts;
  if (!a) return html`<${Overview} />`;
  if (a === 'jobs' && b) return html`<${Job} id=${b} />`;
  if (a === 'jobs') return html`<${Jobs} query=${route.query} />`;
  if (a === 'tasks' && b === 'new') return html`<${TaskForm} />`;
  if (a === 'tasks' && b && c === 'edit') return html`<${TaskForm} id=${b} />`;
  if (a === 'tasks' && b && c === 'run') return html`<${RunTask} id=${b} />`;
  if (a === 'tasks') return html`<${Tasks} />`;
  if (a === 'orphans') return html`<${Orphans} />`;
  return html`<p class="error">No such page.</p>`;
}

function KeyPrompt({ ask }) {
  const [value, setValue] = useState('');
  const submit = (e) => { e.preventDefault(); if (value) { setKey(value); ask.resolve(); } };
  return html`<div class="modal"><form id="key-form" data-ask=${ask.n} onSubmit=${submit}>
    <h2>API key</h2>
    <p>${ask.reason || 'This server requires an API key.'} It is kept for this browser tab only.</p>
    <input id="api-key" type="password" autocomplete="off" value=${value} onInput=${(e) => setValue(e.target.value)} autofocus />
    <button type="submit">Use key</button>
  </form></div>`;
}

function App() {
  const [route, setRoute] = useState(parseRoute());
  const [ask, setAsk] = useState(null);
  useEffect(() => {
    const on = () => setRoute(parseRoute());
    addEventListener('hashchange', on);
    let waiting = null, n = 0;
    onKeyNeeded((reason) => waiting || (waiting = new Promise((resolve) => {
      n += 1;
      setAsk({ n, reason, resolve: () => { waiting = null; setAsk(null); resolve(); } });
    })));
    return () => removeEventListener('hashchange', on);
  }, []);
  const here = route.parts[0] || '';
  const link = (to, label) => html`<a href=${'#/' + to} class=${here === to ? 'here' : ''}>${label}</a>`;
  return html`<header><strong>taskyard</strong><nav>
      ${link('', 'Overview')} ${link('jobs', 'Jobs')} ${link('tasks', 'Tasks')} ${link('orphans', 'Orphaned')}
      <a href="/docs/">API</a></nav></header>
    <main key=${location.hash}><${Page} route=${route} /></main>
    ${ask && html`<${KeyPrompt} ask=${ask} />`}`;
}

const root = document.getElementById('app');
root.textContent = '';
render(html`<${App} />`, root);
