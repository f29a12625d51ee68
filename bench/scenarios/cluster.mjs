// 11. Cluster of 3 vs one node (issue 18) on the many-keys workload, with a key set 2.5× one node's memory tier: it
// does not fit one node's memory but fits the cluster's (each node keeps only the keys it owns). Both are warmed
// (the cluster through random nodes), then get the same fixed number of random-key GETs at a fixed concurrency, in
// rotating order: the cluster with each request sent to a random node (2 of 3 are forwarded to their owner), the
// cluster through tavern/client (each request sent to its owner, no hop), and the single node. Reported side by
// side: hit ratio (Cache-Status and the daemons' counters), origin requests (the origin's own counter), the share of
// the key set held in memory (≈ the memory-tier hit share under uniform random keys; the stats do not count
// memory-tier hits themselves), req/s and server CPU per request. Every server shares one core, so the hop costs CPU
// here that separate machines would each pay on their own core.
import net from 'node:net'

import {Pool} from 'undici'

import {adminGet, fmt, pool, procCpuSeconds, request, summary} from '../lib/common.mjs'
import {startDaemon, startOrigin} from '../lib/servers.mjs'

export const name = 'cluster'
export const title = "Cluster of 3 vs one node, many keys (key set 2.5× one node's memory tier)"

const BODY = 1024 // the origin's /many/<i> body size
// One site name for every node, as behind a load balancer: the Host is part of the cache key (and of the ring key),
// so each node's own host:port would make every path three different keys.
const HEADERS = {host: 'bench.tavern.test'}

/** Small deterministic PRNG (mulberry32): both variants get the same key sequence in a round. */
function rng(seed) {
  let a = seed >>> 0
  return () => {
    a = (a + 0x6d2b79f5) >>> 0
    let t = a
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

async function freePort() {
  const s = net.createServer()
  await new Promise((r) => s.listen(0, '127.0.0.1', r))
  const port = s.address().port
  await new Promise((r) => s.close(r))
  return port
}

const originTotal = async (origin) => JSON.parse((await request({host: '127.0.0.1', port: origin.port, path: '/__stats'})).body.toString()).total

/** Sum of the nodes' counters and storage figures. */
async function snapshot(daemons) {
  const st = await Promise.all(daemons.map((d) => d.status()))
  const cl = await Promise.all(daemons.map((d) => adminGet(d.socket, '/status/cluster')))
  const sum = (f) => st.reduce((a, s) => a + f(s), 0)
  return {
    requests: sum((s) => s.counters.requests),
    hits: sum((s) => s.counters.hits),
    misses: sum((s) => s.counters.misses),
    memoryObjects: sum((s) => s.storage.memoryObjects),
    objects: st.map((s) => s.storage.objects),
    forwarded: cl.reduce((a, c) => a + (c.cluster ? c.cluster.peers.reduce((b, p) => b + p.requestsOut, 0) : 0), 0),
    fallbacks: cl.reduce((a, c) => a + (c.cluster?.fallbacks ?? 0), 0),
    down: cl.flatMap((c) => (c.cluster ? c.cluster.peers.filter((p) => !p.up).map((p) => `${c.cluster.self} sees ${p.id} down${p.passiveDown ? ' (passive)' : ''}: ${p.lastError ?? ''}`) : [])),
    cpu: daemons.reduce((a, d) => a + (procCpuSeconds(d.pid) ?? NaN), 0),
  }
}

/** GETs of the keys `seq[i]`, `concurrency` in flight, request i sent by `senders[pick[i]]`; counts Cache-Status hits. */
async function drive({senders, seq, pick, concurrency}) {
  let hits = 0
  let errors = 0
  let next = 0
  const worker = async () => {
    while (next < seq.length) {
      const i = next++
      try {
        const r = await senders[pick[i]](`/many/${seq[i]}`)
        let bytes = 0
        for await (const c of r.body) bytes += c.length
        // The owner's entry says hit; a forwarding node adds its own `fwd=bypass` entry after it.
        if (r.statusCode === 200 && bytes === BODY && /;\s*hit\b/.test(String(r.headers['cache-status']))) hits++
        else if (r.statusCode !== 200 || bytes !== BODY) errors++
      } catch {
        errors++
      }
    }
  }
  const t0 = performance.now()
  await Promise.all(Array.from({length: concurrency}, worker))
  return {seconds: (performance.now() - t0) / 1000, hits, errors}
}

export async function run({quick, log}) {
  // dist/ is imported here, not at the top: `run.mjs --list` loads every scenario, built tree or not
  const {TavernDispatcher} = await import('../../dist/client.js')
  const memObjects = quick ? 256 : 512
  const memoryBytes = memObjects * BODY
  const keys = (memObjects * 5) / 2
  const requests = quick ? 2_000 : 4_000
  const rounds = quick ? 1 : 2
  const concurrency = 32
  const storage = {memoryBytes}
  const origin = await startOrigin('origin', {manyKeys: keys})
  const daemons = []
  const pools = []
  try {
    const single = await startDaemon({upstream: origin.url, config: {storage}})
    daemons.push(single)
    const ports = []
    for (let i = 0; i < 3; i++) ports.push(await freePort())
    const peers = ports.map((p) => `http://127.0.0.1:${p}`)
    const started = await Promise.allSettled(ports.map((p, i) => startDaemon({upstream: origin.url, listen: `127.0.0.1:${p}`, config: {storage, cluster: {self: peers[i], peers}}})))
    for (const s of started) if (s.status === 'fulfilled') daemons.push(s.value)
    const failed = started.find((s) => s.status === 'rejected')
    if (failed) throw failed.reason
    const nodes = started.map((s) => s.value)
    const viaPool = (d) => {
      const p = new Pool(d.url, {connections: concurrency, pipelining: 1})
      pools.push(p)
      return (path) => p.request({method: 'GET', path, headers: HEADERS})
    }
    // tavern/client sends each request straight to its owner (no hop): what the cluster costs without forwarding.
    const dispatcher = new TavernDispatcher({peers: peers.map((url) => ({url})), connections: concurrency})
    pools.push(dispatcher)
    const viaOwner = (path) => dispatcher.request({origin: `http://${HEADERS.host}`, method: 'GET', path})
    const variants = [
      {name: 'cluster', daemons: nodes, senders: nodes.map(viaPool)},
      {name: 'single', daemons: [single], senders: [viaPool(single)]},
    ]
    const owner = {name: 'owner', daemons: nodes, senders: [viaOwner]}

    // Warm: every key once (the cluster's through random nodes), then let the batched commits settle.
    for (const v of variants) {
      const o0 = await originTotal(origin)
      const r = rng(7)
      const t0 = performance.now()
      await pool(keys, 16, async (i) => {
        const res = await v.senders[Math.floor(r() * v.senders.length)](`/many/${i}`)
        for await (const _ of res.body);
      })
      const s = (performance.now() - t0) / 1000
      for (let i = 0; i < 50; i++) {
        const sn = await snapshot(v.daemons)
        if (sn.objects.reduce((a, b) => a + b, 0) >= keys) break
        await new Promise((res) => setTimeout(res, 100))
      }
      v.warm = {seconds: s, originRequests: (await originTotal(origin)) - o0 - 1}
      const sn = await snapshot(v.daemons)
      v.storedObjects = sn.objects
      log(`  ${v.name.padEnd(8)} warmed ${keys} keys in ${fmt(s)} s; origin requests ${v.warm.originRequests}; objects per node ${sn.objects.join(' / ')}; memory tier ${sn.memoryObjects} objects`)
    }

    const measured = [variants[0], owner, variants[1]]
    const runs = Object.fromEntries(measured.map((v) => [v.name, []]))
    for (let round = 0; round < rounds; round++) {
      const r = rng(1000 + round)
      const seq = Array.from({length: requests}, () => Math.floor(r() * keys))
      const rn = rng(2000 + round)
      const pick3 = Array.from({length: requests}, () => Math.floor(rn() * 3))
      const pick1 = new Array(requests).fill(0)
      for (const v of round % 2 === 0 ? measured : [...measured].reverse()) {
        const s0 = await snapshot(v.daemons)
        const o0 = await originTotal(origin)
        const res = await drive({senders: v.senders, seq, pick: v.senders.length === 3 ? pick3 : pick1, concurrency})
        const s1 = await snapshot(v.daemons)
        const o1 = await originTotal(origin)
        const hits = s1.hits - s0.hits
        const misses = s1.misses - s0.misses
        const x = {
          rps: requests / res.seconds,
          seconds: res.seconds,
          clientHitRatio: res.hits / requests,
          daemonHitRatio: hits + misses > 0 ? hits / (hits + misses) : null,
          originRequests: o1 - o0 - 1, // the origin counts our /__stats request too
          forwardedShare: (s1.forwarded - s0.forwarded) / requests,
          fallbacks: s1.fallbacks - s0.fallbacks,
          peersDown: s1.down,
          memoryResidentShare: s1.memoryObjects / keys,
          cpuUsPerReq: ((s1.cpu - s0.cpu) * 1e6) / requests,
          // the servers' summed share of their core: well below 1 means the client side set the pace
          coreBusy: (s1.cpu - s0.cpu) / res.seconds,
          errors: res.errors,
        }
        runs[v.name].push(x)
        log(
          `  round ${round + 1}/${rounds} ${v.name.padEnd(8)} ${fmt(x.rps, 0).padStart(6)} req/s  hit ${fmt(x.clientHitRatio * 100, 2)}% (daemons ${fmt((x.daemonHitRatio ?? NaN) * 100, 2)}%)  origin ${x.originRequests}  in memory ${fmt(x.memoryResidentShare * 100, 1)}% of keys  forwarded ${fmt(x.forwardedShare * 100, 1)}%  server cpu ${fmt(x.cpuUsPerReq, 0)} µs/req, core busy ${fmt(x.coreBusy * 100, 0)}%${x.errors ? `  errors ${x.errors}` : ''}${x.fallbacks ? `  fallbacks ${x.fallbacks}` : ''}${x.peersDown.length ? `  down: ${x.peersDown.join('; ')}` : ''}`,
        )
      }
    }

    const summ = (v, f) => summary(runs[v].map(f))
    const med = (v, f) => summ(v, f).median
    const paired = (a, b, f) => summary(runs[a].map((x, i) => f(x) / f(runs[b][i])))
    const rpsRatio = {cluster: paired('cluster', 'single', (x) => x.rps), owner: paired('owner', 'single', (x) => x.rps)}
    const cpuRatio = {cluster: paired('cluster', 'single', (x) => x.cpuUsPerReq), owner: paired('owner', 'single', (x) => x.cpuUsPerReq)}
    const pct = (x) => `${fmt(x * 100, 2)}%`
    const three = (f, show = pct) => measured.map((v) => show(med(v.name, f))).join(' / ')
    const total = (v, f) => runs[v].reduce((a, x) => a + f(x), 0)
    const range = (x) => `${fmt(x.median, 3)} (${fmt(x.min, 3)}–${fmt(x.max, 3)})`
    const facts = [
      {name: 'cluster: key set / one node memory tier', value: `${keys} keys of 1 KiB / ${memObjects} objects (2.5×); ${requests} random GETs × ${rounds} rounds, ${concurrency} in flight`},
      {name: 'cluster: warm origin requests (cluster / single)', value: `${variants[0].warm.originRequests} / ${variants[1].warm.originRequests} for ${keys} keys`},
      {name: 'cluster: objects per node (cluster) / single', value: `${variants[0].storedObjects.join(' + ')} / ${variants[1].storedObjects.join('')}`},
      {name: 'cluster: columns below: cluster random node / cluster owner (tavern/client) / single', value: ''},
      {name: 'cluster: hit ratio, Cache-Status', value: three((x) => x.clientHitRatio)},
      {name: 'cluster: hit ratio, daemon counters', value: three((x) => x.daemonHitRatio)},
      {name: 'cluster: origin requests during the runs', value: measured.map((v) => total(v.name, (x) => x.originRequests)).join(' / ')},
      {name: 'cluster: key set in memory tiers (≈ memory-tier hit share)', value: three((x) => x.memoryResidentShare)},
      {name: 'cluster: requests forwarded to their owner', value: three((x) => x.forwardedShare)},
      {name: 'cluster: req/s ratio to single (all servers on one core)', value: `random node ${range(rpsRatio.cluster)}, owner ${range(rpsRatio.owner)}`},
      {name: 'cluster: server CPU µs/req ratio to single', value: `random node ${range(cpuRatio.cluster)}, owner ${range(cpuRatio.owner)}`},
      {name: 'cluster: servers’ core busy', value: three((x) => x.coreBusy, (x) => `${fmt(x * 100, 0)}%`)},
    ]
    const errors = measured.reduce((a, v) => a + total(v.name, (x) => x.errors), 0)
    if (errors) facts.push({name: 'cluster: client errors', value: String(errors)})
    return {
      params: {keys, memObjects, memoryBytes, requests, rounds, concurrency},
      warm: Object.fromEntries(variants.map((v) => [v.name, {...v.warm, storedObjects: v.storedObjects}])),
      runs,
      rpsRatio,
      cpuRatio,
      facts,
      goals: [
        {
          id: 'cluster-vs-one',
          goal: 'cluster of 3 vs one node (issue 18)',
          value: med('cluster', (x) => x.memoryResidentShare),
          met: undefined, // informational: the issue asks for the figures side by side, not a threshold
          text: `hit ${three((x) => x.clientHitRatio)}; origin requests ${measured.map((v) => total(v.name, (x) => x.originRequests)).join(' / ')}; key set in memory ${three((x) => x.memoryResidentShare)} (random node / owner / single)`,
        },
      ],
      rows: measured.map((v) => ({scenario: `cluster/1, ${keys} keys`, variant: v.name, rps: summ(v.name, (x) => x.rps), cpu: summ(v.name, (x) => x.coreBusy), us: summ(v.name, (x) => x.cpuUsPerReq)})),
    }
  } finally {
    await Promise.all(pools.map((p) => p.close().catch(() => {})))
    await Promise.all(daemons.map((d) => d.stop()))
    await origin.stop()
  }
}
