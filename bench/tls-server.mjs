// Child process for bench/tls.mjs: Tavern's data-plane listener factories (dist/) around a fixed 1 KiB answer, on
// the listeners given as JSON in argv[2]. Prints one JSON line with the bound ports, then serves until killed.
import {ConfigSchema} from '../dist/config/schema.js'
import {Http2LimitsSchema, ListenSchema} from '../dist/config/listeners.js'
import {DataPlaneListeners} from '../dist/daemon/listeners/data-plane-listeners.js'
import {TlsGlobalsSchema} from '../dist/tls/config.js'

const body = Buffer.alloc(1024, 'x')
const headers = ['Content-Type', 'text/plain', 'Content-Length', String(body.length), 'Cache-Control', 'max-age=60', 'Cache-Status', 'tavern; hit']
const plane = await DataPlaneListeners.create(ListenSchema.parse(JSON.parse(process.argv[2])), {
  server: ConfigSchema.parse({}).server,
  http2: Http2LimitsSchema.parse({maxConcurrentStreams: 256}),
  tls: TlsGlobalsSchema.parse({watch: false}),
  maxConnections: 4096,
  handler: (_req, res) => {
    res.writeHead(200, headers)
    res.end(body)
  },
})
const bound = await plane.listen()
process.stdout.write(`${JSON.stringify(bound)}\n`)
process.on('SIGTERM', () => void plane.drain(0).then(() => process.exit(0)))
