#!/usr/bin/env node
// Fetch URLs through a Tavern cluster with the tavern/client dispatcher, and show which node each went to.
//
//   npm run build
//   node examples/client-dispatcher.mjs --peers http://127.0.0.1:8080,http://127.0.0.1:8081 http://127.0.0.1:3000/ ...
//
// Each URL goes to the node that owns it on the cluster's ring (the same ring the nodes compute from their
// `cluster.peers`), or to the next node when that one is down. Prints: the owner, the status, Cache-Status.
// docs/cluster.md ("Client dispatcher") describes the options.
import {TavernDispatcher} from 'tavern/client'
import {fetch} from 'undici'

const args = process.argv.slice(2)
const at = args.indexOf('--peers')
if (at === -1 || !args[at + 1] || args.length < 3) {
  console.error('usage: node examples/client-dispatcher.mjs --peers URL[,URL...] URL...')
  process.exit(2)
}
const peers = args[at + 1].split(',').map((url) => ({url}))
const urls = args.filter((_, i) => i !== at && i !== at + 1)

const dispatcher = new TavernDispatcher({peers, downFor: 2000})
try {
  for (const url of urls) {
    try {
      const res = await fetch(url, {dispatcher})
      await res.arrayBuffer()
      console.log(`${url}  owner ${dispatcher.owner(url)}  ${res.status}  ${res.headers.get('cache-status') ?? '-'}`)
    } catch (error) {
      console.log(`${url}  owner ${dispatcher.owner(url)}  failed: ${error.cause?.code ?? error.cause?.message ?? error.message}`)
    }
  }
  const down = dispatcher.peersDown()
  if (down.length) console.log(`down: ${down.join(', ')}`)
} finally {
  await dispatcher.close()
}
