/**
 * A service manager's notification socket for tests: a Unix datagram socket bound by a small python3 receiver (Node
 * cannot bind one), which prints each datagram as a JSON line and closes any descriptors passed with it (what systemd
 * does with systemd-notify's BARRIER=1 pipe, so the sender does not wait for its 5 s timeout).
 *
 *   const ns = await startNotifySocket(dir)
 *   env: {NOTIFY_SOCKET: ns.path}
 *   await ns.waitFor((m) => m.includes('READY=1'))
 *   await ns.close()
 */
import {type ChildProcess, spawn, spawnSync} from 'node:child_process'
import fs from 'node:fs'
import path from 'node:path'

const RECEIVER = String.raw`
import array, json, os, socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(sys.argv[1])
print(json.dumps({"bound": True}), flush=True)
while True:
    msg, anc, flags, addr = s.recvmsg(65536, socket.CMSG_SPACE(16 * 4))
    for level, typ, data in anc:
        if level == socket.SOL_SOCKET and typ == socket.SCM_RIGHTS:
            fds = array.array('i')
            fds.frombytes(data[:len(data) - len(data) % 4])
            for fd in fds:
                os.close(fd)
    print(json.dumps({"message": msg.decode("utf-8", "replace")}), flush=True)
`

/** Why the notify tests cannot run here (no python3 or no systemd-notify), or undefined. */
export function notifyUnsupported(): string | undefined {
  if (spawnSync('python3', ['-c', 'import socket; socket.AF_UNIX'], {stdio: 'ignore'}).status !== 0) return 'python3 is not installed'
  if (spawnSync('systemd-notify', ['--help'], {stdio: 'ignore'}).status !== 0) return 'systemd-notify is not installed (package systemd)'
  return undefined
}

export interface NotifySocket {
  path: string
  /** Every datagram received so far, in order (assignments separated by newlines). */
  messages(): string[]
  /** Resolves with the first message matching `pred` (bounded wait). */
  waitFor(pred: (m: string) => boolean, timeoutMs?: number): Promise<string>
  close(): Promise<void>
}

export async function startNotifySocket(dir: string): Promise<NotifySocket> {
  const p = path.join(dir, 'notify.sock')
  const child: ChildProcess = spawn('python3', ['-c', RECEIVER, p], {stdio: ['ignore', 'pipe', 'pipe']})
  const messages: string[] = []
  const waiters = new Set<() => void>()
  let buf = ''
  let stderr = ''
  let bound!: () => void
  const boundP = new Promise<void>((r) => (bound = r))
  child.stdout!.on('data', (c: Buffer) => {
    buf += c.toString()
    let nl
    while ((nl = buf.indexOf('\n')) >= 0) {
      const line = JSON.parse(buf.slice(0, nl)) as {bound?: boolean; message?: string}
      buf = buf.slice(nl + 1)
      if (line.bound) bound()
      if (line.message !== undefined) messages.push(line.message)
    }
    for (const w of waiters) w()
  })
  child.stderr!.on('data', (c: Buffer) => (stderr += c.toString()))
  const exited = new Promise<void>((r) => child.once('exit', () => r()))
  await Promise.race([
    boundP,
    exited.then(() => {
      throw new Error(`notify receiver exited: ${stderr}`)
    }),
    new Promise((_, reject) => setTimeout(() => reject(new Error(`notify receiver did not bind ${p} within 10 s: ${stderr}`)), 10_000)),
  ])
  return {
    path: p,
    messages: () => [...messages],
    waitFor(pred, timeoutMs = 15_000) {
      return new Promise((resolve, reject) => {
        const check = () => {
          const m = messages.find(pred)
          if (m === undefined) return
          clearTimeout(timer)
          waiters.delete(check)
          resolve(m)
        }
        const timer = setTimeout(() => {
          waiters.delete(check)
          reject(new Error(`no matching notification within ${timeoutMs} ms; got: ${JSON.stringify(messages)}`))
        }, timeoutMs)
        waiters.add(check)
        check()
      })
    },
    async close() {
      child.kill('SIGKILL')
      await exited
      fs.rmSync(p, {force: true})
    },
  }
}
