import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vite';
import react from '@vitejs/plugin-react';

const webRoot = fileURLToPath(new URL('.', import.meta.url));

// Built into dist/web-ui, which Sightline serves at / (src/api/ui). Everything
// is bundled: the UI must work where the internet is not reachable.
export default defineConfig({
  root: webRoot,
  base: '/',
  plugins: [react()],
  build: {
    outDir: fileURLToPath(new URL('../dist/web-ui', import.meta.url)),
    emptyOutDir: true,
    target: 'es2022',
    reportCompressedSize: false,
    sourcemap: false,
  },
  server: { proxy: { '/api': 'http://127.0.0.1:3200' } },
});
