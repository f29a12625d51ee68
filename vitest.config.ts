import {defineConfig} from 'vitest/config'

export default defineConfig({
  test: {
    include: ['test/**/*.test.{ts,tsx}'],
    environment: 'node',
    testTimeout: 20_000,
    hookTimeout: 20_000,
    // End-to-end files spawn daemons and origins; two cores here, so keep file parallelism modest.
    maxWorkers: 2,
  },
})
