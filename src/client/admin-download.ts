/**
 * An admin request whose successful answer is a file to save (a CPU profile, a heap snapshot of hundreds of MB): the
 * body is streamed to the destination with backpressure, never held in memory. A non-200 answer is read (bounded)
 * and returned as the error body instead.
 */
import http from 'node:http'
import type {Writable} from 'node:stream'
import {pipeline} from 'node:stream/promises'

import {DaemonUnreachableError} from './admin-client.js'

export type DownloadReply =
  | {ok: true; status: 200; bytes: number; headers: http.IncomingHttpHeaders}
  | {ok: false; status: number; body: unknown; headers: http.IncomingHttpHeaders}

const UNREACHABLE = new Set(['ENOENT', 'ECONNREFUSED', 'EACCES', 'ENOTSOCK', 'EHOSTUNREACH', 'ENETUNREACH', 'ENOTFOUND', 'EAI_AGAIN'])

/** Another transport than the Unix socket (the admin TCP listener: src/client/admin-http.ts). */
export interface DownloadTarget {
  /** For messages: the URL. */
  label: string
  /** Start the request (the target adds its address and Authorization). */
  request(opts: {method: 'POST'; path: string; headers: Record<string, string | number>}): http.ClientRequest
}
const MAX_ERROR_BODY = 64 * 1024

/**
 * POSTs `body` (JSON) to `path` on the socket; on 200, pipes the answer into `open(headers)`'s stream (opened only
 * then, so a refused request leaves no file behind). `timeoutMs` bounds the wait for the answer's head.
 */
export function adminDownload(where: string | DownloadTarget, path: string, body: unknown, open: (headers: http.IncomingHttpHeaders) => Writable, timeoutMs: number): Promise<DownloadReply> {
  return new Promise((resolve, reject) => {
    const payload = JSON.stringify(body ?? {})
    const jsonHeaders = {'content-type': 'application/json', 'content-length': Buffer.byteLength(payload)}
    const socketPath = typeof where === 'string' ? where : where.label
    const req =
      typeof where === 'string'
        ? http.request({socketPath: where, method: 'POST', path, headers: jsonHeaders})
        : where.request({method: 'POST', path, headers: jsonHeaders})
    // The head may take as long as the profile; once it is here the body flows, and a stall is caught below.
    const headTimer = setTimeout(() => req.destroy(new Error(`daemon did not answer within ${Math.round(timeoutMs / 1000)} s`)), timeoutMs)
    req.on('response', (res) => {
      clearTimeout(headTimer)
      const status = res.statusCode ?? 0
      if (status !== 200) {
        const parts: Buffer[] = []
        let size = 0
        res.on('data', (c: Buffer) => {
          size += c.length
          if (size <= MAX_ERROR_BODY) parts.push(c)
        })
        res.on('error', reject)
        res.on('end', () => {
          const text = Buffer.concat(parts).toString('utf8')
          let parsed: unknown = text
          try {
            parsed = JSON.parse(text)
          } catch {
            // not JSON: keep the text
          }
          resolve({ok: false, status, body: parsed, headers: res.headers})
        })
        return
      }
      let out: Writable
      try {
        out = open(res.headers)
      } catch (error) {
        res.destroy()
        reject(error)
        return
      }
      let bytes = 0
      res.on('data', (c: Buffer) => {
        bytes += c.length
      })
      // Idle body: a daemon that stops sending mid-file must not hang the command.
      res.setTimeout(60_000, () => res.destroy(new Error('the daemon stopped sending for 60 s')))
      pipeline(res, out).then(
        () => {
          const expected = Number(res.headers['content-length'])
          if (Number.isFinite(expected) && expected !== bytes) reject(new Error(`download cut short: ${bytes} of ${expected} bytes`))
          else resolve({ok: true, status: 200, bytes, headers: res.headers})
        },
        (error: Error) => reject(error),
      )
    })
    req.on('error', (err: NodeJS.ErrnoException) => {
      clearTimeout(headTimer)
      if (UNREACHABLE.has(err.code ?? '')) reject(new DaemonUnreachableError(socketPath, err))
      else reject(err)
    })
    req.end(payload)
  })
}
