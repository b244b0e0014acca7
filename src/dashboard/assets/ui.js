// What every page uses: the Preact + htm functions, labels for states and times, errors, loading.
import { html, useState, useEffect } from './vendor/htm-preact.js';

export { html, useState, useEffect };

/** A status or outcome as a coloured label. */
export const Badge = ({ value }) => value == null ? '' : html`<span class=${'badge s-' + value}>${value}</span>`;

/** A time shown in the browser's zone, the exact UTC value on hover. */
export const When = ({ at }) => at ? html`<time datetime=${at} title=${at}>${new Date(at).toLocaleString()}</time>` : '';

export function duration(ms) {
  if (ms == null) return '';
  if (ms < 1000) return `${ms} ms`;
  const s = ms / 1000;
  return s < 60 ? `${s.toFixed(1)} s` : `${Math.floor(s / 60)} min ${Math.round(s % 60)} s`;
}

/** An error from the API, in words. */
export const Failure = ({ error }) => error ? html`<p class="error" role="alert">${error.message || String(error)}</p>` : '';

/** Runs `load` now and whenever `deps` change; returns [data, error, reload]. */
export function useLoad(load, deps) {
  const [state, set] = useState({ data: null, error: null });
  const [tick, setTick] = useState(0);
  useEffect(() => {
    let live = true;
    load().then((data) => live && set({ data, error: null }), (error) => live && set((s) => ({ data: s.data, error })));
    return () => { live = false; };
  }, [...deps, tick]);
  return [state.data, state.error, () => setTick((t) => t + 1)];
}
