import {TavernError} from '../core/errors.js'

/** Which of the daemon's listeners an address belongs to, as an operator reads it in an error. */
export type ListenerName = 'data-plane' | 'metrics' | 'admin socket' | (string & {})

/**
 * A failure to listen, naming the listener and the address that failed (with the metrics port taken, the error named
 * the free data-plane port). Errors that are already ours (socket guard) pass through as they are.
 */
export function listenError(error: unknown, listener: ListenerName, address: string): Error {
  if (error instanceof TavernError) return error
  const e = error as NodeJS.ErrnoException
  const why = e.code === 'EADDRINUSE' ? 'address in use' : e.code === 'EACCES' ? 'permission denied' : e.code === 'EADDRNOTAVAIL' ? 'address not available on this host' : (e.message ?? String(error))
  return new TavernError('TAVERN_ERR_LISTEN', `cannot listen on ${address} (${listener} listener): ${why}`, {cause: error})
}
