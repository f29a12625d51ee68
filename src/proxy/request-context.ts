import type {IncomingMessage, ServerResponse} from 'node:http'
import {randomBytes} from 'node:crypto'

import {getHeader} from '../util/raw-headers.js'

/** Per-request state shared by the pipeline stages. */
export interface RequestContext {
  req: IncomingMessage
  res: ServerResponse
  /** From X-Request-ID when the client sent a sane one, else random. */
  id: string
  startedAt: number
  /** Aborted when the client goes away before the response is finished. */
  signal: AbortSignal
}

const REQUEST_ID = /^[\w.:@/+=-]{1,128}$/

export function createContext(req: IncomingMessage, res: ServerResponse): RequestContext {
  const given = getHeader(req.rawHeaders, 'x-request-id')
  const id = given && REQUEST_ID.test(given) ? given : randomBytes(8).toString('hex')
  const ac = new AbortController()
  res.once('close', () => {
    if (!res.writableFinished) ac.abort()
  })
  return {req, res, id, startedAt: performance.now(), signal: ac.signal}
}

/** Whether the client request carries a body (RFC 9112 §6.3). */
export function hasRequestBody(req: IncomingMessage): boolean {
  if (req.headers['transfer-encoding'] !== undefined) return true
  const cl = req.headers['content-length']
  return cl !== undefined && cl !== '0'
}
