/**
 * Reads `dashboard.tokenFile` (util/token-file.ts: owner-only, the token alone on one line, at least
 * MIN_TOKEN_LENGTH characters a Bearer header can carry); refusals name the file and the problem.
 */
import {readTokenFile} from '../util/token-file.js'
import {MIN_TOKEN_LENGTH} from './auth.js'

export function readDashboardToken(file: string): Promise<string> {
  return readTokenFile(file, {label: 'dashboard token', minLength: MIN_TOKEN_LENGTH})
}
