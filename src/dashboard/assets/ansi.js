// ANSI SGR colours in job output, turned into segments of plain text with a class list and a colour. The text
// is rendered as text nodes by Preact, never as HTML: escapes other than SGR are dropped.
const ESC = /\x1b\[([0-9;]*)([A-Za-z])|\x1b[()][0-9A-Za-z]|\x1b./g;

function rgb256(n) {
  if (n < 16) return null;
  if (n >= 232) { const v = 8 + (n - 232) * 10; return `rgb(${v},${v},${v})`; }
  const c = n - 16, f = (x) => (x ? 55 + x * 40 : 0);
  return `rgb(${f(Math.floor(c / 36))},${f(Math.floor(c / 6) % 6)},${f(c % 6)})`;
}

function apply(st, params) {
  const p = params === '' ? [0] : params.split(';').map((x) => Number(x) || 0);
  for (let i = 0; i < p.length; i++) {
    const n = p[i];
    if (n === 0) { st.fg = st.bg = null; st.bold = st.dim = st.italic = st.underline = false; }
    else if (n === 1) st.bold = true;
    else if (n === 2) st.dim = true;
    else if (n === 3) st.italic = true;
    else if (n === 4) st.underline = true;
    else if (n === 22) st.bold = st.dim = false;
    else if (n === 23) st.italic = false;
    else if (n === 24) st.underline = false;
    else if ((n >= 30 && n <= 37) || (n >= 90 && n <= 97)) st.fg = { cls: 'fg' + n };
    else if (n === 39) st.fg = null;
    else if ((n >= 40 && n <= 47) || (n >= 100 && n <= 107)) st.bg = { cls: 'bg' + n };
    else if (n === 49) st.bg = null;
    else if (n === 38 || n === 48) {
      let colour = null;
      if (p[i + 1] === 5) { const k = p[i + 2]; colour = k < 8 ? { cls: (n === 38 ? 'fg' : 'bg') + (n - 8 + k) } : k < 16 ? { cls: (n === 38 ? 'fg' : 'bg') + (n + 52 + k - 8) } : { css: rgb256(k) }; i += 2; }
      else if (p[i + 1] === 2) { colour = { css: `rgb(${p[i + 2] & 255},${p[i + 3] & 255},${p[i + 4] & 255})` }; i += 4; }
      if (n === 38) st.fg = colour; else st.bg = colour;
    }
  }
}

/** `line` → [{ text, cls, style }] with the state carried over from earlier lines in `st` (mutated). */
export function segments(line, st) {
  const out = [];
  let at = 0, m;
  const push = (text) => {
    if (!text) return;
    const cls = [st.fg && st.fg.cls, st.bg && st.bg.cls, st.bold && 'b', st.dim && 'dim', st.italic && 'i', st.underline && 'u']
      .filter(Boolean).join(' ');
    const style = {};
    if (st.fg && st.fg.css) style.color = st.fg.css;
    if (st.bg && st.bg.css) style.backgroundColor = st.bg.css;
    out.push({ text, cls, style });
  };
  ESC.lastIndex = 0;
  while ((m = ESC.exec(line))) {
    push(line.slice(at, m.index));
    if (m[2] === 'm') apply(st, m[1]);
    at = ESC.lastIndex;
  }
  push(line.slice(at).replace(/[\x00-\x08\x0b-\x1f\x7f]/g, ''));
  return out;
}

export const fresh = () => ({ fg: null, bg: null, bold: false, dim: false, italic: false, underline: false });
