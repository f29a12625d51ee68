// Where clients and serve look for the admin socket: --socket, the config's socket, $TAVERN_SOCKET, then a default that
// depends only on the uid (never on $XDG_RUNTIME_DIR or $TMPDIR, which differ between a login shell and cron).
import {expect, it} from 'vitest'

import {trustedOwner} from '../../src/client/socket-owner.js'
import {defaultSocketPath, resolveSocketPath} from '../../src/client/socket-path.js'

it('the default is /run/tavern/tavern.sock for root and /tmp/tavern-<uid>/tavern.sock for anyone else', () => {
  expect(defaultSocketPath(0)).toBe('/run/tavern/tavern.sock')
  expect(defaultSocketPath(1000)).toBe('/tmp/tavern-1000/tavern.sock')
})

it('resolution order: --socket, config, $TAVERN_SOCKET, default; session variables do not matter', () => {
  const env = {TAVERN_SOCKET: '/srv/env.sock', XDG_RUNTIME_DIR: '/run/user/1000', TMPDIR: '/var/tmp/x'}
  expect(resolveSocketPath({flag: '/srv/flag.sock', config: '/srv/cfg.sock', env, uid: 1000})).toEqual({path: '/srv/flag.sock', isDefault: false})
  expect(resolveSocketPath({config: '/srv/cfg.sock', env, uid: 1000})).toEqual({path: '/srv/cfg.sock', isDefault: false})
  expect(resolveSocketPath({env, uid: 1000})).toEqual({path: '/srv/env.sock', isDefault: false})
  expect(resolveSocketPath({env: {XDG_RUNTIME_DIR: '/run/user/1000', TMPDIR: '/var/tmp/x'}, uid: 1000})).toEqual({path: '/tmp/tavern-1000/tavern.sock', isDefault: true})
  expect(resolveSocketPath({env: {}, uid: 1000})).toEqual({path: '/tmp/tavern-1000/tavern.sock', isDefault: true})
})

it('clients trust their own sockets, and root\'s unless they are root; root trusts only root', () => {
  expect(trustedOwner(1000, 1000)).toBe(true)
  expect(trustedOwner(0, 1000)).toBe(true)
  expect(trustedOwner(1001, 1000)).toBe(false)
  expect(trustedOwner(0, 0)).toBe(true)
  expect(trustedOwner(1000, 0)).toBe(false)
})
