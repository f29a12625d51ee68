/**
 * Admin endpoints of `tavern profile` (mounted on the admin socket by the daemon):
 *   POST /profile/cpu   {seconds?, intervalUs?}       → the .cpuprofile (JSON), after `seconds`
 *   POST /profile/heap  {}                             → the .heapsnapshot (JSON), streamed from a private temp file
 *   POST /profile/top   {seconds?, intervalUs?, top?}  → {pid, seconds, intervalUs, ...CpuProfileSummary}
 * A client that goes away ends a CPU profile early. Refusals are {error: {code, message}} with the catalogue codes
 * of profile.ts: 409 TAVERN_ERR_PROFILE_BUSY (one profile at a time), 400 TAVERN_ERR_PROFILE_DURATION (seconds
 * outside 0.1–120), 400 TAVERN_ERR_PROFILE_OPTION.
 */
import {createReadStream} from 'node:fs'
import {mkdtemp, rm} from 'node:fs/promises'
import type {IncomingMessage, ServerResponse} from 'node:http'
import os from 'node:os'
import path from 'node:path'
import {pipeline} from 'node:stream/promises'

import {type AdminHandler, type AdminRouter, readJson, sendJson} from '../admin/http.js'
import {TavernError} from '../core/errors.js'
import type {OpsServices} from '../core/services.js'
import {type CpuProfileSummary, summariseCpuProfile} from './cpuprofile-summary.js'
import {type CpuProfileResult, Profiler} from './profile.js'
import {sourceMapLocator} from './source-locations.js'

export interface ProfileRequestBody {
  seconds?: number
  intervalUs?: number
  /** Rows of `top` (1–500, default 25). */
  top?: number
}

export type ProfileTopReply = CpuProfileSummary & {pid: number; seconds: number; intervalUs: number}

export interface ProfileRouteOptions {
  /** Where heap snapshots are written before they are sent (a private mkdtemp directory inside; default os.tmpdir()). */
  tmpDir?: string
  /** Hears of each profile taken, for the daemon's log. */
  onProfile?: (e: {kind: 'cpu' | 'heap' | 'top'; seconds?: number; bytes?: number; aborted?: boolean}) => void
}

export interface ProfileRoutes {
  cpu: AdminHandler
  heap: AdminHandler
  top: AdminHandler
}

const MAX_BODY = 64 * 1024

export function profileRoutes(profiler: Profiler, opts: ProfileRouteOptions = {}): ProfileRoutes {
  const notify = opts.onProfile ?? (() => {})

  async function runCpu(req: IncomingMessage, res: ServerResponse, allowed: readonly string[]): Promise<{result: CpuProfileResult; body: ProfileRequestBody} | undefined> {
    const body = await readBody(req, allowed)
    const ac = new AbortController()
    // The client gave up (or the daemon is closing its connections): no point sampling on.
    const onClose = (): void => ac.abort()
    res.once('close', onClose)
    try {
      const result = await profiler.cpu({seconds: body.seconds, intervalUs: body.intervalUs, signal: ac.signal})
      if (res.destroyed) return undefined
      return {result, body}
    } catch (error) {
      throw error
    } finally {
      res.off('close', onClose)
    }
  }

  return {
    async cpu(req, res) {
      const r = await runCpu(req, res, ['seconds', 'intervalUs'])
      if (!r) return
      const payload = JSON.stringify(r.result.profile)
      notify({kind: 'cpu', seconds: r.result.seconds, bytes: payload.length, aborted: r.result.aborted})
      res.writeHead(200, {
        'content-type': 'application/json',
        'content-length': Buffer.byteLength(payload),
        'content-disposition': `attachment; filename="${fileName('cpuprofile')}"`,
        'cache-control': 'no-store',
        'x-tavern-profile-seconds': r.result.seconds.toFixed(3),
        'x-tavern-profile-interval-us': String(r.result.intervalUs),
      })
      res.end(payload)
    },

    async top(req, res) {
      const r = await runCpu(req, res, ['seconds', 'intervalUs', 'top'])
      if (!r) return
      const summary = summariseCpuProfile(r.result.profile, {top: r.body.top ?? 25, locate: await sourceMapLocator(r.result.profile)})
      notify({kind: 'top', seconds: r.result.seconds, aborted: r.result.aborted})
      const reply: ProfileTopReply = {pid: process.pid, seconds: r.result.seconds, intervalUs: r.result.intervalUs, ...summary}
      sendJson(res, 200, reply)
    },

    async heap(req, res) {
      await readBody(req, [])
      const dir = await mkdtemp(path.join(opts.tmpDir ?? os.tmpdir(), 'tavern-heap-'))
      try {
        const file = path.join(dir, 'heap.heapsnapshot')
        let bytes: number
        try {
          bytes = (await profiler.heapSnapshot(file)).bytes
        } catch (error) {
          throw error
        }
        if (res.destroyed) return
        notify({kind: 'heap', bytes})
        res.writeHead(200, {
          'content-type': 'application/json',
          'content-length': bytes,
          'content-disposition': `attachment; filename="${fileName('heapsnapshot')}"`,
          'cache-control': 'no-store',
        })
        try {
          await pipeline(createReadStream(file), res)
        } catch {
          // The client went away mid-download: pipeline has destroyed both streams; nothing more to do.
        }
      } finally {
        await rm(dir, {recursive: true, force: true})
      }
    },
  }
}

async function readBody(req: IncomingMessage, allowed: readonly string[]): Promise<ProfileRequestBody> {
  const body = await readJson<unknown>(req, MAX_BODY)
  if (body === null || typeof body !== 'object' || Array.isArray(body)) throw new TavernError('TAVERN_ERR_PROFILE_OPTION', 'request body must be a JSON object')
  for (const k of Object.keys(body)) {
    if (!allowed.includes(k)) throw new TavernError('TAVERN_ERR_PROFILE_OPTION', `unknown option ${JSON.stringify(k)}${allowed.length ? ` (known: ${allowed.join(', ')})` : ''}`)
  }
  const b = body as ProfileRequestBody
  if (b.top !== undefined && (typeof b.top !== 'number' || !Number.isInteger(b.top) || b.top < 1 || b.top > 500)) {
    throw new TavernError('TAVERN_ERR_PROFILE_OPTION', `top must be an integer from 1 to 500, not ${JSON.stringify(b.top)}`)
  }
  return b
}


function fileName(ext: string): string {
  const stamp = new Date().toISOString().replace(/\.\d+Z$/, 'Z').replace(/[-:]/g, '')
  return `tavern-${process.pid}-${stamp}.${ext}`
}

/**
 * Mounts POST /profile/{cpu,heap,top} on the admin router, with one Profiler for the daemon's thread (one profile
 * at a time across all three) and a log line per profile taken.
 */
export function mountProfile(router: AdminRouter, o: Pick<OpsServices, 'log'>, opts: Omit<ProfileRouteOptions, 'onProfile'> = {}): Profiler {
  const profiler = new Profiler()
  const routes = profileRoutes(profiler, {
    ...opts,
    onProfile: (e) => o.log.info({profile: e.kind, seconds: e.seconds === undefined ? undefined : Number(e.seconds.toFixed(3)), bytes: e.bytes, aborted: e.aborted || undefined}, 'profile taken'),
  })
  router.on('POST', '/profile/cpu', routes.cpu)
  router.on('POST', '/profile/heap', routes.heap)
  router.on('POST', '/profile/top', routes.top)
  return profiler
}
