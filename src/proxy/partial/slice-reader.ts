import {Readable} from 'node:stream'

import {hasSlice, sliceEnd, sliceOf} from '../../storage/partial-slices.js'
import type {PartialObject} from './object.js'

const READ_CHUNK = 64 * 1024

/** Reads bytes [pos, end] of a partial object: present slices from the file, in-flight ones as they are written. */
export class SliceReader extends Readable {
  private reading = false
  private unsubscribe: (() => void) | undefined

  constructor(
    private readonly obj: PartialObject,
    private pos: number,
    private readonly end: number,
  ) {
    super({highWaterMark: READ_CHUNK})
  }

  override _read(): void {
    if (this.reading || this.destroyed || this.unsubscribe) return
    if (this.pos > this.end) {
      this.push(null)
      return
    }
    const {obj} = this
    const info = obj.info!
    const k = sliceOf(this.pos, info.sliceSize)
    let avail: number
    if (hasSlice(obj.present!, k)) avail = sliceEnd(k, info.sliceSize, info.size) + 1
    else {
      const f = obj.inflight.get(k)
      if (!f) {
        this.destroy(new Error(`slice ${k} is neither stored nor being fetched`))
        return
      }
      if (f.written <= this.pos) {
        this.unsubscribe = f.onProgress(() => {
          this.unsubscribe = undefined
          this._read()
        })
        return
      }
      avail = f.written
    }
    const fh = obj.fh
    if (!fh) {
      this.destroy(new Error('partial object closed'))
      return
    }
    const len = Math.min(READ_CHUNK, avail - this.pos, this.end + 1 - this.pos)
    const buf = Buffer.allocUnsafe(len)
    this.reading = true
    fh.read(buf, 0, len, this.pos).then(
      ({bytesRead}) => {
        this.reading = false
        if (this.destroyed) return
        if (bytesRead === 0) {
          this.destroy(new Error('partial body file truncated'))
          return
        }
        this.pos += bytesRead
        if (this.push(bytesRead === len ? buf : buf.subarray(0, bytesRead))) this._read()
      },
      (error: Error) => {
        this.reading = false
        this.destroy(error)
      },
    )
  }

  override _destroy(err: Error | null, cb: (error?: Error | null) => void): void {
    this.unsubscribe?.()
    this.unsubscribe = undefined
    cb(err)
  }
}
