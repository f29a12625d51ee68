/**
 * Profiling the running daemon through node:inspector, in-process (no --inspect port is opened):
 * - a CPU profile over N seconds (V8 sampling profiler; the result is a .cpuprofile Chrome DevTools opens),
 * - a heap snapshot, streamed chunk by chunk to a file (never built up as one string; a snapshot can be hundreds of MB).
 *
 * One profile at a time, of any kind, and a CPU profile lasts at most 120 s: anything else is refused with a
 * ProfileError whose code is a catalogue code. A CPU profile can be cut short with an AbortSignal (the admin route
 * aborts when its client goes away). A heap snapshot stops the daemon's thread while V8 writes it (seconds on a large
 * heap) and needs extra memory of the order of the heap: it is an operator's deliberate act, not something to poll.
 */
import {closeSync, fsyncSync, openSync, writeSync} from 'node:fs'
import {Session} from 'node:inspector/promises'

import {TavernError} from '../core/errors.js'
import type {CpuProfile} from './cpuprofile-summary.js'

export const PROFILE_LIMITS = Object.freeze({
  defaultSeconds: 10,
  minSeconds: 0.1,
  maxSeconds: 120,
  /** V8's sampling interval, µs (node --cpu-prof uses 1000). */
  defaultIntervalUs: 1000,
  minIntervalUs: 50,
  maxIntervalUs: 100_000,
})

/** The profiler's catalogue codes (src/core/errors.ts). */
export type ProfileErrorCode = 'TAVERN_ERR_PROFILE_BUSY' | 'TAVERN_ERR_PROFILE_DURATION' | 'TAVERN_ERR_PROFILE_OPTION' | 'TAVERN_ERR_PROFILE_FAILED'

export class ProfileError extends TavernError {
  constructor(code: ProfileErrorCode, message: string) {
    super(code, message)
    this.name = 'ProfileError'
  }
}

export type ProfileKind = 'cpu' | 'heap'

export interface RunningProfile {
  kind: ProfileKind
  /** ms epoch. */
  startedAt: number
  /** Planned length of a CPU profile, s. */
  seconds?: number
}

export interface CpuProfileOptions {
  seconds?: number
  intervalUs?: number
  /** Ends the profile early; the result then has `aborted: true` and covers the time until then. */
  signal?: AbortSignal
}

export interface CpuProfileResult {
  profile: CpuProfile
  /** Profiled time, s (shorter than asked for when aborted). */
  seconds: number
  intervalUs: number
  aborted: boolean
}

export interface HeapSnapshotResult {
  bytes: number
  durationMs: number
}

/** Checks and normalises the duration of a CPU profile (seconds). */
export function checkSeconds(v: unknown, maxSeconds: number = PROFILE_LIMITS.maxSeconds): number {
  if (v === undefined) return Math.min(PROFILE_LIMITS.defaultSeconds, maxSeconds)
  if (typeof v !== 'number' || !Number.isFinite(v) || v < PROFILE_LIMITS.minSeconds || v > maxSeconds) {
    throw new ProfileError('TAVERN_ERR_PROFILE_DURATION', `seconds must be a number from ${PROFILE_LIMITS.minSeconds} to ${maxSeconds}, not ${JSON.stringify(v)}`)
  }
  return v
}

export function checkIntervalUs(v: unknown): number {
  if (v === undefined) return PROFILE_LIMITS.defaultIntervalUs
  if (typeof v !== 'number' || !Number.isInteger(v) || v < PROFILE_LIMITS.minIntervalUs || v > PROFILE_LIMITS.maxIntervalUs) {
    throw new ProfileError('TAVERN_ERR_PROFILE_OPTION', `intervalUs must be an integer from ${PROFILE_LIMITS.minIntervalUs} to ${PROFILE_LIMITS.maxIntervalUs} (µs), not ${JSON.stringify(v)}`)
  }
  return v
}

export class Profiler {
  private current: RunningProfile | undefined
  private readonly maxSeconds: number
  private readonly now: () => number

  constructor(opts: {maxSeconds?: number; now?: () => number} = {}) {
    this.maxSeconds = Math.min(opts.maxSeconds ?? PROFILE_LIMITS.maxSeconds, PROFILE_LIMITS.maxSeconds)
    this.now = opts.now ?? Date.now
  }

  /** The profile being taken, if any. */
  get running(): RunningProfile | undefined {
    return this.current ? {...this.current} : undefined
  }

  /** Samples this thread's CPU for `seconds` (default 10, at most 120). */
  async cpu(opts: CpuProfileOptions = {}): Promise<CpuProfileResult> {
    const seconds = checkSeconds(opts.seconds, this.maxSeconds)
    const intervalUs = checkIntervalUs(opts.intervalUs)
    this.acquire({kind: 'cpu', startedAt: this.now(), seconds})
    const session = new Session()
    try {
      session.connect()
      await session.post('Profiler.enable')
      await session.post('Profiler.setSamplingInterval', {interval: intervalUs})
      const t0 = performance.now()
      await session.post('Profiler.start')
      // (waitOrAbort never rejects; should stop fail, disconnecting below ends the sampling all the same.)
      const aborted = await waitOrAbort(seconds * 1000, opts.signal)
      const stopped = await session.post('Profiler.stop')
      const took = (performance.now() - t0) / 1000
      await session.post('Profiler.disable')
      return {profile: stopped.profile as CpuProfile, seconds: aborted ? took : seconds, intervalUs, aborted}
    } catch (error) {
      if (error instanceof ProfileError) throw error
      throw new ProfileError('TAVERN_ERR_PROFILE_FAILED', `cpu profile failed: ${(error as Error).message}`)
    } finally {
      session.disconnect()
      this.release()
    }
  }

  /**
   * Writes a heap snapshot of this thread to `file` (created with mode 0600: a snapshot holds every string in
   * memory, secrets included). The chunks arrive synchronously while V8 serialises, so they are written
   * synchronously too: memory stays at one chunk, whatever the heap size.
   */
  async heapSnapshot(file: string): Promise<HeapSnapshotResult> {
    this.acquire({kind: 'heap', startedAt: this.now()})
    const t0 = performance.now()
    let fd: number | undefined
    const session = new Session()
    let bytes = 0
    let writeError: Error | undefined
    try {
      fd = openSync(file, 'wx', 0o600)
      const out = fd
      session.connect()
      session.on('HeapProfiler.addHeapSnapshotChunk', (m) => {
        if (writeError) return
        try {
          const buf = Buffer.from(m.params.chunk, 'utf8')
          let off = 0
          while (off < buf.length) off += writeSync(out, buf, off, buf.length - off)
          bytes += buf.length
        } catch (error) {
          writeError = error as Error
        }
      })
      await session.post('HeapProfiler.enable')
      await session.post('HeapProfiler.takeHeapSnapshot', {reportProgress: false})
      await session.post('HeapProfiler.disable')
      if (writeError) throw writeError
      fsyncSync(out)
      return {bytes, durationMs: performance.now() - t0}
    } catch (error) {
      if (error instanceof ProfileError) throw error
      throw new ProfileError('TAVERN_ERR_PROFILE_FAILED', `heap snapshot failed: ${(error as Error).message}`)
    } finally {
      session.disconnect()
      if (fd !== undefined) closeSync(fd)
      this.release()
    }
  }

  private acquire(p: RunningProfile): void {
    const c = this.current
    if (c) {
      const ago = Math.max(0, Math.round((this.now() - c.startedAt) / 1000))
      const left = c.seconds === undefined ? '' : `, ${Math.max(0, Math.round(c.seconds - ago))} s left`
      throw new ProfileError('TAVERN_ERR_PROFILE_BUSY', `a ${c.kind === 'cpu' ? 'cpu profile' : 'heap snapshot'} is already being taken (started ${ago} s ago${left}); one profile at a time`)
    }
    this.current = p
  }

  private release(): void {
    this.current = undefined
  }
}

/** Resolves after `ms` (false) or when `signal` aborts (true). */
function waitOrAbort(ms: number, signal: AbortSignal | undefined): Promise<boolean> {
  if (signal?.aborted) return Promise.resolve(true)
  return new Promise((resolve) => {
    const onAbort = (): void => {
      clearTimeout(timer)
      resolve(true)
    }
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort)
      resolve(false)
    }, ms)
    signal?.addEventListener('abort', onAbort, {once: true})
  })
}
