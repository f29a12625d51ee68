/**
 * Reading stored bodies: from the memory tier, else the body file (a small one is read whole, checked against its
 * size and CRC32C and promoted to the memory tier; a large one is streamed). A missing or corrupt body removes its
 * record, so the next request refetches it instead of failing again.
 */
import fs from 'node:fs'
import fsp from 'node:fs/promises'
import {Readable} from 'node:stream'

import {crc32c} from '@node-rs/crc32'

import {storedKey} from './keys.js'
import type {StoreState} from './state.js'
import type {ObjectRecord} from './types.js'

export class BodyReader {
  constructor(private readonly st: StoreState) {}

  /** Stream the body (or the inclusive byte range): memory tier if present, else the file. */
  read(rec: ObjectRecord, start = 0, endInclusive?: number): Readable {
    const {memory, files} = this.st
    const s = Math.max(0, start)
    const e = Math.min(endInclusive ?? rec.size - 1, rec.size - 1)
    if (e < s) return Readable.from([], {objectMode: false})
    const mem = memory.get(rec.file)
    if (mem) return Readable.from([mem.subarray(s, e + 1)], {objectMode: false})
    const p = files.pathOf(rec.file)
    if (memory.accepts(rec.size)) {
      // Small body: read it whole (async), check it, promote it, then serve the range.
      return this.smallBodyStream(rec, p, s, e)
    }
    const rs = fs.createReadStream(p, {start: s, end: e, highWaterMark: 64 * 1024})
    rs.once('error', (err: NodeJS.ErrnoException) => {
      if (err.code === 'ENOENT') this.dropMissing(rec)
    })
    return rs
  }

  private smallBodyStream(rec: ObjectRecord, p: string, s: number, e: number): Readable {
    const out = new Readable({read() {}})
    fsp.readFile(p).then(
      (buf) => {
        if (buf.length !== rec.size || crc32c(buf) !== rec.crc32c) {
          this.st.log?.warn({key: rec.key, variant: rec.variant, file: rec.file}, 'storage: body corrupt, dropping object')
          this.dropMissing(rec)
          out.destroy(new Error('stored body is corrupt'))
          return
        }
        if (this.st.index.getObject(rec.key, rec.variant)?.file === rec.file) this.st.memory.set(rec.file, buf)
        out.push(buf.subarray(s, e + 1))
        out.push(null)
      },
      (err: NodeJS.ErrnoException) => {
        if (err.code === 'ENOENT') this.dropMissing(rec)
        out.destroy(err)
      },
    )
    return out
  }

  /** Re-read the body file and compare its CRC32C and size with the record. */
  async verify(rec: ObjectRecord): Promise<{ok: boolean; actualCrc32c: number; actualSize: number}> {
    let crc = 0
    let size = 0
    try {
      for await (const chunk of fs.createReadStream(this.st.files.pathOf(rec.file), {highWaterMark: 256 * 1024})) {
        crc = crc32c(chunk as Buffer, crc)
        size += (chunk as Buffer).length
      }
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err
      return {ok: false, actualCrc32c: 0, actualSize: 0}
    }
    return {ok: crc === rec.crc32c && size === rec.size, actualCrc32c: crc, actualSize: size}
  }

  /** The body file of a record is gone (or corrupt): remove the record if it still points at that file. */
  private dropMissing(rec: ObjectRecord): void {
    const {st} = this
    if (st.closed) return
    const sk = storedKey(rec.key, rec.variant)
    void st.background.run(
      'storage.drop-broken-object',
      st.track(
        st.mutate((dead) => {
          const cur = st.index.objects.get(sk)
          if (cur && cur.file === rec.file) st.index.removeInTxn(sk, cur, dead, true)
        }),
      ),
    )
  }
}
