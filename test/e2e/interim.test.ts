// 1xx interim responses reach the client: 103 Early Hints on a cacheable GET (a fill) and on a pass-through POST.
import http from 'node:http'
import type {AddressInfo} from 'node:net'

import {afterAll, beforeAll, expect, it} from 'vitest'

import {type DaemonHandle, startDaemon} from '../helpers/daemon.js'

let origin: http.Server
let d: DaemonHandle

beforeAll(async () => {
  origin = http.createServer((req, res) => {
    req.resume()
    res.writeEarlyHints({link: '</style.css>; rel=preload; as=style'})
    setTimeout(() => {
      res.writeHead(200, {'cache-control': 'max-age=60', 'content-type': 'text/plain'})
      res.end(`body of ${req.method} ${req.url}`)
    }, 50)
  })
  await new Promise<void>((r) => origin.listen(0, '127.0.0.1', r))
  d = await startDaemon({upstream: `http://127.0.0.1:${(origin.address() as AddressInfo).port}`})
}, 30_000)
afterAll(async () => {
  await d?.stop()
  await new Promise((r) => origin.close(r))
}, 30_000)

function get(method: string, path: string): Promise<{infos: Array<{status: number; link: unknown}>; status: number; body: string}> {
  return new Promise((resolve, reject) => {
    const infos: Array<{status: number; link: unknown}> = []
    const req = http.request({host: '127.0.0.1', port: d.port, method, path}, (res) => {
      let body = ''
      res.setEncoding('utf8')
      res.on('data', (c: string) => (body += c))
      res.on('end', () => resolve({infos, status: res.statusCode ?? 0, body}))
    })
    req.on('information', (i) => infos.push({status: i.statusCode, link: i.headers.link}))
    req.on('error', reject)
    req.end(method === 'POST' ? 'x' : undefined)
  })
}

it('103 Early Hints from the origin reach the client that led a cache fill', async () => {
  const r = await get('GET', '/hinted')
  expect(r.status).toBe(200)
  expect(r.infos).toEqual([{status: 103, link: '</style.css>; rel=preload; as=style'}])
  expect(r.body).toBe('body of GET /hinted')
  const hit = await get('GET', '/hinted')
  expect(hit.infos).toEqual([]) // served from cache: no origin exchange, no hints
  expect(hit.body).toBe('body of GET /hinted')
})

it('103 Early Hints pass through on methods that are not cached', async () => {
  const r = await get('POST', '/form')
  expect(r.infos.map((i) => i.status)).toEqual([103])
  expect(r.body).toBe('body of POST /form')
})
