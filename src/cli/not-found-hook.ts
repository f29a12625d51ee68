import type {Hook} from '@oclif/core'

import {editDistance} from '../config/suggest.js'

/**
 * The commands someone who typed `typed` (oclif's id, words joined by ':') probably meant: a command the typed word
 * starts (`inspect` → `inspect-key`) or names the last word of (`check` → `config:check`), else those within a small
 * edit distance (`purg`, `stauts`, `config:chek`). Best first, at most three.
 */
export function closestCommands(typed: string, ids: readonly string[]): string[] {
  const t = typed.toLowerCase()
  const named = ids.filter((id) => t.length >= 3 && (id.startsWith(t) || id.split(':').pop() === t))
  if (named.length) return named.slice(0, 3)
  const limit = Math.min(2, Math.max(1, Math.ceil(t.length / 3)))
  return ids
    .map((id) => ({id, d: editDistance(t, id)}))
    .filter((c) => c.d <= limit)
    .sort((a, b) => a.d - b.d || a.id.localeCompare(b.id))
    .slice(0, 3)
    .map((c) => c.id)
}

/**
 * An unknown command: say which one was meant and exit 2 (a usage error, as in the README's exit-code table). Never
 * a prompt, and never running the guess: `tavern purg --dir /` must not become a purge because someone pressed Enter
 * (why not @oclif/plugin-not-found: it prompts and runs the guess on a terminal, and prints no suggestion without one).
 */
const hook: Hook<'command_not_found'> = async function (opts) {
  const visible = opts.config.commands.filter((c) => !c.hidden)
  const ids = [...visible.map((c) => c.id), ...visible.flatMap((c) => c.aliases)]
  // `tavern confg check` arrives as id "confg" with argv ["check"]: try the words together too.
  const words = [opts.id, ...(opts.argv ?? []).filter((a) => !a.startsWith('-'))]
  let guesses = closestCommands(opts.id, ids)
  if (!guesses.length && words.length > 1) guesses = closestCommands(words.slice(0, 2).join(':'), ids)
  const sep = opts.config.topicSeparator
  const show = (id: string) => id.replaceAll(':', sep)
  const bin = opts.config.bin
  const hint = guesses.length ? ` Did you mean ${guesses.map((g) => `\`${bin} ${show(g)}\``).join(' or ')}?` : ''
  process.stderr.write(`${bin}: ${show(opts.id)} is not a ${bin} command.${hint}\nRun \`${bin} help\` for a list of commands.\n`)
  this.exit(2)
}

export default hook
