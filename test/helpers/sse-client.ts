/**
 * A minimal Server-Sent Events client for tests: node:http, parses the stream as it arrives and keeps every event,
 * comment and `retry:` value, so a test can wait for what it expects (bounded) and look at the raw fields.
 */
import http from 'node:http'

export interface SseMessage {
  id: string | undefined
  event: string
  data: string
}

export interface SseConnection {
  status: number
  headers: http.IncomingHttpHeaders
  events: SseMessage[]
  comments: string[]
  retry: number | undefined
  /** Everything received, as text. */
  raw(): string
  ended: boolean
  waitFor<T>(pick: () => T | undefined | false, timeoutMs?: number, what?: string): Promise<T>
  close(): void
}

export function openSse(url: string, headers: Record<string, string> = {}): Promise<SseConnection> {
  return new Promise((resolve, reject) => {
    const req = http.get(url, {headers: {accept: 'text/event-stream', ...headers}}, (res) => {
      let buf = ''
      let all = ''
      const conn: SseConnection = {
        status: res.statusCode ?? 0,
        headers: res.headers,
        events: [],
        comments: [],
        retry: undefined,
        raw: () => all,
        ended: false,
        async waitFor(pick, timeoutMs = 5000, what = 'condition') {
          const end = Date.now() + timeoutMs
          for (;;) {
            const v = pick()
            if (v !== undefined && v !== false) return v
            if (Date.now() > end) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}; received so far:\n${all.slice(-2000)}`)
            await new Promise((r) => setTimeout(r, 10))
          }
        },
        close: () => req.destroy(),
      }
      res.setEncoding('utf8')
      res.on('data', (chunk: string) => {
        all += chunk
        buf += chunk
        let sep: number
        while ((sep = buf.indexOf('\n\n')) >= 0) {
          const block = buf.slice(0, sep)
          buf = buf.slice(sep + 2)
          parseBlock(block, conn)
        }
      })
      res.on('end', () => {
        conn.ended = true
      })
      res.on('error', () => {
        conn.ended = true
      })
      resolve(conn)
    })
    req.on('error', reject)
  })
}

function parseBlock(block: string, conn: SseConnection): void {
  let id: string | undefined
  let event = 'message'
  const data: string[] = []
  let any = false
  for (const line of block.split('\n')) {
    if (line.startsWith(':')) {
      conn.comments.push(line.slice(1).trim())
      continue
    }
    const colon = line.indexOf(':')
    const field = colon < 0 ? line : line.slice(0, colon)
    let value = colon < 0 ? '' : line.slice(colon + 1)
    if (value.startsWith(' ')) value = value.slice(1)
    if (field === 'retry') conn.retry = Number(value)
    else if (field === 'id') {
      id = value
      any = true
    } else if (field === 'event') {
      event = value
      any = true
    } else if (field === 'data') {
      data.push(value)
      any = true
    }
  }
  if (any && data.length > 0) conn.events.push({id, event, data: data.join('\n')})
}
