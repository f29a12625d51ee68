/**
 * When the origin answers a range request with the whole 200 (it ignores Range), the body fills the object the
 * normal way (a complete object, not slices), and requests for it meanwhile are answered from the growing body.
 */
import type {Outcome} from '../../core/hooks.js'
import type {ObjectRecord} from '../../storage/types.js'
import {compilePolicy} from '../../cache/policy-resolve.js'
import {SET_COOKIE} from '../../cache/policy-store.js'
import type {TavernConfig} from '../../config/schema.js'
import {discardBody} from '../../util/discard.js'
import type {RawHeaders} from '../../util/raw-headers.js'
import type {Answerer} from '../answer.js'
import {recordAgeSeconds} from '../cache-headers.js'
import type {RequestContext} from '../context.js'
import {discardResponse, type UpstreamResponse} from '../origin/upstream.js'
import {serveGrowing} from '../representation.js'
import {declaredLength, policyOptions, storedForm} from '../stored-form.js'
import {PartialObject, type WholeFill} from './object.js'
import {countRead, type PartialRegistry} from './registry.js'

/** The origin sent the whole body for `old`'s range request: store it as a complete object (unless another fill does). */
export function startWhole(r: PartialRegistry, old: PartialObject, up: UpstreamResponse, headers: RawHeaders, requestTime: number, responseTime: number, varyNames: string[], url: string, cache: TavernConfig['cache'] = r.s.config.cache): void {
  const {s} = r
  const cur = r.current(old.ik)
  if (cur && cur !== old && cur.whole) {
    discardResponse(up)
    return
  }
  r.discard(old)
  const obj = new PartialObject(old.ik, old.key, old.variant)
  obj.refs++
  const {headers: stored, policy} = storedForm(headers, 200, {requestTime, responseTime}, policyOptions(cache), compilePolicy(cache).setCookie === 'store' ? undefined : SET_COOKIE)
  const contentLength = declaredLength(headers)
  const writer = s.storage.beginFill(obj.key, obj.variant)
  s.stats.fillStarted()
  r.doneReading(up.body)
  const done = (async (): Promise<ObjectRecord | null> => {
    try {
      for await (const chunk of up.body as AsyncIterable<Buffer>) {
        countRead(up.body, chunk.length)
        if (!writer.write(chunk)) await writer.drain()
      }
      const rec = await writer.commit({url, status: 200, statusText: up.statusText, headers: stored, requestTime, responseTime, policy, vary: varyNames, expectedLength: contentLength})
      s.stats.fillFinished(rec !== null)
      return rec
    } catch (error) {
      discardBody(up.body)
      writer.abort(error instanceof Error ? error : new Error(String(error)))
      s.stats.fillFinished(false)
      return null
    }
  })()
  obj.whole = {storedHeaders: stored, policy, responseTime, contentLength, writer, done}
  r.install(obj)
  r.track(
    'whole-fill',
    done.finally(() => {
      r.retire(obj)
      r.release(obj)
    }),
  )
}

/** Answer a GET from a whole fill in progress (like the stream answers of a fill). */
export function serveWhole(r: PartialRegistry, a: Answerer, ctx: RequestContext, obj: PartialObject, w: WholeFill): Outcome | Promise<Outcome> {
  const st = a.status({fwd: 'uri-miss', fwdStatus: 200, stored: true}, 'miss')
  const age = recordAgeSeconds({policy: w.policy, responseTime: w.responseTime}, Date.now())
  const g = {status: 200, statusText: '', base: w.storedHeaders, policy: w.policy, size: w.contentLength, age, tail: (start: number) => w.writer.tail(start), committed: w.done}
  return serveGrowing(r.s, a, ctx, g, st, obj.key, false)
}
