import {Command, Flags} from '@oclif/core'

import {EXIT} from '../../client/admin-client.js'

export default class ConfigCheck extends Command {
  static override description = 'Validate a config file (or the one `tavern serve` would find) without starting anything'
  static override examples = ['<%= config.bin %> config check', '<%= config.bin %> config check -c /etc/tavern/tavern.config.yaml']
  static override enableJsonFlag = true
  static override flags = {
    config: Flags.string({char: 'c', description: 'config file (default: search the working directory)'}),
  }

  async run(): Promise<{ok: boolean; source: string; problems?: string[]}> {
    const {flags} = await this.parse(ConfigCheck)
    const {loadConfig, ConfigError} = await import('../../config/load.js')
    try {
      const {filepath} = await loadConfig({file: flags.config})
      const source = filepath ?? 'embedded defaults (no config file found)'
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
