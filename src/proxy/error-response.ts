import type {ServerResponse} from 'node:http'

import type {RawHeaders} from '../util/raw-headers.js'

const REASONS: Record<number, string> = {400: 'Bad Request', 403: 'Forbidden', 404: 'Not Found', 405: 'Method Not Allowed', 412: 'Precondition Failed', 416: 'Range Not Satisfiable', 421: 'Misdirected Request', 500: 'Internal Server Error', 502: 'Bad Gateway', 503: 'Service Unavailable', 504: 'Gateway Timeout'}

/** A short text error answer. When headers already went out, the connection is cut instead (never a half body that looks complete). */
export function sendError(res: ServerResponse, status: number, detail: string, extra: RawHeaders = []): void {
  if (res.headersSent) {
    res.destroy()
    return
  }
  const body = `${status} ${REASONS[status] ?? 'Error'}: ${detail}\n`
  res.writeHead(status, [...extra, 'Content-Type', 'text/plain; charset=utf-8', 'Content-Length', String(Buffer.byteLength(body)), 'Cache-Control', 'no-store'])
  res.end(res.req.method === 'HEAD' ? undefined : body)
}
