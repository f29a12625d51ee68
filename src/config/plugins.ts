/**
 * Config fragments of the plugin system: `plugins` (modules to load, with their options) and `headerRewrite` (the
 * built-in header-rewrite plugin's rules). A plugin's options are validated by its own schema when the plugin is
 * loaded (src/plugins/loader.ts: serve, `config check`, reload); here only the shape of each entry.
 */
import {z} from 'zod'

import {HeaderRewriteOptions} from '../plugins/header-rewrite/options.js'

export const PluginEntry = z.strictObject({
  /** A path to an ES module (relative to the config file's directory), a file: URL, or `tavern:<name>` for a built-in. */
  module: z.string().min(1),
  /** Handed to the plugin's optionsSchema. */
  options: z.unknown().optional(),
})

export const PluginsConfig = z.array(PluginEntry).default([])

/** Rules of the built-in header-rewrite plugin; unset or empty: not loaded. */
export const HeaderRewriteConfig = HeaderRewriteOptions.optional()

export type PluginEntryConfig = z.output<typeof PluginEntry>
