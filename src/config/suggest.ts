/**
 * "Did you mean": for a key the schema does not know, the closest known key at that level (case, `_` and `-`
 * ignored, then Damerau-Levenshtein distance of at most 2), else a known alias, else the same name at another level
 * (`maxDiskBytes` at the top → `storage.maxDiskBytes`). Reads the zod schema's structure, so new keys need no list.
 */

/** The parts of a zod 4 schema's definition this walks (objects, wrappers, pipes, arrays, records, unions). */
interface SchemaNode {
  _zod: {def: SchemaDef}
}
interface SchemaDef {
  type: string
  innerType?: SchemaNode
  in?: SchemaNode
  shape?: Record<string, SchemaNode>
  element?: SchemaNode
  valueType?: SchemaNode
  options?: readonly SchemaNode[]
}

type PathPart = string | number | symbol

/** Wrappers (default, prefault, optional, pipe/transform…) removed: the schema that checks the value's shape. */
function unwrap(node: SchemaNode): SchemaNode {
  let n = node
  for (let i = 0; i < 32; i++) {
    const d = n._zod.def
    if (d.innerType) n = d.innerType
    else if (d.type === 'pipe' && d.in) n = d.in
    else break
  }
  return n
}

/**
 * The object schemas a value at `path` may be checked by (several when a union has several object options), and
 * whether the path goes through a list or a map (upstreams[0], cache.sites.HOST).
 */
function objectsAt(root: SchemaNode, path: readonly PathPart[]): {objects: SchemaNode[]; viaCollection: boolean} {
  let nodes = [unwrap(root)]
  let viaCollection = false
  for (const part of path) {
    const next: SchemaNode[] = []
    for (const n of nodes.flatMap(expandUnion)) {
      const d = n._zod.def
      if (d.type === 'object' && typeof part === 'string' && d.shape?.[part]) next.push(unwrap(d.shape[part]))
      else if (d.type === 'array' && typeof part === 'number' && d.element) next.push(unwrap(d.element))
      else if (d.type === 'record' && typeof part === 'string' && d.valueType) next.push(unwrap(d.valueType))
      else continue
      if (d.type !== 'object') viaCollection = true
    }
    nodes = next
  }
  return {objects: nodes.flatMap(expandUnion).filter((n) => n._zod.def.type === 'object'), viaCollection}
}

function expandUnion(n: SchemaNode): SchemaNode[] {
  const d = n._zod.def
  return d.type === 'union' && d.options ? d.options.map(unwrap).flatMap(expandUnion) : [n]
}

/** Keys an object at `path` may have. */
export function knownKeysAt(root: unknown, path: readonly PathPart[]): string[] {
  const keys = new Set<string>()
  for (const o of objectsAt(root as SchemaNode, path).objects) for (const k of Object.keys(o._zod.def.shape ?? {})) keys.add(k)
  return [...keys]
}

/** Every key path of nested objects (not inside lists or maps), e.g. `storage.maxDiskBytes`. */
export function allKeyPaths(root: unknown): string[][] {
  const out: string[][] = []
  const walk = (node: SchemaNode, prefix: string[]) => {
    for (const o of expandUnion(unwrap(node))) {
      if (o._zod.def.type !== 'object') continue
      for (const [k, child] of Object.entries(o._zod.def.shape ?? {})) {
        out.push([...prefix, k])
        walk(child, [...prefix, k])
      }
    }
  }
  walk(root as SchemaNode, [])
  return out
}

/** Optimal-string-alignment distance (Levenshtein plus transposition of two adjacent characters). */
export function editDistance(a: string, b: string): number {
  const rows: number[][] = Array.from({length: a.length + 1}, (_, i) => [i])
  for (let j = 1; j <= b.length; j++) rows[0]![j] = j
  for (let i = 1; i <= a.length; i++) {
    const row = rows[i]!
    const prev = rows[i - 1]!
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1
      let d = Math.min(prev[j]! + 1, row[j - 1]! + 1, prev[j - 1]! + cost)
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) d = Math.min(d, rows[i - 2]![j - 2]! + 1)
      row[j] = d
    }
  }
  return rows[a.length]![b.length]!
}

/** Compared without case, `_` or `-`: `max_disk_bytes`, `MaxDiskBytes` and `maxDiskBytes` are one name. */
function norm(k: string): string {
  return k.toLowerCase().replace(/[-_]/g, '')
}

/** Names people bring from other proxies or guess, by the level they appear at ('' = the top). */
const ALIASES: Record<string, Record<string, string>> = {
  '': {
    origin: 'upstreams',
    origins: 'upstreams',
    backend: 'upstreams',
    backends: 'upstreams',
    port: 'listen',
    bind: 'listen',
    address: 'listen',
    adminsocket: 'socket',
    storagedir: 'storage.dir',
    cachedir: 'storage.dir',
    loglevel: 'log.level',
    prometheus: 'metrics',
  },
  upstream: {timeout: 'upstream.headersTimeout', pool: 'upstream.connections', maxconnections: 'upstream.connections'},
  storage: {path: 'storage.dir', maxsize: 'storage.maxDiskBytes', memory: 'storage.memoryBytes'},
  accessLog: {file: 'accessLog.path'},
}

function join(path: readonly PathPart[]): string {
  return path.map((p) => (typeof p === 'number' ? `[${p}]` : String(p))).join('.').replace(/\.\[/g, '[')
}

/**
 * The key(s) someone who wrote `key` inside the object at `path` probably meant, as full paths; empty when nothing is
 * close. Inside lists and maps (upstreams[0], cache.sites.HOST) only the level itself is searched.
 */
export function suggestKeys(root: unknown, path: readonly PathPart[], key: string): string[] {
  const n = norm(key)
  const siblings = knownKeysAt(root, path)
  // Within 2 edits, and no more than a third of the name: `lg` → `log`, but `foo` is not `log`.
  const limit = Math.min(2, Math.ceil(n.length / 3))
  let best: {k: string; d: number} | undefined
  for (const k of siblings) {
    const d = editDistance(n, norm(k))
    if (d <= limit && (!best || d < best.d)) best = {k, d}
  }
  if (best) return [join([...path, best.k])]
  const alias = path.length <= 1 ? ALIASES[path.length ? String(path[0]) : '']?.[n] : undefined
  if (alias) return [alias]
  if (objectsAt(root as SchemaNode, path).viaCollection) return []
  // The same name one level off: `maxDiskBytes` at the top, `level` beside `log`.
  const here = join(path)
  return allKeyPaths(root)
    .filter((p) => norm(p[p.length - 1]!) === n && join(p.slice(0, -1)) !== here && p.length <= path.length + 2)
    .slice(0, 3)
    .map((p) => p.join('.'))
}

/** " (did you mean a or b?)", or '' when there is nothing to suggest. */
export function didYouMean(candidates: readonly string[]): string {
  if (candidates.length === 0) return ''
  const list = candidates.length === 1 ? candidates[0] : `${candidates.slice(0, -1).join(', ')} or ${candidates[candidates.length - 1]}`
  return `; did you mean ${list}?`
}
