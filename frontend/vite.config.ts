import { defineConfig } from 'vitest/config';
import react from '@vitejs/plugin-react';
import { writeFileSync } from 'node:fs';

// The console is served by the Go binary from frontend/dist (go:embed), so
// the build goes there; `npm run dev` proxies the API to a local platform.
export default defineConfig({
  plugins: [
    react(),
    {
      // dist/.keep is committed so go:embed finds the folder on machines without Node.
      name: 'keep-dist-placeholder',
      closeBundle() {
        writeFileSync('dist/.keep', '');
      },
    },
  ],
  build: {
    outDir: 'dist',
    emptyOutDir: true,
    sourcemap: false,
    chunkSizeWarningLimit: 600,
  },
  server: {
    proxy: {
      '/api': process.env.HELPDESK_URL ?? 'http://127.0.0.1:8080',
      '/ops': process.env.HELPDESK_URL ?? 'http://127.0.0.1:8080',
    },
  },
  test: {
    environment: 'jsdom',
    globals: true,
    include: ['src/**/*.test.{ts,tsx}'],
    setupFiles: ['src/test/setup.ts'],
    // Component tests drive whole forms with user-event; on a loaded 2-core
    // CI machine the longest took over the 5 s default.
    testTimeout: 30_000,
  },
});
