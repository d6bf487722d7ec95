// Vite build of the web console (Preact): hashed, CSP-clean static assets in dist/console, served by the API under /console.
import preact from '@preact/preset-vite';
import { defineConfig } from 'vite';

/** This folder, so the build works from any working directory (npm scripts, the browser tests, the image). */
const here = decodeURIComponent(new URL('.', import.meta.url).pathname);

export default defineConfig({
  root: here,
  base: '/console/',
  // Devtools and hot reload are for `vite dev`; the shipped bundle carries neither.
  plugins: [preact({ devToolsEnabled: false, prefreshEnabled: false })],
  build: {
    outDir: `${here}../dist/console`,
    emptyOutDir: true,
    assetsDir: 'assets',
    // No data: URIs: the CSP allows the console's own files only.
    assetsInlineLimit: 0,
    target: 'es2022',
    sourcemap: false,
  },
  server: { proxy: { '/v1': 'http://127.0.0.1:8080', '/admin': 'http://127.0.0.1:8080' } },
});
