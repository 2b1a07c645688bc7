import { readFile, stat } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { FastifyInstance, FastifyReply } from 'fastify';
import { PUBLIC } from '../../auth/index.js';

/** Where `npm run build` puts the Vite build of web/ (dist/web-ui, next to dist/src). */
export const DEFAULT_UI_DIR = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../../web-ui');

const CONTENT_TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.ico': 'image/x-icon',
  '.json': 'application/json; charset=utf-8',
  '.txt': 'text/plain; charset=utf-8',
  '.map': 'application/json; charset=utf-8',
  '.woff2': 'font/woff2',
};

export interface UiRoutesOptions {
  /** The built UI; default dist/web-ui. */
  dir?: string;
}

/**
 * Serves the web UI at / with a single-page-app fallback: a GET for a path
 * that is not a file gets index.html, and the app routes it (/trace/<id>,
 * /search?q=). The catch-all route is the router's last resort, so every API
 * route keeps precedence, and /api paths that match none still get the API's
 * own 404.
 */
export function registerUiRoutes(app: FastifyInstance, opts: UiRoutesOptions = {}): void {
  const dir = path.resolve(opts.dir ?? DEFAULT_UI_DIR);
  const handler = async (req: { url: string }, reply: FastifyReply) => {
    let urlPath = req.url.split('?')[0];
    try {
      urlPath = decodeURIComponent(urlPath);
    } catch {
      return reply.callNotFound();
    }
    if (urlPath === '/api' || urlPath.startsWith('/api/')) return reply.callNotFound();
    const file = path.join(dir, path.normalize(urlPath));
    if (file.startsWith(dir + path.sep) && (await isFile(file))) {
      const type = CONTENT_TYPES[path.extname(file).toLowerCase()] ?? 'application/octet-stream';
      // Vite puts a content hash in every asset name, so those never change.
      const immutable = urlPath.startsWith('/assets/');
      return reply
        .type(type)
        .header('cache-control', immutable ? 'public, max-age=31536000, immutable' : 'no-cache')
        .send(await readFile(file));
    }
    const index = path.join(dir, 'index.html');
    if (!(await isFile(index))) {
      return reply.code(404).type('text/plain; charset=utf-8').send('the web UI is not built: run npm run build\n');
    }
    return reply.type(CONTENT_TYPES['.html']).header('cache-control', 'no-cache').send(await readFile(index));
  };
  // The app itself holds no data: every API call it makes is authorized on its own.
  app.get('/', { config: { policy: PUBLIC } }, handler);
  app.get('/*', { config: { policy: PUBLIC } }, handler);
}

async function isFile(p: string): Promise<boolean> {
  try {
    return (await stat(p)).isFile();
  } catch {
    return false;
  }
}
