// Colour for child tools, decided the usual way: NO_COLOR wins, FORCE_COLOR forces, otherwise colour only on a
// terminal. vitest's colour library (tinyrainbow) colours whenever TERM is not "dumb", even into a pipe or a CI log
// file, so a run whose output is not a terminal gets NO_COLOR set unless the caller asked for colour.
export function colourEnv(env, isTTY) {
  if ('NO_COLOR' in env || 'FORCE_COLOR' in env) return {}
  return isTTY ? {} : {NO_COLOR: '1'}
}
