import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    include: ["test/**/*.test.ts"],
    testTimeout: 60_000,
    hookTimeout: 60_000,
    // Tests spawn the CLI and reader threads; two cores are all CI has.
    maxWorkers: 2,
  },
});
