// A small Dockerfile and .dockerignore reader for the packaging test and scripts/dockerfile-replay.mjs: enough of the
// syntax this repository's Dockerfile uses (line continuations, comments, stages, instructions with their arguments).

/** Stages in order: {from, name?, instructions: [{op, args}]}. */
export function parseDockerfile(text) {
  const lines = []
  let cur = ''
  for (const raw of text.split('\n')) {
    const line = raw.trimEnd()
    if (!cur && /^\s*#/.test(line)) continue
    if (/^\s*#/.test(line)) continue // a comment inside a continued instruction
    if (line.endsWith('\\')) {
      cur += `${line.slice(0, -1)} `
      continue
    }
    cur += line
    if (cur.trim()) lines.push(cur.trim())
    cur = ''
  }
  const stages = []
  for (const line of lines) {
    const m = /^(\w+)\s+([\s\S]*)$/.exec(line)
    if (!m) continue
    const op = m[1].toUpperCase()
    const args = m[2].replace(/\s+/g, ' ').trim()
    if (op === 'FROM') {
      const f = /^(\S+)(?:\s+AS\s+(\S+))?$/i.exec(args)
      stages.push({from: f[1], name: f[2], instructions: []})
    } else if (stages.length) stages.at(-1).instructions.push({op, args})
  }
  return {stages}
}

/** A predicate: is this context-relative path (a/b/c) excluded by the .dockerignore text? (Also when a parent is.) */
export function dockerignoreMatcher(text) {
  const rules = text
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l && !l.startsWith('#'))
    .map((p) => {
      const negate = p.startsWith('!')
      const body = (negate ? p.slice(1) : p).replace(/^\/+|\/+$/g, '')
      const re = body
        .split('/')
        .map((seg) => (seg === '**' ? '.*' : seg.replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '[^/]*').replace(/\?/g, '[^/]')))
        .join('/')
      // As docker does: matched from the context root (`**/` for any depth); a matched directory takes its contents.
      return {negate, re: new RegExp(`^${re.replace(/^\.\*\//, '(?:.*/)?')}$`)}
    })
  return (rel) => {
    const parts = rel.split(/[\\/]/).filter(Boolean)
    let excluded = false
    for (let i = 1; i <= parts.length; i++) {
      const p = parts.slice(0, i).join('/')
      for (const r of rules) if (r.re.test(p)) excluded = !r.negate
      if (excluded) return true
    }
    return excluded
  }
}
