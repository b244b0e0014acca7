// The one way the pages talk to the server: the public JSON API (X-API-Key from sessionStorage when the server
// wants one) and the job's `$stream`, read with fetch so the key travels in a header, never in a URL.
const KEY = 'taskyard.apiKey';
let askKey = null;

/** The app gives the function that asks the user for a key (it resolves once one was entered). */
export function onKeyNeeded(ask) { askKey = ask; }
export function forgetKey() { sessionStorage.removeItem(KEY); }
export function setKey(k) { sessionStorage.setItem(KEY, k); }

/** An answer of problem+json: `problem` holds its body (code, detail, status). */
export class ProblemError extends Error {
  constructor(problem) { super(problem.detail || problem.title || `HTTP ${problem.status}`); this.problem = problem; }
}

function headers(extra) {
  const h = { Accept: 'application/json', ...extra };
  const k = sessionStorage.getItem(KEY);
  if (k) h['X-API-Key'] = k;
  return h;
}

async function problemOf(res) {
  try { return await res.json(); } catch { return { status: res.status, title: res.statusText, code: 'http_' + res.status }; }
}

/** fetch with the key; a 401 asks for a key and tries again. */
async function send(path, init) {
  for (;;) {
    const res = await fetch(path, { ...init, headers: headers(init.headers) });
    if (res.status !== 401 || !askKey) return res;
    const p = await problemOf(res);
    forgetKey();
    await askKey(p.detail);
  }
}

/** A JSON call; resolves to { body, res }; rejects with ProblemError for an answer that is not 2xx. */
export async function call(method, path, body) {
  const init = { method, headers: {} };
  if (body !== undefined) { init.body = JSON.stringify(body); init.headers['Content-Type'] = 'application/json'; }
  const res = await send(path, init);
  if (!res.ok) throw new ProblemError(await problemOf(res));
  const text = await res.text();
  return { body: text ? JSON.parse(text) : null, res };
}
export const get = async (path) => (await call('GET', path)).body;

/** The items of a list answer, in either of its forms: an array (with `after`) or a numbered page. */
export const itemsOf = (body) => (Array.isArray(body) ? body : body.items);

/** The job's output as a file, through the API (so the key stays in a header). */
export async function download(jobId) {
  const lines = [];
  let after = 0;
  for (;;) {
    const page = await get(`/api/v1/jobs/${jobId}/output?after_seq=${after}&limit=10000`);
    const items = page.items || [];
    for (const it of items) lines.push(it.line);
    if (!page.has_more) break;
    after = page.next_after_seq;
  }
  const url = URL.createObjectURL(new Blob([lines.join('\n') + '\n'], { type: 'text/plain' }));
  const a = Object.assign(document.createElement('a'), { href: url, download: `job-${jobId}.log` });
  a.click();
  URL.revokeObjectURL(url);
}

const FINAL = new Set(['completed', 'failed', 'canceled']);

/**
 * Follows a job's `$stream` until its final record: `onEvent({id, event, data})` for each event, in order, once
 * each. A dropped connection resumes with `Last-Event-ID` after the server's `retry` delay, so nothing is missed
 * or repeated. Returns a function that stops following.
 */
export function follow(jobId, onEvent, onState) {
  const ctl = { stopped: false, abort: null };
  let last = null, retryMs = 2000;
  const run = async () => {
    while (!ctl.stopped) {
      const abort = new AbortController();
      ctl.abort = abort;
      let finished = false;
      try {
        const h = { Accept: 'text/event-stream' };
        if (last !== null) h['Last-Event-ID'] = String(last);
        const res = await send(`/api/v1/jobs/${jobId}/$stream`, { headers: h, signal: abort.signal });
        if (res.status === 204) return onState && onState('ended');
        if (!res.ok) throw new ProblemError(await problemOf(res));
        onState && onState('live');
        const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
        let buf = '', ev = { data: [] };
        for (;;) {
          const { value, done } = await reader.read();
          if (done) break;
          buf += value;
          let nl;
          while ((nl = buf.search(/\r\n|\r|\n/)) >= 0) {
            const line = buf.slice(0, nl);
            buf = buf.slice(nl + (buf.startsWith('\r\n', nl) ? 2 : 1));
            if (line === '') {
              if (ev.data.length) {
                const e = { id: ev.id, event: ev.event || 'message', data: ev.data.join('\n') };
                if (e.id !== undefined) last = Number(e.id);
                onEvent(e);
                if (e.event === 'message' && FINAL.has(JSON.parse(e.data).status)) finished = true;
              }
              ev = { data: [] };
              continue;
            }
            const colon = line.indexOf(':');
            if (colon === 0) continue;
            const field = colon < 0 ? line : line.slice(0, colon);
            let v = colon < 0 ? '' : line.slice(colon + 1);
            if (v.startsWith(' ')) v = v.slice(1);
            if (field === 'data') ev.data.push(v);
            else if (field === 'id') ev.id = v;
            else if (field === 'event') ev.event = v;
            else if (field === 'retry' && /^\d+$/.test(v)) retryMs = Number(v);
          }
        }
      } catch (err) {
        if (ctl.stopped) return;
        if (err instanceof ProblemError) return onState && onState('error', err);
      }
      if (finished) return onState && onState('ended');
      if (ctl.stopped) return;
      onState && onState('reconnecting');
      await new Promise((r) => setTimeout(r, retryMs));
    }
  };
  run();
  return () => { ctl.stopped = true; if (ctl.abort) ctl.abort.abort(); };
}
