/**
 * Reads `dashboard.tokenFile`: the bearer token is its first line. Refused (with a message naming the file and the
 * problem) when the file is missing, not a regular file, readable or writable by others (a token others can read is
 * no secret), or when the token is shorter than MIN_TOKEN_LENGTH or has characters a Bearer header cannot carry.
 * Checked through the open descriptor, so the file checked is the file read (a symlink, e.g. a Kubernetes secret,
 * counts by its target).
 */
import {constants as fsConstants} from 'node:fs'
import fs from 'node:fs/promises'

import {MIN_TOKEN_LENGTH} from './auth.js'

export async function readDashboardToken(file: string): Promise<string> {
  let fh: fs.FileHandle
  try {
    fh = await fs.open(file, fsConstants.O_RDONLY | (fsConstants.O_NONBLOCK ?? 0))
  } catch (error) {
    const e = error as NodeJS.ErrnoException
    const why = e.code === 'ENOENT' ? 'no such file' : e.code === 'EACCES' ? 'permission denied' : e.message
    throw new Error(`cannot read ${file}: ${why}`)
  }
  try {
    const st = await fh.stat()
    if (!st.isFile()) throw new Error(`${file} is not a regular file`)
    const mode = st.mode & 0o777
    if ((mode & 0o077) !== 0) throw new Error(`${file} is accessible by others (mode ${mode.toString(8).padStart(4, '0')}); it must be readable by its owner only: chmod 600 ${file}`)
    if (st.size > 64 * 1024) throw new Error(`${file} is too large (${st.size} bytes) to hold a token`)
    const token = ((await fh.readFile('utf8')).split(/\r?\n/, 1)[0] ?? '').trim()
    if (token === '') throw new Error(`${file} is empty (the token is its first line)`)
    if (token.length < MIN_TOKEN_LENGTH) throw new Error(`the token in ${file} is too short (${token.length} characters, at least ${MIN_TOKEN_LENGTH}: e.g. openssl rand -hex 32 > ${file})`)
    // RFC 6750 token68: what `Authorization: Bearer` can carry without quoting.
    if (!/^[A-Za-z0-9\-._~+/]+=*$/.test(token)) throw new Error(`the token in ${file} has characters a Bearer token cannot carry (use letters, digits and -._~+/)`)
    return token
  } finally {
    await fh.close()
  }
}
