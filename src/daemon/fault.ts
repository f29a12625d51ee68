/**
 * Fault injection for tests only (README, Development): `TAVERN_FAULT`, read once when `serve` starts, a comma-separated
 * list of
 *   uncaught-on-request:/path    a request for exactly /path throws an exception nobody catches
 *   rejection-on-request:/path   a request for exactly /path leaves a promise rejection unhandled
 *   stall-shutdown               graceful shutdown never finishes (to exercise the shutdown watchdog)
 * Unset (the normal case), nothing is wrapped and nothing costs anything.
 */
export interface Faults {
  uncaughtOnRequest?: string
  rejectionOnRequest?: string
  stallShutdown?: boolean
}

export class FaultSpecError extends Error {}

export function parseFaults(spec: string | undefined): Faults {
  const faults: Faults = {}
  if (!spec) return faults
  for (const raw of spec.split(',')) {
    const item = raw.trim()
    if (!item) continue
    const colon = item.indexOf(':')
    const name = colon < 0 ? item : item.slice(0, colon)
    const arg = colon < 0 ? '' : item.slice(colon + 1)
    if (name === 'uncaught-on-request' && arg.startsWith('/')) faults.uncaughtOnRequest = arg
    else if (name === 'rejection-on-request' && arg.startsWith('/')) faults.rejectionOnRequest = arg
    else if (name === 'stall-shutdown' && arg === '') faults.stallShutdown = true
    else throw new FaultSpecError(`TAVERN_FAULT: unknown fault ${JSON.stringify(item)} (test-only; see the README's Development section)`)
  }
  return faults
}

/** Wrap a request handler with the request faults, or return it unchanged when there are none. */
export function withRequestFaults<Req extends {url?: string}, Res>(handler: (req: Req, res: Res) => void, faults: Faults): (req: Req, res: Res) => void {
  const {uncaughtOnRequest: uncaught, rejectionOnRequest: rejection} = faults
  if (uncaught === undefined && rejection === undefined) return handler
  return (req, res) => {
    if (req.url === uncaught) {
      // Thrown from a fresh macrotask: outside any promise chain or emitter, i.e. truly uncaught.
      setImmediate(() => {
        throw new Error(`TAVERN_FAULT: uncaught exception injected on ${uncaught}`)
      })
    } else if (req.url === rejection) {
      // Deliberately unhandled: that is the fault.
      void Promise.reject(new Error(`TAVERN_FAULT: unhandled rejection injected on ${rejection}`))
    }
    handler(req, res)
  }
}
