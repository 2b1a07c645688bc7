import { useEffect, useState } from 'react';
import { ApiError, getJson, isAbort } from './api.js';

/** A JSON read's state, as a page renders it. */
export type Load<T> = { status: 'loading' } | { status: 'error'; error: ApiError } | { status: 'done'; data: T };

/**
 * Reads `url` as JSON while the page shows it, again when `url` or `run`
 * changes (`run` is a refresh button's counter); the read in flight is
 * aborted when either changes or the page goes.
 */
export function useApi<T>(url: string, run = 0): Load<T> {
  const [load, setLoad] = useState<Load<T>>({ status: 'loading' });
  useEffect(() => {
    const abort = new AbortController();
    setLoad({ status: 'loading' });
    getJson<T>(url, abort.signal)
      .then((data) => setLoad({ status: 'done', data }))
      .catch((e) => !isAbort(e) && setLoad({ status: 'error', error: e instanceof ApiError ? e : new ApiError(0, String(e), url) }));
    return () => abort.abort();
  }, [url, run]);
  return load;
}
