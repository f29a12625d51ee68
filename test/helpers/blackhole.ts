import {type ChildProcess, spawn} from 'node:child_process'
import net from 'node:net'

import {sleep} from './origin.js'

/**
 * A TCP listener that never accepts: a child process listens with backlog 1 and blocks its event loop; two
 * connections fill the kernel's accept queue, after which new SYNs are dropped and a connect() hangs.
 */
export async function startBlackhole(): Promise<{port: number; child: ChildProcess; fillers: net.Socket[]}> {
  const child = spawn(
    process.execPath,
    [
      '-e',
      `const s = require('node:net').createServer()
       s.listen({port: 0, host: '127.0.0.1', backlog: 1}, () => {
         process.stdout.write(s.address().port + '\\n')
         // Blocked, it cannot be signalled gracefully; it ends itself after 60 s should the test's kill never come.
         setTimeout(() => { Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 60000); process.exit(0) }, 20)
       })`,
    ],
    {stdio: ['ignore', 'pipe', 'inherit']},
  )
  const port = await new Promise<number>((resolve, reject) => {
    child.stdout!.once('data', (d: Buffer) => resolve(Number(String(d).trim())))
    child.once('exit', () => reject(new Error('blackhole helper exited')))
  })
  await sleep(100) // let the child block before the queue is filled (setup of the helper, not an assertion gate)
  const fillers: net.Socket[] = []
  for (let i = 0; ; i++) {
    const c = net.connect(port, '127.0.0.1')
    c.on('error', () => {})
    fillers.push(c)
    const connected = await Promise.race([new Promise<boolean>((r) => c.once('connect', () => r(true))), sleep(300).then(() => false)])
    if (!connected) break // the queue is full: this connect hangs, and so will the daemon's
    if (i > 8) throw new Error('blackhole accept queue never filled')
  }
  return {port, child, fillers}
}

