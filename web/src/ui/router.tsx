import { useEffect, useState, type AnchorHTMLAttributes, type MouseEvent } from 'react';

/** The browser location as React state; `go` changes it without a reload. */
export function useLocation(): { pathname: string; search: string } {
  const read = () => ({ pathname: window.location.pathname, search: window.location.search });
  const [loc, setLoc] = useState(read);
  useEffect(() => {
    const onPop = () => setLoc(read());
    window.addEventListener('popstate', onPop);
    return () => window.removeEventListener('popstate', onPop);
  }, []);
  return loc;
}

export function go(url: string, opts: { replace?: boolean } = {}): void {
  if (url === window.location.pathname + window.location.search) return;
  if (opts.replace) window.history.replaceState(null, '', url);
  else window.history.pushState(null, '', url);
  window.dispatchEvent(new PopStateEvent('popstate'));
}

/**
 * Writes view state (selection, collapsed rows) into the URL without a
 * re-route, so the link stays shareable but the page is not rebuilt.
 */
export function recordUrl(url: string): void {
  if (url !== window.location.pathname + window.location.search) window.history.replaceState(null, '', url);
}

/** An ordinary link that navigates in-app on a plain click; modified clicks open tabs as usual. */
export function Link({ href, onClick, ...rest }: AnchorHTMLAttributes<HTMLAnchorElement> & { href: string }) {
  const handle = (e: MouseEvent<HTMLAnchorElement>) => {
    onClick?.(e);
    if (e.defaultPrevented || e.button !== 0 || e.metaKey || e.ctrlKey || e.shiftKey || e.altKey) return;
    e.preventDefault();
    go(href);
  };
  return <a href={href} onClick={handle} {...rest} />;
}
