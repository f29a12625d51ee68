import {defineConfig} from 'vitest/config'

export default defineConfig({
  test: {
    include: ['test/**/*.test.{ts,tsx}'],
    environment: 'node',
    testTimeout: 20_000,
    // beforeAll hooks start daemons: room for the helper's 40 s start bound on a loaded machine.
    hookTimeout: 60_000,
    // The e2e tests run the built daemon: build first when dist/ is older than src/ (a no-op after `npm run build`).
    globalSetup: ['test/global-setup.ts'],
    // End-to-end files spawn daemons and origins; two cores here, so keep file parallelism modest.
    maxWorkers: 2,
  },
})
