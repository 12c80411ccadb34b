import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vite';

// The UI is built into dist/web, which `hearth serve` serves at `/`.
export default defineConfig({
  root: fileURLToPath(new URL('.', import.meta.url)),
  base: './',
  build: {
    outDir: fileURLToPath(new URL('../dist/web', import.meta.url)),
    emptyOutDir: true,
    chunkSizeWarningLimit: 2048,
  },
  logLevel: 'warn',
});
