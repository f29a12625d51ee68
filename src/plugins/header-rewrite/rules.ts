/**
 * A list of header-rewrite rules compiled once per config into one program, applied in a single pass over a header
 * list whatever the number of rules. The meaning is that of running the rules one after another, each doing
 * remove + rename (one pass), then its `set`s, then its `add`s; compiled, it reads:
 *
 *  - every action is a numbered step (per rule: the remove/rename pass, then one step per set or add value);
 *  - every field name some rule removes, renames or sets has an entry listing the steps that touch it, in order;
 *  - each header line, found in its entry by length then a case-insensitive compare (no lower-casing per hit), walks
 *    its entry's steps of the rules that matched: dropped, renamed (then it walks the new name's entry), or taken
 *    by a `set` (the first line to reach a set takes its value; later ones are dropped);
 *  - lines that sets did not place and `add`s are appended in step order, each walking the steps after its own.
 *
 * Values are formatted only when a line needs them ($request_id of a rule that does not match is never formatted).
 * The input list (maybe a stored record's pre-built one) is never changed: it is returned as is when no line changes,
 * else a new list is built once.
 */
import type {RawHeaders} from '../../util/raw-headers.js'
import {type Authority, type CompiledMatch, compileMatch, type MatchInput, matches, matchesAll, splitAuthority} from './match.js'
import {STAGE_VARIABLES, type RequestRuleConfig, type ResponseRuleConfig, type RuleKind} from './options.js'
import {compileTemplate, expand, isConstant, type Template, type VariableLookup} from './template.js'

export type {MatchInput} from './match.js'

const DROP = 0
const RENAME = 1
const SET = 2

/** A step of one field's entry. */
interface Op {
  readonly kind: typeof DROP | typeof RENAME | typeof SET
  readonly step: number
  /** Position of the rule in its list. */
  readonly rule: number
  /** RENAME: the new name as written; SET: the name as written in the rule. */
  readonly name: string
  /** RENAME: the entry of the new name (undefined: no step touches it). */
  target: Entry | undefined
  /** SET: its value. */
  readonly emit: Emit | undefined
}

/** The steps that touch one field name (any case), ordered by step. */
interface Entry {
  readonly lname: string
  readonly ops: Op[]
}

/** A `set` or `add` value. */
interface Emit {
  readonly kind: typeof SET | 'add'
  readonly step: number
  readonly rule: number
  readonly name: string
  readonly template: Template
  /** The value when the template has no variables. */
  readonly constant: string | undefined
  /** The entry of its name (undefined: no step touches it). */
  entry: Entry | undefined
}

function template(v: string, kind: RuleKind): Template {
  const r = compileTemplate(v, STAGE_VARIABLES[kind], kind)
  // The options schema rejected every bad template already.
  if ('error' in r) throw new TypeError(r.error)
  return r.template
}

/** `name` equals the lower-case `lname` of the same length, ignoring ASCII case. */
function sameName(name: string, lname: string): boolean {
  for (let i = 0; i < name.length; i++) {
    let c = name.charCodeAt(i)
    if (c >= 65 && c <= 90) c += 32
    if (c !== lname.charCodeAt(i)) return false
  }
  return true
}

/** A value after substitution that could split a header (a variable carried CR/LF/NUL): the line is dropped. */
function unsafe(v: string): boolean {
  for (let i = 0; i < v.length; i++) {
    const c = v.charCodeAt(i)
    if (c === 13 || c === 10 || c === 0) return true
  }
  return false
}

/**
 * The state of one application: which rules matched, the values formatted so far, which sets placed their line.
 * One per rule set, reused: `apply` is synchronous and nothing it calls can re-enter it. A slot counts for this
 * application only when it holds the current generation, so nothing is cleared between calls.
 */
class Run {
  private gen = 0
  private readonly matchedGen: Uint32Array
  private readonly placedGen: Uint32Array
  private readonly valueGen: Uint32Array
  /** Per step: the value formatted in this generation, null = not sent (empty or unsafe). */
  private readonly values: Array<string | null>
  vars: VariableLookup = () => undefined
  onDropped: ((rule: number, name: string) => void) | undefined = undefined
  /** The line being walked. */
  name = ''
  value = ''

  constructor(rules: number, steps: number) {
    this.matchedGen = new Uint32Array(rules)
    this.placedGen = new Uint32Array(steps)
    this.valueGen = new Uint32Array(steps)
    this.values = Array.from({length: steps}, () => null)
  }

  start(vars: VariableLookup, onDropped: ((rule: number, name: string) => void) | undefined): void {
    if (++this.gen === 0xffffffff) {
      this.gen = 1
      this.matchedGen.fill(0)
      this.placedGen.fill(0)
      this.valueGen.fill(0)
    }
    this.vars = vars
    this.onDropped = onDropped
  }

  match(rule: number): void {
    this.matchedGen[rule] = this.gen
  }

  matched(rule: number): boolean {
    return this.matchedGen[rule] === this.gen
  }

  place(step: number): void {
    this.placedGen[step] = this.gen
  }

  placed(step: number): boolean {
    return this.placedGen[step] === this.gen
  }

  /** The value of `step` formatted in this application, or undefined. */
  cached(step: number): string | null | undefined {
    return this.valueGen[step] === this.gen ? this.values[step] : undefined
  }

  cache(step: number, v: string | null): void {
    this.valueGen[step] = this.gen
    this.values[step] = v
  }
}

export class RuleSet {
  /** Rule indexes in their list (for logs), by position. */
  private readonly indexes: readonly number[]
  private readonly matches: readonly CompiledMatch[]
  /** Positions of rules that match every request. */
  private readonly always: Uint8Array
  private readonly emits: readonly Emit[]
  /** Entries by name length (a line of another length is not looked at twice). */
  private readonly byLength: ReadonlyArray<readonly Entry[] | undefined>
  private readonly run: Run

  /** `rules`: [index in its list, rule]. */
  constructor(rules: ReadonlyArray<readonly [number, RequestRuleConfig | ResponseRuleConfig]>, kind: RuleKind) {
    this.indexes = rules.map(([i]) => i)
    this.matches = rules.map(([, r]) => compileMatch(r))
    this.always = Uint8Array.from(this.matches, (m) => (matchesAll(m) ? 1 : 0))
    const entries = new Map<string, Entry>()
    const entry = (lname: string): Entry => {
      let e = entries.get(lname)
      if (e === undefined) entries.set(lname, (e = {lname, ops: []}))
      return e
    }
    const emits: Emit[] = []
    let step = 0
    rules.forEach(([, r], rule) => {
      const pass = step++
      const remove = new Set((r.remove ?? []).map((n) => n.toLowerCase()))
      for (const l of remove) entry(l).ops.push({kind: DROP, step: pass, rule, name: '', target: undefined, emit: undefined})
      // Like a map keyed by lower-case name: the last rename of a name wins, and a removed name is not renamed.
      const rename = new Map(Object.entries(r.rename ?? {}).map(([from, to]) => [from.toLowerCase(), to] as const))
      for (const [l, to] of rename) if (!remove.has(l)) entry(l).ops.push({kind: RENAME, step: pass, rule, name: to, target: undefined, emit: undefined})
      const value = (k: Emit['kind'], name: string, v: string) => {
        const t = template(v, kind)
        const em: Emit = {kind: k, step: step++, rule, name, template: t, constant: isConstant(t) ? (t[0] as string) : undefined, entry: undefined}
        emits.push(em)
        if (k === SET) entry(name.toLowerCase()).ops.push({kind: SET, step: em.step, rule, name, target: undefined, emit: em})
      }
      for (const [n, v] of Object.entries(r.set ?? {})) value(SET, n, v)
      for (const [n, v] of Object.entries(r.add ?? {})) for (const x of Array.isArray(v) ? v : [v]) value('add', n, x)
    })
    for (const e of entries.values()) for (const op of e.ops) if (op.kind === RENAME) op.target = entries.get(op.name.toLowerCase())
    for (const em of emits) em.entry = entries.get(em.name.toLowerCase())
    const byLength: Entry[][] = []
    for (const e of entries.values()) (byLength[e.lname.length] ??= []).push(e)
    this.byLength = Array.from({length: byLength.length}, (_, i) => byLength[i])
    this.emits = emits
    this.run = new Run(rules.length, step)
  }

  get size(): number {
    return this.matches.length
  }

  private entryOf(name: string): Entry | undefined {
    if (name.length >= this.byLength.length) return undefined
    const b = this.byLength[name.length]
    if (b === undefined) return undefined
    for (const e of b) if (sameName(name, e.lname)) return e
    return undefined
  }

  /** The value of a set or add for this application, formatted on first use; null when it is not sent. */
  private valueOf(run: Run, em: Emit): string | null {
    if (em.constant !== undefined) return em.constant
    let v = run.cached(em.step)
    if (v !== undefined) return v
    const s = expand(em.template, run.vars)
    // A templated value that came out empty (e.g. $upstream on a hit) is not sent, like nginx's add_header; one
    // that carries CR/LF/NUL is dropped and reported.
    if (s === '') v = null
    else if (unsafe(s)) {
      run.onDropped?.(this.indexes[em.rule]!, em.name)
      v = null
    } else v = s
    run.cache(em.step, v)
    return v
  }

  /** Walk the line in run.name/run.value through the steps after `after`; false: it was dropped. */
  private walk(run: Run, e: Entry | undefined, after: number): boolean {
    next: while (e !== undefined) {
      const ops = e.ops
      for (let i = 0; i < ops.length; i++) {
        const op = ops[i]!
        if (op.step <= after || !run.matched(op.rule)) continue
        if (op.kind === DROP) return false
        if (op.kind === RENAME) {
          run.name = op.name
          after = op.step
          e = op.target
          continue next
        }
        const v = this.valueOf(run, op.emit!)
        if (v === null) continue
        if (run.placed(op.step)) return false
        run.place(op.step)
        run.name = op.name
        run.value = v
        after = op.step
      }
      return true
    }
    return true
  }

  /** The header list after every matching rule, in order; `h` itself when nothing changed (it is never changed). */
  apply(h: RawHeaders, m: MatchInput, vars: VariableLookup, onDropped?: (rule: number, name: string) => void): RawHeaders {
    const n = this.matches.length
    const run = this.run
    run.start(vars, onDropped)
    let authority: Authority | undefined
    let any = false
    for (let r = 0; r < n; r++) {
      const c = this.matches[r]!
      if (c.hosts && authority === undefined && m.host !== undefined) authority = splitAuthority(m.host)
      if (this.always[r] === 1 || matches(c, m, authority)) {
        run.match(r)
        any = true
      }
    }
    if (!any) return h
    let out: RawHeaders | undefined
    for (let i = 0; i < h.length; i += 2) {
      const name = h[i]!
      const e = this.entryOf(name)
      if (e === undefined) {
        out?.push(name, h[i + 1]!)
        continue
      }
      const value = h[i + 1]!
      run.name = name
      run.value = value
      const kept = this.walk(run, e, -1)
      if (out === undefined && (!kept || run.name !== name || run.value !== value)) out = h.slice(0, i)
      if (kept) out?.push(run.name, run.value)
    }
    for (const em of this.emits) {
      if (!run.matched(em.rule) || (em.kind === SET && run.placed(em.step))) continue
      const v = this.valueOf(run, em)
      if (v === null) continue
      run.name = em.name
      run.value = v
      if (this.walk(run, em.entry, em.step)) {
        out ??= h.slice()
        out.push(run.name, run.value)
      }
    }
    return out ?? h
  }
}

/** Compile a stage's rules (`rules`: [index in its list, rule], in order). */
export function compileRules(rules: ReadonlyArray<readonly [number, RequestRuleConfig | ResponseRuleConfig]>, kind: RuleKind): RuleSet {
  return new RuleSet(rules, kind)
}
