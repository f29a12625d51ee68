import {Command} from '@oclif/core'

import {EXIT} from '../../client/admin-client.js'
import {resolveSocketPath} from '../../client/socket-path.js'
import {loadServeConfig, serveConfigFlags} from '../../cli/serve-flags.js'

export default class ConfigCheck extends Command {
  static override description = `Check a config as \`tavern serve\` would, without starting anything
Runs every check serve makes before it binds a port: the config validates, an upstream is configured, storage.dir can
be created or written, the access log can be opened, the admin socket path is usable, no two listeners share a port.
Takes the same flags as serve (they override the file the same way), so it checks exactly the run you are about to
start. Run it as the daemon's user: file permissions are checked for whoever runs it.`
  static override examples = [
    '<%= config.bin %> config check',
    '<%= config.bin %> config check -c /etc/tavern/tavern.config.yaml',
    '<%= config.bin %> config check --upstream http://127.0.0.1:3000 --storage /var/cache/tavern',
  ]
  static override enableJsonFlag = true
  static override flags = serveConfigFlags

  async run(): Promise<{ok: boolean; source: string; problems?: string[]}> {
    const {flags} = await this.parse(ConfigCheck)
    const [{ConfigError}, {assertStartable}] = await Promise.all([import('../../config/load.js'), import('../../config/preflight.js')])
    try {
      const loaded = await loadServeConfig(flags)
      await assertStartable(loaded, {socket: resolveSocketPath({config: loaded.config.socket})})
      // Plugins import and their options validate (as serve and reload check them; setup is not run here).
      await (await import('../../plugins/loader.js')).checkPlugins(loaded)
      const source = loaded.filepath ?? 'embedded defaults (no config file found)'
      if (!this.jsonEnabled()) this.log(`config ok: ${source}`)
      return {ok: true, source}
    } catch (error) {
      if (!(error instanceof ConfigError)) throw error
      process.exitCode = EXIT.usage
      if (!this.jsonEnabled()) process.stderr.write(`tavern: ${error.message}\n`)
      return {ok: false, source: error.source, problems: error.problems}
    }
  }
}
