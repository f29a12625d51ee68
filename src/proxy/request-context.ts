import type {IncomingMessage, ServerResponse} from 'node:http'
import {randomBytes} from 'node:crypto'

/** Request fields the pipeline branches on, found in one pass over the raw headers. */
export interface RequestFlags {
  /** Any If-* precondition (If-Match, If-None-Match, If-Modified-Since, If-Unmodified-Since, If-Range). */
  conditional: boolean
  range: boolean
  authorization: boolean
  /** The first Host field (what `req.headers.host` gives, without building Node's header object). */
  host: string | undefined
  /** X-Request-ID as sent (validated when used). */
  requestId: string | undefined
}

/** Per-request state shared by the pipeline stages. */
export interface RequestContext {
  req: IncomingMessage
  res: ServerResponse
  /** From X-Request-ID when the client sent a sane one, else generated. */
  readonly id: string
  /** The id for the access log: `id` when it is already a string, else the generated number (see formatRequestId). */
  readonly logId: string | number
  startedAt: number
  /** The client's address, read when the request arrived (the socket may be gone by the time it is logged). */
  readonly client: string | undefined
  flags: RequestFlags
  /** Aborted when the client goes away before the response is finished (created on first use). */
  readonly signal: AbortSignal
}

const REQUEST_ID = /^[\w.:@/+=-]{1,128}$/
// Generated ids: a random per-process prefix plus a counter; unique without a crypto call per request.
const ID_PREFIX = randomBytes(4).toString('hex')
let idCounter = 0

/** The id string of a generated request number. */
export function formatRequestId(n: number): string {
  return `${ID_PREFIX}${n.toString(16).padStart(8, '0')}`
}

function scanFlags(h: readonly string[]): RequestFlags {
  const f: RequestFlags = {conditional: false, range: false, authorization: false, host: undefined, requestId: undefined}
  for (let i = 0; i < h.length; i += 2) {
    const n = h[i]!
    const c = n.charCodeAt(0) | 0x20
    if (c === 0x68 /* h */ && n.length === 4 && f.host === undefined && n.toLowerCase() === 'host') f.host = h[i + 1]
    else if (c === 0x69 /* i */ && n.length > 3 && (n.charCodeAt(1) | 0x20) === 0x66 /* f */ && n.charCodeAt(2) === 0x2d) f.conditional = true
    else if (c === 0x78 /* x */ && n.length === 12 && f.requestId === undefined && n.toLowerCase() === 'x-request-id') f.requestId = h[i + 1]
    else if (c === 0x72 /* r */ && n.length === 5 && n.toLowerCase() === 'range') f.range = true
    else if (c === 0x61 /* a */ && n.length === 13 && n.toLowerCase() === 'authorization') f.authorization = true
  }
  return f
}

class Context implements RequestContext {
  readonly startedAt = performance.now()
  readonly flags: RequestFlags
  readonly client: string | undefined
  private _id: string | undefined
  private seq = 0
  private ac: AbortController | undefined

  constructor(
    readonly req: IncomingMessage,
    readonly res: ServerResponse,
  ) {
    this.flags = scanFlags(req.rawHeaders)
    this.client = req.socket.remoteAddress
  }

  get id(): string {
    if (this._id === undefined) {
      const given = this.flags.requestId
      this._id = given && REQUEST_ID.test(given) ? given : formatRequestId(this.seq || (this.seq = ++idCounter))
    }
    return this._id
  }

  get logId(): string | number {
    if (this._id !== undefined) return this._id
    const given = this.flags.requestId
    if (given !== undefined) return this.id
    // Most requests never need their id as a string: the access log formats the number in its batch.
    return this.seq || (this.seq = ++idCounter)
  }

  get signal(): AbortSignal {
    if (!this.ac) {
      const ac = new AbortController()
      this.ac = ac
      const {res} = this
      if (res.destroyed && !res.writableFinished) ac.abort()
      else
        res.once('close', () => {
          if (!res.writableFinished) ac.abort()
        })
    }
    return this.ac.signal
  }
}

export function createContext(req: IncomingMessage, res: ServerResponse): RequestContext {
  return new Context(req, res)
}

/** Whether the client request carries a body (RFC 9112 §6.3). */
export function hasRequestBody(req: IncomingMessage): boolean {
  if (req.headers['transfer-encoding'] !== undefined) return true
  const cl = req.headers['content-length']
  return cl !== undefined && cl !== '0'
}
