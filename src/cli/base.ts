import {Command, Flags} from '@oclif/core'

import {DaemonUnreachableError, EXIT} from '../client/admin-client.js'
import {defaultSocketPath} from '../client/socket-path.js'

/** Shared flag: where the daemon's admin socket is. */
export const socketFlag = Flags.string({
  description: 'admin socket of the daemon [env: TAVERN_SOCKET]',
  default: async () => defaultSocketPath(),
  defaultHelp: async () => defaultSocketPath(),
})

/** Base for commands that talk to the daemon: uniform exit codes and messages for people and for cron. */
export abstract class AdminCommand extends Command {
  /** Print a failure for people (stderr) and exit with a documented code; never a stack trace. */
  protected fail(message: string, code: number = EXIT.failed): never {
    process.stderr.write(`tavern: ${message}\n`)
    this.exit(code)
  }

  protected override async catch(err: Error & {code?: string; oclif?: {exit?: number}}): Promise<unknown> {
    // this.exit(n) throws an ExitError: a deliberate exit, not a failure to report.
    if (err.code === 'EEXIT') throw err
    if (err instanceof DaemonUnreachableError) {
      if (this.jsonEnabled()) process.stdout.write(`${JSON.stringify({error: {code: 'unreachable', message: err.message}})}\n`)
      process.stderr.write(`tavern: ${err.message}\nIs \`tavern serve\` running? Pass --socket or set TAVERN_SOCKET if it uses another socket.\n`)
      process.exitCode = EXIT.unreachable
      return this.exit(EXIT.unreachable)
    }
    // oclif's own parse errors (unknown flag, missing arg) are usage errors.
    if (err.oclif?.exit === 2 || /Unexpected argument|Nonexistent flag|Missing required/.test(err.message)) {
      process.stderr.write(`tavern: ${err.message}\n`)
      return this.exit(EXIT.usage)
    }
    return super.catch(err)
  }
}
