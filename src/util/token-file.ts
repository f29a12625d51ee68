/**
 * Reads a bearer-token file (`admin.tokenFile`, `dashboard.tokenFile`): a regular file only its owner can read or
 * write (mode 0600 or 0400 — a token others can read is no secret), holding the token alone on one line. Opened
 * first and checked through the open descriptor, so the file checked is the file read (a symlink, e.g. a Kubernetes
 * secret, is followed to its target, whose mode counts). Every refusal is a TokenFileError saying what to do.
 */
import {constants as fsConstants} from 'node:fs'
import fs from 'node:fs/promises'

/** The token file cannot be used (missing, not a regular file, readable by others, empty, too short, bad characters). */
export class TokenFileError extends Error {
  constructor(
    readonly file: string,
    message: string,
  ) {
    super(message)
    this.name = 'TokenFileError'
  }
}

export interface TokenFileRules {
  /** What the token is, for messages: 'admin token', 'dashboard token'. */
  label: string
  minLength: number
}

export async function readTokenFile(file: string, rules: TokenFileRules): Promise<string> {
  const {label, minLength} = rules
  let fh: fs.FileHandle
  try {
    fh = await fs.open(file, fsConstants.O_RDONLY | (fsConstants.O_NONBLOCK ?? 0))
  } catch (error) {
    const e = error as NodeJS.ErrnoException
    const why = e.code === 'ENOENT' ? 'no such file' : e.code === 'EACCES' ? 'permission denied' : e.message
    throw new TokenFileError(file, `cannot read the ${label} file ${file}: ${why}`)
  }
  try {
    const st = await fh.stat()
    if (!st.isFile()) throw new TokenFileError(file, `the ${label} file ${file} is not a regular file`)
    const mode = st.mode & 0o777
    if ((mode & 0o077) !== 0)
      throw new TokenFileError(file, `the ${label} file ${file} is accessible by others (mode ${mode.toString(8).padStart(4, '0')}); it must be readable by its owner only: chmod 600 ${file}`)
    if (st.size > 64 * 1024) throw new TokenFileError(file, `the ${label} file ${file} is too large (${st.size} bytes) to hold a token`)
    const token = (await fh.readFile('utf8')).trim()
    if (token === '') throw new TokenFileError(file, `the ${label} file ${file} is empty`)
    if (/\s/.test(token)) throw new TokenFileError(file, `the ${label} in ${file} contains whitespace; put the token alone on one line`)
    if (token.length < minLength) throw new TokenFileError(file, `the ${label} in ${file} is too short (${token.length} characters, at least ${minLength}: e.g. openssl rand -hex 32 > ${file})`)
    // RFC 6750 token68: what an Authorization: Bearer header can carry without quoting.
    if (!/^[A-Za-z0-9\-._~+/]+=*$/.test(token)) throw new TokenFileError(file, `the ${label} in ${file} has characters a Bearer token cannot carry (use letters, digits and -._~+/)`)
    return token
  } finally {
    await fh.close()
  }
}
