/**
 * Shared pieces of the ops commands (purge, prefetch, inspect-key, verify-crc). Light imports only: this is loaded on
 * every one-shot command.
 */
import fs from 'node:fs/promises'

import type {ErrorBody} from '../admin/protocol.js'
import {EXIT_CODES, isErrorCode} from '../core/errors.js'
import {AdminCommand} from './base.js'

/** The code and message of an admin error answer (a daemon of another version may send a code we do not know). */
export function adminError(status: number, body: unknown): {code: string; message: string; exit: number} {
  const e = (body as Partial<ErrorBody> | null)?.error
  const code = typeof e?.code === 'string' ? e.code : 'TAVERN_ERR_DAEMON'
  const message = e?.message ? e.message : `daemon answered ${status}: ${JSON.stringify(body)}`
  // An unknown code: a 400 is still the caller's mistake (usage), anything else failed.
  const exit = isErrorCode(code) ? undefined : status === 400 ? EXIT_CODES.usage : EXIT_CODES.failed
  return {code, message, exit: exit ?? -1}
}

/** AdminCommand with the ops commands' admin-error exits. */
export abstract class OpsCommand extends AdminCommand {
  /** Fail on an admin error answer (or a stream's error line) with the exit code of its catalogue code. */
  protected adminFailure(status: number, body: unknown): never {
    const e = adminError(status, body)
    return e.exit < 0 ? this.fail(e.message, e.code) : this.fail(e.message, e.code, e.exit)
  }
}

/** Lines of a URL list: blank lines and `#` comments skipped. */
export function parseList(text: string): string[] {
  return parseNumberedList(text).map((l) => l.text)
}

/** The same, with each entry's 1-based line number (so a bad entry can be named). */
export function parseNumberedList(text: string): Array<{text: string; line: number}> {
  const out: Array<{text: string; line: number}> = []
  const lines = text.split(/\r?\n/)
  for (let i = 0; i < lines.length; i++) {
    const t = lines[i]!.trim()
    if (t !== '' && !t.startsWith('#')) out.push({text: t, line: i + 1})
  }
  return out
}

async function readStdin(): Promise<string> {
  const chunks: Buffer[] = []
  for await (const c of process.stdin as AsyncIterable<Buffer>) chunks.push(c)
  return Buffer.concat(chunks).toString('utf8')
}

/** URLs from arguments, `-` (stdin, once) and --file (one per line). */
export async function collectUrls(args: readonly string[], file: string | undefined): Promise<string[]> {
  return (await collectTargets(args, file)).urls
}

/** The same, with where each URL came from (`argument 2`, `stdin line 5`, `urls.txt line 7`) for error messages. */
export async function collectTargets(args: readonly string[], file: string | undefined): Promise<{urls: string[]; where: (i: number) => string}> {
  const urls: string[] = []
  const where: string[] = []
  let stdinRead = false
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!
    if (a === '-') {
      // not push(...list): long lists overflow the stack
      if (!stdinRead)
        for (const u of parseNumberedList(await readStdin())) {
          urls.push(u.text)
          where.push(`stdin line ${u.line}`)
        }
      stdinRead = true
    } else {
      urls.push(a)
      where.push(`argument ${i + 1}`)
    }
  }
  if (file !== undefined) {
    const text = file === '-' ? (stdinRead ? '' : await readStdin()) : await fs.readFile(file, 'utf8')
    const name = file === '-' ? 'stdin' : file
    for (const u of parseNumberedList(text)) {
      urls.push(u.text)
      where.push(`${name} line ${u.line}`)
    }
  }
  return {urls, where: (i) => where[i] ?? `entry ${i + 1}`}
}

/** `-H 'Name: value'` flags → {name: value} (repeated names joined with ", "); throws a message on a malformed one. */
export function parseHeaderFlags(values: readonly string[] | undefined): Record<string, string> {
  const out: Record<string, string> = {}
  for (const h of values ?? []) {
    const i = h.indexOf(':')
    const name = i > 0 ? h.slice(0, i).trim() : ''
    if (!/^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/.test(name)) throw new Error(`-H expects "Name: value", got ${JSON.stringify(h)}`)
    const value = h.slice(i + 1).trim()
    const existing = Object.keys(out).find((k) => k.toLowerCase() === name.toLowerCase())
    if (existing) out[existing] = `${out[existing]}, ${value}`
    else out[name] = value
  }
  return out
}

/** A single updating status line on stderr, only when stderr is a terminal (never in pipes, cron or --json). */
export class ProgressLine {
  private shown = false
  private last = 0

  constructor(private readonly enabled: boolean = process.stderr.isTTY === true) {}

  update(text: string, force = false): void {
    if (!this.enabled) return
    const now = Date.now()
    if (!force && now - this.last < 100) return
    this.last = now
    const width = Math.max(20, (process.stderr.columns || 80) - 1)
    process.stderr.write(`\r\x1b[K${text.length > width ? text.slice(0, width - 1) + '…' : text}`)
    this.shown = true
  }

  clear(): void {
    if (this.shown) process.stderr.write('\r\x1b[K')
    this.shown = false
  }

  /** Write a whole line to stderr without garbling the status line. */
  note(line: string): void {
    this.clear()
    process.stderr.write(line + '\n')
  }
}

export function plural(n: number, one: string, many = one + 's'): string {
  return `${n} ${n === 1 ? one : many}`
}
