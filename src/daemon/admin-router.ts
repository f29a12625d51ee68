import type {IncomingMessage, ServerResponse} from 'node:http'

export type AdminHandler = (req: IncomingMessage, res: ServerResponse, url: URL) => void | Promise<void>

/** An admin API failure with a machine-readable code; sent as {error: {code, message}}. */
export class AdminError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message)
  }
}

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
    if (size > limit) throw new AdminError(413, 'body_too_large', `request body over ${limit} bytes`)
    chunks.push(c)
  }
  const text = Buffer.concat(chunks).toString('utf8')
  if (!text.trim()) return {} as T
  try {
    return JSON.parse(text) as T
  } catch {
    throw new AdminError(400, 'bad_json', 'request body is not valid JSON')
  }
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
          ? new AdminError(405, 'method_not_allowed', `${req.method} is not allowed on ${url.pathname}`)
          : new AdminError(404, 'not_found', `no admin endpoint ${url.pathname}`)
      }
      await handler(req, res, url)
    } catch (error) {
      const e = error instanceof AdminError ? error : new AdminError(500, 'internal', (error as Error).message)
      if (!res.headersSent) sendJson(res, e.status, {error: {code: e.code, message: e.message}})
      else res.destroy()
    }
  }
}
