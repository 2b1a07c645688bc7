import type { TraceModel } from './trace.js';

/**
 * Search within a trace. Every whitespace-separated term must match the
 * span somewhere (name, service, span id, status message, an attribute,
 * resource attribute or event name), case-insensitively. `key=value` matches
 * an attribute with that key whose value contains `value`; `key=` an
 * attribute that exists. `"quoted text"` is one term.
 */
export function findSpans(model: TraceModel, query: string): number[] {
  const terms = parseTerms(query);
  if (terms.length === 0) return [];
  const out: number[] = [];
  for (const s of model.spans) {
    let all = true;
    for (const t of terms) {
      if (!matches(s, t)) {
        all = false;
        break;
      }
    }
    if (all) out.push(s.index);
  }
  return out;
}

type Term = { kind: 'text'; text: string } | { kind: 'kv'; key: string; value: string };

export function parseTerms(query: string): Term[] {
  const out: Term[] = [];
  const re = /"([^"]*)"|(\S+)/g;
  for (let m = re.exec(query); m; m = re.exec(query)) {
    if (m[1] !== undefined) {
      if (m[1] !== '') out.push({ kind: 'text', text: m[1].toLowerCase() });
      continue;
    }
    const word = m[2];
    const eq = word.indexOf('=');
    if (eq > 0) out.push({ kind: 'kv', key: word.slice(0, eq).toLowerCase(), value: word.slice(eq + 1).replace(/^"|"$/g, '').toLowerCase() });
    else out.push({ kind: 'text', text: word.toLowerCase() });
  }
  return out;
}

function matches(s: TraceModel['spans'][number], t: Term): boolean {
  if (t.kind === 'kv') {
    const test = (list: { key: string; text: string }[]) => list.some((a) => a.key.toLowerCase() === t.key && a.text.toLowerCase().includes(t.value));
    if (test(s.attributes) || test(s.resource)) return true;
    if (t.key === 'name') return s.name.toLowerCase().includes(t.value);
    if (t.key === 'service' || t.key === 'service.name') return s.service.toLowerCase().includes(t.value);
    if (t.key === 'status') return s.status === t.value;
    if (t.key === 'kind') return s.kind === t.value;
    return false;
  }
  const x = t.text;
  if (s.name.toLowerCase().includes(x) || s.service.toLowerCase().includes(x) || s.spanId.startsWith(x)) return true;
  if (s.statusMessage.toLowerCase().includes(x)) return true;
  for (const a of s.attributes) if (a.key.toLowerCase().includes(x) || a.text.toLowerCase().includes(x)) return true;
  for (const a of s.resource) if (a.text.toLowerCase().includes(x)) return true;
  for (const e of s.events) if (e.name.toLowerCase().includes(x)) return true;
  return false;
}
