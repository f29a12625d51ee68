import http from 'node:http'

import {EXIT_CODES, TavernError} from '../core/errors.js'

/** Exit codes shared by every command (documented in the README): a catalogue code's class decides which. */
export const EXIT = EXIT_CODES

/** Socket errors that mean "no daemon there" rather than a failure of a running daemon. */
const UNREACHABLE = new Set(['ENOENT', 'ECONNREFUSED', 'EACCES', 'ENOTSOCK'])

export interface AdminReply<T> {
  status: number
  body: T
}

/** The daemon did not answer on its socket (not running, wrong path, permission). */
export class DaemonUnreachableError extends TavernError {
  constructor(
    readonly socketPath: string,
    readonly reason: NodeJS.ErrnoException,
  ) {
    super('TAVERN_ERR_UNREACHABLE', `no tavern daemon answers on ${socketPath} (${reason.code ?? reason.message})`)
  }
}

/**
 * One JSON request to the admin API over the Unix socket. node:http, not undici: it is built in,
 * so a one-shot command pays no module-load cost.
 */
export function adminRequest<T = unknown>(
  socketPath: string,
  method: 'GET' | 'POST' | 'DELETE',
  path: string,
  body?: unknown,
  timeoutMs = 30_000,
): Promise<AdminReply<T>> {
  return new Promise((resolve, reject) => {
    const payload = body === undefined ? undefined : JSON.stringify(body)
    const req = http.request(
      {socketPath, method, path, headers: payload ? {'content-type': 'application/json', 'content-length': Buffer.byteLength(payload)} : {}},
      (res) => {
        const chunks: Buffer[] = []
        res.on('data', (c: Buffer) => chunks.push(c))
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8')
          try {
            resolve({status: res.statusCode ?? 0, body: (text ? JSON.parse(text) : null) as T})
          } catch {
            reject(new Error(`daemon answered ${res.statusCode} with a body that is not JSON: ${text.slice(0, 200)}`))
          }
        })
        res.on('error', reject)
      },
    )
    req.setTimeout(timeoutMs, () => req.destroy(new Error(`daemon did not answer within ${timeoutMs} ms`)))
    req.on('error', (err: NodeJS.ErrnoException) => {
      if (UNREACHABLE.has(err.code ?? '')) reject(new DaemonUnreachableError(socketPath, err))
      else reject(err)
    })
    req.end(payload)
  })
}

/**
 * A streaming admin request: calls onLine for each NDJSON line of the answer; resolves with the status when the body ends.
 */
export function adminStream(
  socketPath: string,
  method: 'GET' | 'POST',
  path: string,
  body: unknown,
  onLine: (value: unknown) => void,
): {done: Promise<number>; cancel: () => void} {
  let request: http.ClientRequest | undefined
  const done = new Promise<number>((resolve, reject) => {
    const payload = body === undefined ? undefined : JSON.stringify(body)
    request = http.request(
      {socketPath, method, path, headers: payload ? {'content-type': 'application/json', 'content-length': Buffer.byteLength(payload)} : {}},
      (res) => {
        let buf = ''
        res.setEncoding('utf8')
        res.on('data', (c: string) => {
          buf += c
          let nl: number
          while ((nl = buf.indexOf('\n')) >= 0) {
            const line = buf.slice(0, nl).trim()
            buf = buf.slice(nl + 1)
            if (line) onLine(JSON.parse(line))
          }
        })
        res.on('end', () => {
          if (buf.trim()) onLine(JSON.parse(buf))
          resolve(res.statusCode ?? 0)
        })
        res.on('error', reject)
      },
    )
    request.on('error', (err: NodeJS.ErrnoException) => {
      if (UNREACHABLE.has(err.code ?? '')) reject(new DaemonUnreachableError(socketPath, err))
      else reject(err)
    })
    request.end(payload)
  })
  return {done, cancel: () => request?.destroy()}
}
