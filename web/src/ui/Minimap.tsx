import { useEffect, useRef, useState } from 'react';
import type { Layout, PathRole, TraceModel } from '../model/index.js';
import { serviceColor } from './common.js';

const HEIGHT = 44;

/**
 * The whole trace in miniature, one hairline per span, drawn once per
 * layout (O(spans), never per frame). Dragging across it zooms the
 * waterfall to that stretch of time; a double click shows all of it again.
 * Spans off the critical path are faint, as their rows are.
 */
export function Minimap({
  model,
  layout,
  zoom,
  onZoom,
  roles,
}: {
  model: TraceModel;
  layout: Layout;
  zoom: [number, number] | undefined;
  onZoom(z: [number, number] | undefined): void;
  roles?: PathRole[];
}) {
  const canvas = useRef<HTMLCanvasElement>(null);
  const box = useRef<HTMLDivElement>(null);
  const [width, setWidth] = useState(0);
  const [brush, setBrush] = useState<{ from: number; to: number }>();

  useEffect(() => {
    const el = box.current;
    if (!el) return;
    setWidth(el.clientWidth);
    const ro = new ResizeObserver(() => setWidth(el.clientWidth));
    ro.observe(el);
    return () => ro.disconnect();
  }, []);

  useEffect(() => {
    const c = canvas.current;
    if (!c || width === 0) return;
    const ratio = window.devicePixelRatio || 1;
    c.width = Math.round(width * ratio);
    c.height = Math.round(HEIGHT * ratio);
    const g = c.getContext('2d');
    if (!g) return;
    g.scale(ratio, ratio);
    g.clearRect(0, 0, width, HEIGHT);
    const n = model.spans.length;
    const rowH = Math.max(HEIGHT / Math.max(n, 1), 0.5);
    const colors = model.services.map((_, i) => serviceColor(i));
    for (let i = 0; i < n; i++) {
      g.globalAlpha = roles?.[i] === 'off' ? 0.25 : 1;
      g.fillStyle = colors[model.spans[i].serviceIndex];
      g.fillRect(layout.left[i] * width, (i / n) * HEIGHT, Math.max(1, layout.width[i] * width), Math.max(1, rowH));
    }
  }, [model, layout, width, roles]);

  const fractionAt = (e: React.PointerEvent) => {
    const r = e.currentTarget.getBoundingClientRect();
    return Math.max(0, Math.min(1, (e.clientX - r.left) / r.width));
  };
  const shown = brush ? [Math.min(brush.from, brush.to), Math.max(brush.from, brush.to)] : zoom;

  return (
    <div
      className="minimap"
      ref={box}
      data-testid="minimap"
      title="Drag to zoom into a stretch of time; double-click to show all"
      onPointerDown={(e) => {
        const f = fractionAt(e);
        setBrush({ from: f, to: f });
        e.currentTarget.setPointerCapture(e.pointerId);
      }}
      onPointerMove={(e) => brush && setBrush({ ...brush, to: fractionAt(e) })}
      onPointerUp={() => {
        if (brush) {
          const a = Math.min(brush.from, brush.to);
          const b = Math.max(brush.from, brush.to);
          if (b - a > 0.002) onZoom([a, b]);
        }
        setBrush(undefined);
      }}
      onDoubleClick={() => onZoom(undefined)}
    >
      <canvas ref={canvas} style={{ width: '100%', height: HEIGHT }} />
      {shown && (
        <>
          <div className="minimap-shade" style={{ left: 0, width: `${shown[0] * 100}%` }} />
          <div className="minimap-window" style={{ left: `${shown[0] * 100}%`, width: `${(shown[1] - shown[0]) * 100}%` }} />
          <div className="minimap-shade" style={{ left: `${shown[1] * 100}%`, right: 0 }} />
        </>
      )}
    </div>
  );
}
