import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import type {Readable} from 'node:stream'

import type {StoredPolicy} from '../../src/cache/policy-types.js'
import {Storage} from '../../src/storage/store.js'
import type {StorageOptions} from '../../src/storage/store.js'
import type {CommitMeta, ObjectRecord} from '../../src/storage/types.js'

export function tempDir(): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), 'tavern-storage-'))
}

export function options(dir: string, over: Partial<StorageOptions> = {}): StorageOptions {
  return {
    dir,
    maxDiskBytes: 0,
    diskHighWatermark: 0.95,
    diskLowWatermark: 0.9,
    maxMemoryBytes: 1024 * 1024,
    memoryMaxObjectBytes: 64 * 1024,
    maxVariants: 4,
    evictionIntervalMs: 60_000,
    gcGraceSeconds: 3600,
    ...over,
  }
}

export function policy(over: Partial<StoredPolicy> = {}): StoredPolicy {
  return {lifetime: 60, lifetimeSource: 'max-age', correctedInitialAge: 0, noCache: false, mustRevalidate: false, ...over}
}

export function meta(url: string, over: Partial<CommitMeta> = {}): CommitMeta {
  const now = Date.now()
  return {
    url,
    status: 200,
    statusText: 'OK',
    headers: ['Content-Type', 'text/plain'],
    requestTime: now,
    responseTime: now,
    policy: policy(),
    ...over,
  }
}

/** Fill and commit a whole body in one go. */
export async function put(
  s: Storage,
  key: string,
  body: Buffer | string,
  over: Partial<CommitMeta> & {variant?: string} = {},
): Promise<ObjectRecord | null> {
  const {variant = '', ...m} = over
  const w = s.beginFill(key, variant)
  const b = typeof body === 'string' ? Buffer.from(body) : body
  if (b.length > 0) w.write(b)
  return w.commit(meta(key, m))
}

export async function readAll(r: Readable): Promise<Buffer> {
  const chunks: Buffer[] = []
  for await (const c of r) chunks.push(c as Buffer)
  return Buffer.concat(chunks)
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))

export function randomBody(n: number, seed = 1): Buffer {
  const b = Buffer.allocUnsafe(n)
  let x = seed * 2654435761
  for (let i = 0; i < n; i++) {
    x = (x * 1103515245 + 12345) >>> 0
    b[i] = x >>> 24
  }
  return b
}

/** Run `fn` for 0..n-1 with at most `limit` in flight (keeps fd usage bounded). */
export async function forRange(n: number, limit: number, fn: (i: number) => Promise<unknown>): Promise<void> {
  let next = 0
  const worker = async () => {
    while (next < n) await fn(next++)
  }
  await Promise.all(Array.from({length: Math.min(limit, n)}, worker))
}
