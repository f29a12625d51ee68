/**
 * Bearer-token authentication for the admin API over TCP (`admin.listen`). The Unix socket stays the default and
 * needs no token (its 0600 mode is the access control); over TCP every request must carry
 * `Authorization: Bearer <token>`.
 *
 * The token is read from a file only its owner can read (util/token-file.ts): any other is refused at start-up (and
 * on reload, keeping the old token).
 * Comparison is constant-time on SHA-256 digests (equal length whatever was sent); the token itself is not kept.
 */
import {createHash, timingSafeEqual} from 'node:crypto'
import type {IncomingMessage, ServerResponse} from 'node:http'

import {readTokenFile} from '../util/token-file.js'

export {TokenFileError} from '../util/token-file.js'

/** Shortest token accepted: 128 bits as hex (or ~22 base64 characters). */
export const MIN_TOKEN_LENGTH = 22

/** Read the admin token file (TokenFileError when it cannot be used: refuse to start, or keep the old token). */
export function readAdminToken(file: string): Promise<string> {
  return readTokenFile(file, {label: 'admin token', minLength: MIN_TOKEN_LENGTH})
}

function digest(s: string): Buffer {
  return createHash('sha256').update(s, 'utf8').digest()
}

export type AuthResult = 'ok' | 'missing' | 'invalid'

/** The bearer token of a request, or undefined (no Authorization, another scheme, malformed). */
export function bearerToken(authorization: string | undefined): string | undefined {
  if (authorization === undefined) return undefined
  const m = /^\s*bearer[ \t]+([A-Za-z0-9\-._~+/]+=*)\s*$/i.exec(authorization)
  return m ? m[1] : undefined
}

export class AdminTokenAuth {
  private expected: Buffer

  private constructor(
    readonly file: string,
    token: string,
  ) {
    this.expected = digest(token)
  }

  /** Read the token file (TokenFileError when it cannot be used: refuse to start). */
  static async open(file: string): Promise<AdminTokenAuth> {
    return new AdminTokenAuth(file, await readAdminToken(file))
  }

  /** Re-read the file; on any problem the current token stays and the error is returned. */
  async reload(): Promise<{ok: true} | {ok: false; error: string}> {
    try {
      this.expected = digest(await readAdminToken(this.file))
      return {ok: true}
    } catch (error) {
      return {ok: false, error: (error as Error).message}
    }
  }

  check(authorization: string | undefined): AuthResult {
    const token = bearerToken(authorization)
    if (token === undefined) return authorization === undefined ? 'missing' : 'invalid'
    // Digests of equal length: the comparison takes the same time whatever the token's length or content.
    return timingSafeEqual(digest(token), this.expected) ? 'ok' : 'invalid'
  }

  /**
   * Answer 401 unless the request carries the token; true when it may go on. RFC 6750 §3: WWW-Authenticate names the
   * scheme, and `error="invalid_token"` when a token was sent but is wrong.
   */
  authorize(req: IncomingMessage, res: ServerResponse): boolean {
    const r = this.check(req.headers.authorization)
    if (r === 'ok') return true
    const challenge = r === 'invalid' ? 'Bearer realm="tavern-admin", error="invalid_token"' : 'Bearer realm="tavern-admin"'
    const message = r === 'invalid' ? 'the bearer token is not valid for this daemon' : 'this admin listener needs Authorization: Bearer <token> (the token of admin.tokenFile)'
    const body = JSON.stringify({error: {code: 'TAVERN_ERR_ADMIN_UNAUTHORIZED', message}})
    // The request body is not read: drop it and close the connection rather than keep an unauthenticated one.
    req.resume()
    res.writeHead(401, {'www-authenticate': challenge, 'content-type': 'application/json', 'content-length': Buffer.byteLength(body), 'cache-control': 'no-store', connection: 'close'})
    res.end(body)
    return false
  }
}
