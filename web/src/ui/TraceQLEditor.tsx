import { useEffect, useMemo, useRef, useState, type KeyboardEvent } from 'react';
import {
  tokenize,
  completionContext,
  narrowingQuery,
  fieldItems,
  valueItems,
  operatorItems,
  applyCompletion,
  type CompletionItem,
  type QueryError,
  type TagScopesJson,
  type TagValuesJson,
  placeholderQuery,
} from '../model/index.js';
import { getJson, query, isAbort } from './api.js';

interface Props {
  value: string;
  onChange(text: string): void;
  /** Runs the query (Enter, or Ctrl/Cmd+Enter in a multi-line query). */
  onRun(text: string): void;
  error?: QueryError;
  /** Unix seconds the completions look at (the search's range). */
  range: { start: number; end: number };
  placeholder?: string;
  label?: string;
  testId?: string;
}

/**
 * TraceQL in a textarea laid exactly over a highlighted copy of the text:
 * the browser keeps native editing (selection, undo, IME), the overlay
 * colours the model's tokens and marks the server's error position.
 */
export function TraceQLEditor({ value, onChange, onRun, error, range, placeholder, label = 'TraceQL query', testId = 'traceql' }: Props) {
  const area = useRef<HTMLTextAreaElement>(null);
  const overlay = useRef<HTMLPreElement>(null);
  const [cursor, setCursor] = useState(0);
  const [open, setOpen] = useState(false);
  const [items, setItems] = useState<CompletionItem[]>([]);
  const [active, setActive] = useState(0);
  const tags = useTagScopes(range);
  const example = useExampleQuery(range, placeholder === undefined);
  const valuesCache = useRef(new Map<string, Promise<TagValuesJson>>());

  const tokens = useMemo(() => tokenize(value), [value]);
  const context = useMemo(() => completionContext(value, cursor), [value, cursor]);

  // Completion items for the context at the cursor; values come from the server, narrowed by the rest of the filter.
  useEffect(() => {
    if (!open) return;
    let live = true;
    if (context.kind === 'field') setItems(fieldItems(tags ?? {}, context.prefix, 40));
    else if (context.kind === 'operator') setItems(operatorItems(context.field));
    else if (context.kind === 'value') {
      const q = narrowingQuery(value, cursor);
      const url = `/api/v2/search/tag/${encodeURIComponent(context.field)}/values${query({ q, start: range.start, end: range.end })}`;
      let pending = valuesCache.current.get(url);
      if (!pending) {
        pending = getJson<TagValuesJson>(url).catch(() => ({ tagValues: [] }));
        valuesCache.current.set(url, pending);
      }
      const prefix = context.prefix;
      void pending.then((v) => live && setItems(valueItems(v, prefix, 40)));
    } else setItems([]);
    setActive(0);
    return () => {
      live = false;
    };
  }, [open, context, tags, value, cursor, range.start, range.end]);

  const showList = open && items.length > 0 && context.kind !== 'none';

  const accept = (item: CompletionItem) => {
    if (context.kind === 'none') return;
    const next = applyCompletion(value, context.from, context.to, item.insert);
    onChange(next.text);
    setCursor(next.cursor);
    // After a field, offer operators; after an operator, values: keep the list open.
    setOpen(true);
    requestAnimationFrame(() => {
      area.current?.setSelectionRange(next.cursor, next.cursor);
      area.current?.focus();
    });
  };

  const onKeyDown = (e: KeyboardEvent<HTMLTextAreaElement>) => {
    if (showList) {
      if (e.key === 'ArrowDown' || e.key === 'ArrowUp') {
        e.preventDefault();
        setActive((a) => (a + (e.key === 'ArrowDown' ? 1 : items.length - 1)) % items.length);
        return;
      }
      if (e.key === 'Enter' || e.key === 'Tab') {
        e.preventDefault();
        accept(items[Math.min(active, items.length - 1)]);
        return;
      }
      if (e.key === 'Escape') {
        e.preventDefault();
        setOpen(false);
        return;
      }
    }
    if (e.key === ' ' && e.ctrlKey) {
      e.preventDefault();
      setOpen(true);
      return;
    }
    if (e.key === 'Enter' && (e.ctrlKey || e.metaKey || !e.shiftKey)) {
      e.preventDefault();
      setOpen(false);
      onRun(value);
    }
  };

  const syncCursor = () => setCursor(area.current?.selectionStart ?? 0);
  const lines = value.slice(0, cursor).split('\n');
  const caretLine = lines.length - 1;
  const caretColumn = lines[lines.length - 1].length;

  return (
    <div className={`editor${error ? ' has-error' : ''}`}>
      <div className="editor-field">
        <pre className="editor-overlay" ref={overlay} aria-hidden>
          {highlight(tokens, value, error?.offset)}
          {'\n'}
        </pre>
        <textarea
          ref={area}
          className="editor-input"
          aria-label={label}
          data-testid={testId}
          spellCheck={false}
          autoCapitalize="off"
          autoComplete="off"
          placeholder={placeholder ?? example}
          rows={Math.max(1, value.split('\n').length)}
          value={value}
          onChange={(e) => {
            onChange(e.target.value);
            setCursor(e.target.selectionStart);
            setOpen(true);
          }}
          onKeyDown={onKeyDown}
          onKeyUp={(e) => {
            if (e.key.startsWith('Arrow') && !showList) syncCursor();
          }}
          onClick={syncCursor}
          onBlur={() => setTimeout(() => setOpen(false), 150)}
          onScroll={(e) => {
            if (overlay.current) overlay.current.scrollLeft = e.currentTarget.scrollLeft;
          }}
        />
        {showList && (
          <ul className="completion" role="listbox" style={{ top: `calc(${caretLine + 1} * var(--editor-line) + 10px)`, left: `calc(${Math.min(caretColumn, 80)}ch + 10px)` }}>
            {items.map((it, i) => (
              <li
                key={it.label + it.detail}
                role="option"
                aria-selected={i === active}
                className={i === active ? 'active' : ''}
                onMouseDown={(e) => {
                  e.preventDefault();
                  accept(it);
                }}
              >
                <span className="completion-label">{it.label}</span>
                <span className="completion-detail">{it.detail}</span>
              </li>
            ))}
          </ul>
        )}
      </div>
      {error && (
        <div className="editor-error" role="alert" data-testid="query-error">
          {error.line !== undefined && (
            <span className="editor-error-pos">
              line {error.line}, col {error.column}
            </span>
          )}{' '}
          {error.kind === 'unsupported' ? error.detail : error.detail || error.message}
        </div>
      )}
    </div>
  );
}

function highlight(tokens: ReturnType<typeof tokenize>, text: string, errorAt: number | undefined) {
  const out = tokens.map((t) => {
    const atError = errorAt !== undefined && t.kind !== 'space' && t.start <= errorAt && errorAt < t.end;
    return (
      <span key={t.start} className={`tok-${t.kind}${atError ? ' tok-at-error' : ''}`}>
        {t.text}
      </span>
    );
  });
  // An error at the very end (an unclosed brace) gets a visible mark after the text.
  if (errorAt !== undefined && errorAt >= text.length) out.push(<span key="end" className="tok-at-error tok-end">{' '}</span>);
  return out;
}

/**
 * The example in an empty box, from a service that is in the range (or
 * none): an example naming a service that does not exist teaches nothing.
 */
function useExampleQuery(range: { start: number; end: number }, wanted: boolean): string {
  const [services, setServices] = useState<string[]>([]);
  const key = `${Math.floor(range.start / 60)}-${Math.floor(range.end / 60)}`;
  useEffect(() => {
    if (!wanted) return;
    const abort = new AbortController();
    getJson<TagValuesJson>(`/api/v2/search/tag/resource.service.name/values${query({ start: range.start, end: range.end, limit: 50 })}`, abort.signal)
      .then((r) => setServices((r.tagValues ?? []).map((v) => v.value)))
      .catch(() => undefined);
    return () => abort.abort();
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [key, wanted]);
  return placeholderQuery(services);
}

/** /api/v2/search/tags for the range, fetched once per range. */
function useTagScopes(range: { start: number; end: number }): TagScopesJson | undefined {
  const [tags, setTags] = useState<TagScopesJson>();
  // Rounded to the minute so a preset range does not refetch on every search.
  const key = `${Math.floor(range.start / 60)}-${Math.floor(range.end / 60)}`;
  useEffect(() => {
    const abort = new AbortController();
    getJson<TagScopesJson>(`/api/v2/search/tags${query({ start: range.start, end: range.end })}`, abort.signal)
      .then(setTags)
      .catch((e) => {
        if (!isAbort(e)) setTags({});
      });
    return () => abort.abort();
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [key]);
  return tags;
}
