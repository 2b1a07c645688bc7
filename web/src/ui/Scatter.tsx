import { useEffect, useState } from 'react';

/**
 * The width of an element, kept up to date: charts lay themselves out in
 * it. (Search's duration-over-time scatter of the most recent traces gave
 * way to the heatmap of every trace, Heatmap.tsx.)
 */
export function useWidth(ref: React.RefObject<HTMLElement | null>): number {
  const [width, setWidth] = useState(800);
  useEffect(() => {
    const el = ref.current;
    if (!el) return;
    setWidth(el.clientWidth);
    const ro = new ResizeObserver(() => setWidth(el.clientWidth));
    ro.observe(el);
    return () => ro.disconnect();
  }, [ref]);
  return width;
}
