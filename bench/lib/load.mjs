// Load generation with autocannon (in this process, which run.mjs pins to the client core).
// Latencies are collected from autocannon's per-response event with sub-millisecond resolution
// (its own histogram rounds to whole milliseconds, too coarse for hits on loopback).
import autocannon from 'autocannon'

import {latencyStats, procCpuSeconds} from './common.mjs'

/** Loads under way (two at once when servers are measured side by side). */
const running = new Set()

/** Stop every running load (used by cleanup on Ctrl-C). */
export function stopLoad() {
  for (const inst of running) inst.stop()
}

/**
 * Run one bounded load. opts: url, path | paths (cycled in order, shared by all connections),
 * connections, duration (s) or amount, headers, serverPid (a pid or an array of pids: server CPU use, summed), onSample(tEndMs, latencyMs).
 * The returned promise has .stop() to end the load early.
 * Resolves {rps, requests, durationS, bytesPerSec, latency: {p50, p90, p99, max}, errors, non2xx, serverCpu}.
 */
export function runLoad({url, path = '/', paths, connections = 32, duration, amount, headers = {}, serverPid, onSample, timeoutS = 10, method = 'GET'}) {
  const opts = {
    url: url + path,
    connections,
    pipelining: 1,
    timeout: timeoutS,
    headers,
    method,
  }
  if (amount) opts.amount = amount
  else opts.duration = duration ?? 5
  if (paths) {
    let i = 0
    opts.requests = [{setupRequest: (req) => ({...req, path: paths[i++ % paths.length]})}]
  }
  const lat = []
  const pids = [].concat(serverPid ?? [])
  const cpuOf = () => (pids.length ? pids.reduce((a, pid) => a + (procCpuSeconds(pid) ?? NaN), 0) : null)
  const cpu0 = cpuOf()
  const t0 = performance.now()
  let inst
  const p = new Promise((resolve, reject) => {
    inst = autocannon(opts, (err, result) => {
      running.delete(inst)
      if (err) return reject(err)
      const wall = (performance.now() - t0) / 1000
      const cpu1 = cpuOf()
      const l = latencyStats(lat)
      const durationS = result.duration || wall
      resolve({
        rps: result.requests.total / durationS,
        requests: result.requests.total,
        durationS,
        bytesPerSec: result.throughput.total / durationS,
        latency: {p50: l.p50, p90: l.p90, p99: l.p99, max: l.max},
        errors: result.errors,
        timeouts: result.timeouts,
        non2xx: result.non2xx,
        serverCpu: cpu0 !== null && cpu1 !== null ? (cpu1 - cpu0) / wall : null,
        // server CPU time per request (µs): robust against the share of the core the server happened to get
        cpuUsPerReq: cpu0 !== null && cpu1 !== null && result.requests.total > 0 ? ((cpu1 - cpu0) * 1e6) / result.requests.total : null,
      })
    })
    running.add(inst)
    inst.on('response', (_client, status, _bytes, ms) => {
      lat.push(ms)
      onSample?.(performance.now(), ms, status)
    })
  })
  /** End the load early (the result covers the time until then). */
  p.stop = () => inst.stop()
  return p
}
