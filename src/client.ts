/**
 * The public client API, imported as `tavern/client`: an undici Dispatcher that sends each request to the Tavern
 * node owning its URL (docs/cluster.md, "Client dispatcher").
 *
 *   import {TavernDispatcher} from 'tavern/client'
 *   const dispatcher = new TavernDispatcher({peers: [{url: 'http://10.0.0.1:8080'}, {url: 'http://10.0.0.2:8080'}]})
 *   await fetch('https://api.example/users/1', {dispatcher})
 *
 * Only what is exported here is public.
 */
export {TavernDispatcher} from './cluster/client-dispatcher.js'
export type {PeerFallback, TavernDispatcherOptions} from './cluster/client-dispatcher.js'
export {peerId, ringKeyOfUrl} from './cluster/peer-ring.js'
export type {PeerSpec} from './cluster/peer-ring.js'
