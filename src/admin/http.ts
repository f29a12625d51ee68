/**
 * The admin API's HTTP side: method + exact-path routing, JSON bodies in and out, and errors answered from the
 * catalogue as `{error: {code, message}}` with the code's status.
 */
import type {IncomingMessage, ServerResponse} from 'node:http'

import {TavernError} from '../core/errors.js'
import type {ErrorBody} from './protocol.js'

export type AdminHandler = (req: IncomingMessage, res: ServerResponse, url: URL) => void | Promise<void>

export function sendJson(res: ServerResponse, status: number, body: unknown): void {
  const payload = JSON.stringify(body)
  res.writeHead(status, {'content-type': 'application/json', 'content-length': Buffer.byteLength(payload)})
  res.end(payload)
}

/** Read a JSON request body (bounded). */
export async function readJson<T>(req: IncomingMessage, limit = 16 * 1024 * 1024): Promise<T> {
  const chunks: Buffer[] = []
  let size = 0
  for await (const c of req as AsyncIterable<Buffer>) {
    size += c.length
    if (size > limit) throw new TavernError('TAVERN_ERR_BODY_TOO_LARGE', `request body over ${limit} bytes`)
    chunks.push(c)
  }
  const text = Buffer.concat(chunks).toString('utf8')
  if (!text.trim()) return {} as T
  try {
    return JSON.parse(text) as T
  } catch {
    throw new TavernError('TAVERN_ERR_BAD_JSON', 'request body is not valid JSON')
  }
}

/** A JSON request body that must be an object. */
export async function readObject<T extends object>(req: IncomingMessage, limit?: number): Promise<T> {
  const body = await readJson<T>(req, limit)
  if (body === null || typeof body !== 'object' || Array.isArray(body)) throw new TavernError('TAVERN_ERR_BAD_ARGUMENT', 'request body must be a JSON object')
  return body
}

/** Method + exact path routing for the admin API. */
export class AdminRouter {
  private readonly routes = new Map<string, AdminHandler>()

  on(method: 'GET' | 'POST' | 'DELETE', path: string, handler: AdminHandler): this {
    this.routes.set(`${method} ${path}`, handler)
    return this
  }

  async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://tavern.admin')
    const handler = this.routes.get(`${req.method} ${url.pathname}`)
    try {
      if (!handler) {
        const known = [...this.routes.keys()].some((k) => k.endsWith(` ${url.pathname}`))
        throw known
          ? new TavernError('TAVERN_ERR_METHOD_NOT_ALLOWED', `${req.method} is not allowed on ${url.pathname}`)
          : new TavernError('TAVERN_ERR_NOT_FOUND', `no admin endpoint ${url.pathname}`)
      }
      await handler(req, res, url)
    } catch (error) {
      const e = error instanceof TavernError ? error : new TavernError('TAVERN_ERR_INTERNAL', (error as Error).message)
      if (!res.headersSent) sendJson(res, e.status, {error: {code: e.code, message: e.message}} satisfies ErrorBody)
      else res.destroy()
    }
  }
}
