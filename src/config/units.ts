/** The duration helpers under the names the resilience and rate-limit fragments use (defined in zod-units.ts). */
export {duration as durationMs, optionalDuration as optionalDurationMs} from './zod-units.js'
