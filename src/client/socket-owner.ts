import fs from 'node:fs'

import {TavernError} from '../core/errors.js'

/** The admin socket belongs to another user: whoever listens there is not known to be our daemon. */
export class ForeignSocketError extends TavernError {
  constructor(
    readonly socketPath: string,
    readonly ownerUid: number,
    readonly ourUid: number,
  ) {
    super(
      'TAVERN_ERR_FOREIGN_SOCKET',
      `refusing to talk to ${socketPath}: it belongs to ${userName(ownerUid)}, not to you (${userName(ourUid)}), so the process answering there may not be ` +
        `your tavern daemon. If you trust it, pass --allow-foreign-socket (or set TAVERN_ALLOW_FOREIGN_SOCKET=1).`,
    )
  }
}

function currentUid(): number {
  return typeof process.getuid === 'function' ? process.getuid() : 0
}

/** "uid 1000 (alice)" when /etc/passwd names it. */
function userName(uid: number): string {
  try {
    const line = fs
      .readFileSync('/etc/passwd', 'utf8')
      .split('\n')
      .find((l) => l.split(':')[2] === String(uid))
    const name = line?.split(':')[0]
    if (name) return `uid ${uid} (${name})`
  } catch {
    // no passwd file: the number alone
  }
  return `uid ${uid}`
}

/** Our own sockets, and root's when we are not root (root can do anything to us anyway). Root trusts only root. */
export function trustedOwner(owner: number, us: number): boolean {
  return owner === us || (us !== 0 && owner === 0)
}

/**
 * Before connecting: the socket (and, for a symlink, its target) must belong to a trusted owner, else
 * ForeignSocketError. A missing path passes (the connection attempt reports it as "no daemon").
 */
export function checkSocketOwner(socketPath: string, uid: number = currentUid()): void {
  let link: fs.Stats
  try {
    link = fs.lstatSync(socketPath)
  } catch {
    return
  }
  const owners = [link.uid]
  if (link.isSymbolicLink()) {
    try {
      owners.push(fs.statSync(socketPath).uid)
    } catch {
      return // dangling: nothing to connect to
    }
  }
  for (const owner of owners) if (!trustedOwner(owner, uid)) throw new ForeignSocketError(socketPath, owner, uid)
}
