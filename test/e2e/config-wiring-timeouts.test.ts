/** The config-wiring rows that wait on Node's 30 s request-timeout sweep (own file, so they overlap other files). */
import {runGroups} from '../helpers/config-keys.js'
import {SLOW_GROUPS} from './config-wiring/groups.js'

runGroups(SLOW_GROUPS)
