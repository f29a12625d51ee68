// A vitest reporter that writes the run's honest counts to $TAVERN_TEST_SUMMARY (JSON), for scripts/test-ci.mjs.
// vitest's JSON report counts only failed tests: a file that fails to load, a throwing beforeAll/afterAll and an
// unhandled error all leave numFailedTests at 0. Here each of those counts as one failure.
import {writeFileSync} from 'node:fs'

/** Errors attached to a module or suite itself (collection/import errors, beforeAll/afterAll hooks). */
function ownErrors(entity) {
  try {
    return entity.errors()
  } catch {
    return []
  }
}

export default class SummaryReporter {
  onTestRunEnd(testModules, unhandledErrors, reason) {
    const out = process.env.TAVERN_TEST_SUMMARY
    const c = {passed: 0, failedTests: 0, skipped: 0, loadErrors: 0, hookErrors: 0, unhandledErrors: unhandledErrors.length, interrupted: reason === 'interrupted', problems: []}
    for (const m of testModules) {
      for (const t of m.children.allTests()) {
        const s = t.result().state
        if (s === 'passed') c.passed++
        else if (s === 'failed') c.failedTests++
        else c.skipped++ // skipped, todo, or never run (pending)
      }
      // A module error with no tests collected is a file that failed to load; otherwise a module-level hook failed.
      const moduleErrors = ownErrors(m).length
      const collected = [...m.children.allTests()].length
      if (moduleErrors) {
        if (collected === 0) c.loadErrors++
        else c.hookErrors++
        c.problems.push(`${m.relativeModuleId}: ${ownErrors(m)[0]?.message ?? 'error'}`)
      }
      for (const s of m.children.allSuites()) {
        if (ownErrors(s).length) {
          c.hookErrors++
          c.problems.push(`${m.relativeModuleId} > ${s.fullName}: ${ownErrors(s)[0]?.message ?? 'error'}`)
        }
      }
    }
    for (const e of unhandledErrors) c.problems.push(`unhandled: ${e.message ?? e.name ?? 'error'}`)
    if (out) writeFileSync(out, JSON.stringify(c))
  }
}
