/**
 * Item 5 of "Hardening I": a 206 whose complete-length is huge must not cost memory or disk in proportion to that
 * length (RFC 9110 §14.4 lets any length be announced; RFC 9110 §5.4/§15.6.3: a recipient may refuse what it cannot
 * handle, with 502). One 1 MiB slice of a 2^50-byte object cost ~650 MB RSS on today's code. The daemon runs with
 * the default slice size (1 MiB) so the bitmap a naive implementation allocates stays survivable on this machine.
 */
import fs from 'node:fs'
import path from 'node:path'

import {describe, expect, it} from 'vitest'

import {describeRaw} from '../helpers/raw-client.js'
import {head} from '../helpers/raw-origin.js'
import {casePath, payload, useHostile} from './harness.js'

function rssBytes(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'))
  return Number(m![1]) * 1024
}

/** Bytes really allocated on disk under `dir` (sparse files count only their blocks). */
function diskUse(dir: string): number {
  let n = 0
  const walk = (d: string) => {
    for (const e of fs.readdirSync(d, {withFileTypes: true})) {
      const p = path.join(d, e.name)
      if (e.isDirectory()) walk(p)
      else if (e.isFile()) n += fs.statSync(p).blocks * 512
    }
  }
  walk(dir)
  return n
}

const MiB = 1024 * 1024

describe('huge complete-length in a 206', () => {
  const h = useHostile()

  for (const total of [2 ** 40, 2 ** 50]) {
    it(`[item 5] Content-Range total ${total} (2^${Math.log2(total)}): RSS and disk stay bounded, the client gets the right bytes or 502 — RFC 9110 §14.4, §15.6.3`, async () => {
      await h.ensure()
      const p = casePath(`bomb-${total}`)
      const slice = payload(MiB, 5)
      // The representation as far as the origin tells it: its first MiB is `slice`.
      h.origin.route(p, (req) => {
        const m = /^bytes=(\d+)-(\d*)$/.exec(req.header('range') ?? '')
        const start = m ? Number(m[1]) : 0
        if (start >= MiB) return [{write: head(416, ['Content-Range', `bytes */${total}`, 'Content-Length', '0'])}]
        const end = Math.min(m && m[2] ? Number(m[2]) : MiB - 1, MiB - 1)
        const part = slice.subarray(start, end + 1)
        return [{write: Buffer.concat([head(206, ['Cache-Control', 'max-age=3600', 'ETag', '"huge"', 'Content-Range', `bytes ${start}-${end}/${total}`, 'Content-Length', String(part.length)]), part])}]
      })
      const rss0 = rssBytes(h.d.pid)
      const disk0 = diskUse(h.d.storageDir)
      const r = await h.request('GET', p, ['Range', 'bytes=0-99'], {timeoutMs: 20_000})
      expect(await h.died(200), `the daemon died: ${describeRaw(r)}`).toBe(false)
      expect([206, 502], describeRaw(r)).toContain(r.status)
      if (r.status === 206) {
        expect(r.header('content-range')).toBe(`bytes 0-99/${total}`)
        expect(r.body.equals(slice.subarray(0, 100))).toBe(true)
      }
      // A second range inside the first MiB, and one far away that the origin refuses: still bounded.
      const r2 = await h.request('GET', p, ['Range', 'bytes=1000-1999'], {timeoutMs: 20_000})
      expect([206, 502], describeRaw(r2)).toContain(r2.status)
      if (r2.status === 206) {
        expect(r2.header('content-range')).toBe(`bytes 1000-1999/${total}`)
        expect(r2.body.equals(slice.subarray(1000, 2000))).toBe(true)
      }
      const grown = rssBytes(h.d.pid) - rss0
      const disk = diskUse(h.d.storageDir) - disk0
      expect(grown, `RSS grew by ${(grown / MiB).toFixed(0)} MiB for one 1 MiB slice`).toBeLessThan(120 * MiB)
      expect(disk, `storage grew by ${(disk / MiB).toFixed(0)} MiB on disk for one 1 MiB slice`).toBeLessThan(16 * MiB)
      await h.control()
    }, 60_000)
  }
})
