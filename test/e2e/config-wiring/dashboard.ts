/**
 * Config-wiring rows of `dashboard.*` (see groups.ts): one daemon with the dashboard on its own listener behind a
 * token, one with it on the metrics listener without a token but with an allowed host name.
 */
import fs from 'node:fs'
import net from 'node:net'
import path from 'node:path'

import {expect} from 'vitest'

import type {WiringGroup} from '../../helpers/config-keys.js'
import {httpRequest} from '../../helpers/daemon.js'

const TOKEN = 'wiring-dashboard-token-0123456789'

async function freePort(): Promise<number> {
  const s = net.createServer()
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r))
  const port = (s.address() as net.AddressInfo).port
  await new Promise<void>((r) => s.close(() => r()))
  return port
}

/** The dashboard on dashboard.listen, behind dashboard.tokenFile. */
export const dashboardOwnListenerGroup: WiringGroup = {
  name: 'dashboard on its own listener, with a token',
  async setup(ctx) {
    ctx.vars.dashPort = await freePort()
    ctx.vars.metricsPort = await freePort()
    const file = path.join(ctx.dir, 'dashboard.token')
    fs.writeFileSync(file, `${TOKEN}\n`, {mode: 0o600})
    ctx.vars.tokenFile = file
  },
  config: (ctx) => ({
    metrics: {listen: `127.0.0.1:${ctx.vars.metricsPort as number}`},
    dashboard: {enabled: true, listen: `127.0.0.1:${ctx.vars.dashPort as number}`, tokenFile: ctx.vars.tokenFile},
  }),
  rows: [
    {
      key: 'dashboard.enabled',
      expect: 'the dashboard page is served (default: off, nothing listens)',
      async check(ctx) {
        const r = await httpRequest('/dashboard/', {port: ctx.vars.dashPort as number})
        expect(r.status).toBe(200)
        expect(r.text).toContain('dashboard.js')
      },
    },
    {
      key: 'dashboard.listen',
      expect: 'the dashboard answers on its own port, not on the metrics listener (default: /dashboard/ there)',
      async check(ctx) {
        expect((await httpRequest('/dashboard/', {port: ctx.vars.dashPort as number})).status).toBe(200)
        expect((await httpRequest('/dashboard/', {port: ctx.vars.metricsPort as number})).status).toBe(404)
      },
    },
    {
      key: 'dashboard.tokenFile',
      expect: 'the stream needs the bearer token from the file (default: no token)',
      async check(ctx) {
        const port = ctx.vars.dashPort as number
        expect((await httpRequest('/dashboard/auth', {port})).status).toBe(401)
        expect((await httpRequest('/dashboard/auth', {port, headers: {authorization: `Bearer ${TOKEN}`}})).status).toBe(204)
      },
    },
  ],
}

/** The dashboard at /dashboard/ of metrics.listen, no token: only IP literals, localhost and allowedHosts. */
export const dashboardOnMetricsGroup: WiringGroup = {
  name: 'dashboard on the metrics listener, allowed hosts',
  async setup(ctx) {
    ctx.vars.metricsPort = await freePort()
  },
  config: (ctx) => ({
    metrics: {listen: `127.0.0.1:${ctx.vars.metricsPort as number}`},
    dashboard: {enabled: true, allowedHosts: ['Dash.Example']},
  }),
  rows: [
    {
      key: 'dashboard.allowedHosts',
      expect: 'Host: dash.example may read the data without a token (default: 403 TAVERN_ERR_DASHBOARD_HOST)',
      async check(ctx) {
        const port = ctx.vars.metricsPort as number
        const r = await httpRequest('/dashboard/auth', {port, headers: {host: `dash.example:${port}`}})
        expect(r.status, r.text).toBe(204)
        expect((await httpRequest('/dashboard/auth', {port, headers: {host: 'other.example'}})).status).toBe(403)
      },
    },
  ],
}
