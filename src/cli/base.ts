import {Command, Flags} from '@oclif/core'

import {DaemonUnreachableError} from '../client/admin-client.js'
import type {AdminTransport} from '../client/admin-http.js'
import {checkSocketOwner} from '../client/socket-owner.js'
import {resolveSocketPath} from '../client/socket-path.js'
import {configMayExist} from '../config/search-places.js'
import {type ErrorCode, exitCodeOf, TavernError} from '../core/errors.js'

/** Shared flags: where the daemon's admin socket is, found the same way `serve` decides where to create it. */
export const clientFlags = {
  config: Flags.string({
    char: 'c',
    description: 'config file to take `socket` from (default: the same search as serve: tavern.config.* / .tavernrc* / package.json "tavern" in the working directory)',
  }),
  socket: Flags.string({
    description: 'admin socket of the daemon [config: socket; env: TAVERN_SOCKET; default: /run/tavern/tavern.sock for root, /tmp/tavern-<uid>/tavern.sock otherwise]',
  }),
  'allow-foreign-socket': Flags.boolean({
    description: 'talk to a socket that belongs to another user (refused by default: whoever listens there may not be your daemon)',
    env: 'TAVERN_ALLOW_FOREIGN_SOCKET',
  }),
  admin: Flags.string({
    description: 'reach the daemon over its admin TCP listener (admin.listen) instead of the socket, e.g. http://cache1:9091 [env: TAVERN_ADMIN_URL]; needs --token-file',
  }),
  'token-file': Flags.string({
    description: "file holding the daemon's admin token (admin.tokenFile; owner-only, mode 0600) for --admin [env: TAVERN_TOKEN_FILE]",
  }),
  'admin-ca': Flags.string({
    description: 'PEM file of the CA to trust for an https:// --admin URL (default: the system roots)',
  }),
}

export interface ClientFlags {
  config?: string
  socket?: string
  'allow-foreign-socket'?: boolean
  admin?: string
  'token-file'?: string
  'admin-ca'?: string
}

/** Base for commands that talk to the daemon: uniform exit codes and messages for people and for cron. */
export abstract class AdminCommand extends Command {
  /**
   * The admin socket: --socket, else the config's `socket` (-c FILE, or the working directory's config: the config
   * is loaded only when there is one, so a plain one-shot command does not pay for cosmiconfig and zod), else
   * $TAVERN_SOCKET, else the default path. Refused (exit 3) when it belongs to another user, unless allowed.
   */
  protected async adminSocket(flags: ClientFlags): Promise<string> {
    let fromConfig: string | undefined
    if (!flags.socket && (flags.config !== undefined || configMayExist(process.cwd()))) {
      const {loadConfig, ConfigError} = await import('../config/load.js')
      try {
        fromConfig = (await loadConfig({file: flags.config})).config.socket
      } catch (error) {
        if (error instanceof ConfigError) this.fail(error.message, 'TAVERN_ERR_INVALID_CONFIG')
        throw error
      }
    }
    const socket = resolveSocketPath({flag: flags.socket, config: fromConfig}).path
    if (!flags['allow-foreign-socket']) checkSocketOwner(socket)
    return socket
  }

  /**
   * How to reach the daemon: --admin (or TAVERN_ADMIN_URL) over TCP with the token of --token-file (or
   * TAVERN_TOKEN_FILE), else the admin socket (adminSocket()).
   */
  protected async adminTransport(flags: ClientFlags): Promise<AdminTransport> {
    const {resolveAdminTransport} = await import('../client/admin-http.js')
    return resolveAdminTransport({admin: flags.admin, tokenFile: flags['token-file'], caFile: flags['admin-ca']}, () => this.adminSocket(flags))
  }

  /**
   * Print a failure for people (stderr) and, with --json, as `{error: {code, message}}` on stdout; exit with the
   * code's class (usage 2, unreachable 3, anything else 1). Never a stack trace. `code` may be one an older or newer
   * daemon sent (exit 1 unless `exit` says otherwise).
   */
  protected fail(message: string, code: ErrorCode | string, exit: number = exitCodeOf(code)): never {
    if (this.jsonEnabled()) process.stdout.write(`${JSON.stringify({error: {code, message}})}\n`)
    process.stderr.write(`tavern: ${message}\n`)
    this.exit(exit)
  }

  /** A usage error (exit 2). */
  protected usage(message: string): never {
    return this.fail(message, 'TAVERN_ERR_USAGE')
  }

  protected override async catch(err: Error & {code?: string; oclif?: {exit?: number}}): Promise<unknown> {
    // this.exit(n) throws an ExitError: a deliberate exit, not a failure to report.
    if (err.code === 'EEXIT') throw err
    if (err instanceof TavernError) {
      // Unreachable daemon, a socket of another user, …: the catalogue says how to exit.
      if (this.jsonEnabled()) process.stdout.write(`${JSON.stringify(err.toJSON())}\n`)
      const hint =
        err instanceof DaemonUnreachableError
          ? /^https?:/.test(err.socketPath)
            ? '\nIs `tavern serve` running there with admin.listen at that address?'
            : '\nIs `tavern serve` running? Pass --socket or -c, or set TAVERN_SOCKET, if it uses another socket.'
          : ''
      process.stderr.write(`tavern: ${err.message}${hint}\n`)
      process.exitCode = err.exit
      return this.exit(err.exit)
    }
    // oclif's own parse errors (unknown flag, missing arg) are usage errors.
    if (err.oclif?.exit === 2 || /Unexpected argument|Nonexistent flag|Missing required/.test(err.message)) {
      process.stderr.write(`tavern: ${err.message}\n`)
      return this.exit(exitCodeOf('TAVERN_ERR_USAGE'))
    }
    return super.catch(err)
  }
}
