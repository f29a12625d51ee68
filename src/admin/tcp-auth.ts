/**
 * Bearer-token authentication for the admin API over TCP (`admin.listen`). The Unix socket stays the default and
 * needs no token (its 0600 mode is the access control); over TCP every request must carry
 * `Authorization: Bearer <token>`.
 *
 * The token is read from a file that must be a regular file readable by its owner only (mode 0600 or 0400): a token
 * others can read is no secret, so such a file is refused at start-up (and on reload, keeping the old token).
 * Comparison is constant-time on SHA-256 digests (equal length whatever was sent); the token itself is not kept.
 */
import {createHash, timingSafeEqual} from 'node:crypto'
import {constants as fsConstants} from 'node:fs'
import fs from 'node:fs/promises'
import type {IncomingMessage, ServerResponse} from 'node:http'

/** Shortest token accepted: 128 bits as hex (or ~22 base64 characters). */
export const MIN_TOKEN_LENGTH = 22

/** The token file cannot be used (missing, not a regular file, readable by others, empty, too short). */
export class TokenFileError extends Error {
  constructor(
    readonly file: string,
    message: string,
  ) {
    super(message)
    this.name = 'TokenFileError'
  }
}

/**
 * Read a token file, refusing it unless it is a regular file only its owner can read or write. Opened first and
 * checked through the open descriptor, so the file checked is the file read (a symlink, e.g. a Kubernetes secret,
 * is followed to its target, whose mode counts).
 */
export async function readTokenFile(file: string): Promise<string> {
  let fh: fs.FileHandle
  try {
    fh = await fs.open(file, fsConstants.O_RDONLY | (fsConstants.O_NONBLOCK ?? 0))
  } catch (error) {
    const e = error as NodeJS.ErrnoException
    const why = e.code === 'ENOENT' ? 'no such file' : e.code === 'EACCES' ? 'permission denied' : e.message
    throw new TokenFileError(file, `cannot read the admin token file ${file}: ${why}`)
  }
  try {
    const st = await fh.stat()
    if (!st.isFile()) throw new TokenFileError(file, `the admin token file ${file} is not a regular file`)
    const mode = st.mode & 0o777
    if ((mode & 0o077) !== 0)
      throw new TokenFileError(file, `the admin token file ${file} is accessible by others (mode ${mode.toString(8).padStart(4, '0')}); it must be readable by its owner only: chmod 600 ${file}`)
    if (st.size > 64 * 1024) throw new TokenFileError(file, `the admin token file ${file} is too large (${st.size} bytes) to hold a token`)
    const token = (await fh.readFile('utf8')).trim()
    if (token === '') throw new TokenFileError(file, `the admin token file ${file} is empty`)
    if (/\s/.test(token)) throw new TokenFileError(file, `the admin token in ${file} contains whitespace; put the token alone on one line`)
    if (token.length < MIN_TOKEN_LENGTH) throw new TokenFileError(file, `the admin token in ${file} is too short (${token.length} characters, at least ${MIN_TOKEN_LENGTH}: e.g. openssl rand -hex 32 > ${file})`)
    // RFC 6750 token68: what can be sent in an Authorization header without quoting.
    if (!/^[A-Za-z0-9\-._~+/]+=*$/.test(token)) throw new TokenFileError(file, `the admin token in ${file} has characters a Bearer token cannot carry (use letters, digits and -._~+/)`)
    return token
  } finally {
    await fh.close()
  }
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
    return new AdminTokenAuth(file, await readTokenFile(file))
  }

  /** Re-read the file; on any problem the current token stays and the error is returned. */
  async reload(): Promise<{ok: true} | {ok: false; error: string}> {
    try {
      this.expected = digest(await readTokenFile(this.file))
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
