import {Command} from '@oclif/core'

import {EXIT} from '../client/admin-client.js'
import {resolveSocketPath} from '../client/socket-path.js'
import {loadServeConfig, serveConfigFlags} from '../cli/serve-flags.js'

/** After SIGTERM/SIGINT the process ends at the latest server.shutdownTimeout + this, whatever happens. */
const SHUTDOWN_WATCHDOG_EXTRA_MS = 5000

export default class Serve extends Command {
  static override description = `Run the caching reverse proxy in the foreground (logs JSON lines to stdout).
SIGTERM/SIGINT stop it gracefully (in-flight requests finish up to server.shutdownTimeout; the process ends within
server.shutdownTimeout + 5 s whatever happens); a second signal ends it at once. SIGHUP reloads the config.`
  static override examples = [
    '<%= config.bin %> serve --upstream http://127.0.0.1:3000',
    '<%= config.bin %> serve -c /etc/tavern/tavern.config.yaml',
    '<%= config.bin %> serve --listen 0.0.0.0:8080 --upstream http://10.0.0.5 --storage /var/cache/tavern',
  ]
  static override flags = serveConfigFlags

  async run(): Promise<void> {
    const {flags} = await this.parse(Serve)
    const [{ConfigError}, {assertStartable}, {Daemon}, {createLogger, stdoutDestination}, {hardExit, installLastResort}, {parseFaults}, {sdNotifier}] = await Promise.all([
      import('../config/load.js'),
      import('../config/preflight.js'),
      import('../daemon/daemon.js'),
      import('../daemon/logger.js'),
      import('../daemon/last-resort.js'),
      import('../daemon/fault.js'),
      import('../daemon/sd-notify.js'),
    ])
    let faults
    try {
      faults = parseFaults(process.env.TAVERN_FAULT)
    } catch (error) {
      process.stderr.write(`tavern: ${(error as Error).message}\n`)
      this.exit(EXIT.usage)
    }
    const load = () => loadServeConfig(flags)
    let loaded
    let socket: ReturnType<typeof resolveSocketPath>
    try {
      loaded = await load()
      socket = resolveSocketPath({config: loaded.config.socket})
      // Everything that can be checked before a port is bound or the store opened, the same checks as `config check`.
      await assertStartable(loaded, {socket})
    } catch (error) {
      if (error instanceof ConfigError) {
        process.stderr.write(`tavern: ${error.message}\n`)
        this.exit(EXIT.usage)
      }
      throw error
    }
    const log = createLogger(loaded.config.log.level)
    const stdout = stdoutDestination()
    // systemd (Type=notify): READY once listening, STOPPING, STATUS lines, watchdog pings; a no-op without NOTIFY_SOCKET.
    // Its promises never reject (a failure is logged once).
    const notifier = sdNotifier(log)
    let serving = 'starting'
    // From here on, an exception nobody handles logs one fatal line and ends the process within a second.
    installLastResort()
    // Everything is closed on the graceful path (LMDB flushed, no pool thread waits for JS), so exit() cannot wedge;
    // a stdout write still stuck in the thread pool (a blocking descriptor nobody reads) could, so that ends by kill.
    const finish = async (code: number): Promise<never> => {
      const drained = await stdout.drain(1000)
      if (!drained && stdout.writeInProgress) hardExit('stdout did not take the last log lines within 1 s; ending without waiting for it')
      process.exit(code)
    }
    let daemon: Awaited<ReturnType<typeof Daemon.start>> | undefined
    let stopping: string | undefined
    const shutdown = (d: NonNullable<typeof daemon>, signal: string) => {
      // Whatever origins, clients, disks or stdout do, the process ends this long after the signal (a ref'd timer).
      const limitMs = d.config.server.shutdownTimeout + SHUTDOWN_WATCHDOG_EXTRA_MS
      void notifier.stopping(`stopping (${signal}); in-flight requests get up to ${d.config.server.shutdownTimeout} ms`)
      setTimeout(() => hardExit(`shutdown did not finish within ${limitMs} ms (server.shutdownTimeout + ${SHUTDOWN_WATCHDOG_EXTRA_MS} ms): ending the process now`, {signal}), limitMs)
      void d.shutdown().then(
        () => finish(EXIT.ok),
        (error: unknown) => {
          log.error({err: error}, 'shutdown failed')
          return finish(EXIT.failed)
        },
      )
    }
    // Installed before the daemon starts (and so before "tavern ready"): a signal is never met by the default action.
    const stop = (signal: string) => {
      if (stopping) hardExit('second signal: exiting now', {signal})
      stopping = signal
      log.info({signal}, 'signal received')
      if (daemon) shutdown(daemon, signal) // else: right after the start completes
    }
    process.on('SIGTERM', () => stop('SIGTERM'))
    process.on('SIGINT', () => stop('SIGINT'))
    process.on('SIGUSR1', () => daemon?.accessLog?.reopen())
    process.on('SIGHUP', () => {
      daemon?.reload().catch((error: Error) => {
        const problems = (error as {problems?: string[]}).problems
        log.error({problems: problems ?? error.message}, 'reload refused; keeping the running config')
      })
    })
    // Every reload (SIGHUP, or POST /reload from `tavern reload` = the unit's ExecReload): systemd hears RELOADING=1
    // when it starts and READY=1 with a STATUS line when it is over, applied or refused.
    const onReload: NonNullable<Parameters<typeof Daemon.start>[0]['onReload']> = (e) => {
      if (e.phase === 'start') void notifier.reloading('reloading the config')
      else if (e.phase === 'applied') void notifier.ready(`${serving}; config reloaded at ${new Date().toISOString()}`)
      else void notifier.ready(`${serving}; reload refused at ${new Date().toISOString()}: ${e.problem}`)
    }
    try {
      // A reload is held to the same checks (a config without upstreams, an access log that cannot open): refused, the
      // running config stays. The socket and storage are restart-only and pass as they are.
      const reloadConfig = async () => {
        const next = await load()
        await assertStartable(next, {socket: resolveSocketPath({config: next.config.socket})})
        return next
      }
      daemon = await Daemon.start({loaded, socketPath: socket.path, socketIsDefault: socket.isDefault, log, reloadConfig, faults, onReload})
    } catch (error) {
      const e = error as NodeJS.ErrnoException
      if (error instanceof ConfigError) {
        process.stderr.write(`tavern: ${error.message}\n`)
        this.exit(EXIT.usage)
      }
      // Listen failures name their listener and address (daemon/listen-error.ts); socket-guard errors say what is wrong.
      const msg = e.message
      log.fatal({err: e}, msg)
      await stdout.drain(1000)
      process.stderr.write(`tavern: ${msg}\n`)
      this.exit(EXIT.failed)
    }
    serving = `serving on ${daemon.listenAddress}; admin socket ${socket.path}`
    void notifier.ready(serving)
    notifier.startWatchdog()
    if (stopping) shutdown(daemon, stopping)
    await new Promise<never>(() => {}) // runs until a signal ends the process
  }
}
