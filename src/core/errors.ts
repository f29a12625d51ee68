/**
 * The error catalogue: every error Tavern reports to a client, an admin API caller or a person at the CLI has a code
 * here, with the HTTP status it is answered with, its class (which decides the CLI exit code) and its message
 * template. Data-plane error bodies name the code; the admin API answers `{error: {code, message}}`; the CLI prints
 * the message and exits with the code's class (`--json` prints the same `{error: {code, message}}`). README
 * "Errors" lists them.
 */

/** usage: the caller's mistake (exit 2); unreachable: no daemon to talk to (exit 3); failed: anything else (exit 1). */
export type ErrorClass = 'usage' | 'unreachable' | 'failed'

export const EXIT_CODES: Readonly<Record<ErrorClass | 'ok', number>> = {ok: 0, failed: 1, usage: 2, unreachable: 3}

interface Entry {
  /** HTTP status the error is answered with (data plane and admin API). */
  status: number
  class: ErrorClass
  /** What the error is, for the README table. */
  summary: string
}

/** `detail` is the specific message (what was wrong, with the value); every entry's message is built from it. */
export const ERRORS = {
  // ---- data plane: requests refused before anything else happens
  TAVERN_ERR_BAD_REQUEST: {status: 400, class: 'usage', summary: 'malformed request (Host missing or repeated, bad request target, userinfo in the target)'},
  TAVERN_ERR_MISDIRECTED: {status: 421, class: 'usage', summary: 'a Host no site claims when there is no `default` site (or, with the deprecated `cache.sites`, an absolute-form target for a host it does not name)'},
  TAVERN_ERR_FORWARD_CLIENT: {status: 403, class: 'usage', summary: 'forward-proxy mode: an absolute-form target for a host no site claims, from a client outside forwardProxy.clients'},
  TAVERN_ERR_FORWARD_DESTINATION: {status: 403, class: 'usage', summary: 'forward-proxy mode: a destination forwardProxy.destinations does not allow'},
  TAVERN_ERR_METHOD_NOT_ALLOWED: {status: 405, class: 'usage', summary: 'method not supported (CONNECT on the data plane; a wrong method on an admin endpoint)'},
  // ---- data plane: the origin
  TAVERN_ERR_UPSTREAM_UNREACHABLE: {status: 502, class: 'failed', summary: 'cannot connect to the upstream (refused, DNS, unreachable), or none configured'},
  TAVERN_ERR_UPSTREAM_RESET: {status: 502, class: 'failed', summary: 'the upstream closed the connection before its answer was complete'},
  TAVERN_ERR_UPSTREAM_PROTOCOL: {status: 502, class: 'failed', summary: 'the upstream sent an answer that breaks HTTP (framing, codings, a 304/206 nobody asked for)'},
  TAVERN_ERR_UPSTREAM_TLS: {status: 502, class: 'failed', summary: "the origin's TLS certificate did not verify (untrusted issuer, wrong name, expired); nothing is stored"},
  TAVERN_ERR_UPSTREAM_TIMEOUT: {status: 504, class: 'failed', summary: 'the upstream did not answer in time (connect, headers or body timeout)'},
  TAVERN_ERR_NO_UPSTREAM_AVAILABLE: {status: 503, class: 'failed', summary: 'no member of the upstream group is available (health checks down, ejected, breaker open); sent with Retry-After'},
  TAVERN_ERR_RATE_LIMITED: {status: 429, class: 'failed', summary: 'a rate limit (rateLimits.rules) refused the request; sent with Retry-After and RateLimit fields'},
  TAVERN_ERR_UPSTREAM_BUSY: {status: 503, class: 'failed', summary: 'no upstream connection (or no share of them for this URL) within upstream.queueTimeout; sent with Retry-After'},
  TAVERN_ERR_REVALIDATION_FAILED: {status: 504, class: 'failed', summary: 'a stored response had to be revalidated and the upstream could not be asked (RFC 9111 §4.2.4)'},
  TAVERN_ERR_ONLY_IF_CACHED: {status: 504, class: 'failed', summary: 'Cache-Control: only-if-cached and nothing usable is stored (RFC 9111 §5.2.1.7)'},
  TAVERN_ERR_PRECONDITION_FAILED: {status: 412, class: 'failed', summary: 'an If-Match / If-Unmodified-Since precondition is false for the stored response'},
  // ---- data plane: PURGE
  TAVERN_ERR_PURGE_FORBIDDEN: {status: 403, class: 'failed', summary: 'PURGE from an address outside purge.allow'},
  TAVERN_ERR_BAD_PURGE_TYPE: {status: 400, class: 'usage', summary: 'the purge-type header (purge.header) is not file|dir[,hard]'},
  // ---- hooks and internal failures
  TAVERN_ERR_HOOK: {status: 500, class: 'failed', summary: 'a plugin hook threw or rejected (the plugin is named in the log)'},
  TAVERN_ERR_INTERNAL: {status: 500, class: 'failed', summary: 'an unexpected failure inside Tavern (logged with its stack)'},
  // ---- web dashboard
  TAVERN_ERR_DASHBOARD_AUTH: {status: 401, class: 'usage', summary: 'the dashboard needs its bearer token (dashboard.tokenFile)'},
  TAVERN_ERR_DASHBOARD_HOST: {status: 403, class: 'usage', summary: 'a Host the dashboard does not allow without a token (dashboard.allowedHosts)'},
  TAVERN_ERR_DASHBOARD_TOKEN: {status: 503, class: 'failed', summary: 'the dashboard token is too short: the dashboard stays closed'},
  TAVERN_ERR_DASHBOARD_BUSY: {status: 503, class: 'failed', summary: 'too many dashboard streams at once, or the dashboard is shutting down'},
  // ---- admin API
  TAVERN_ERR_NOT_FOUND: {status: 404, class: 'usage', summary: 'no such admin endpoint'},
  TAVERN_ERR_BAD_JSON: {status: 400, class: 'usage', summary: 'the request body is not valid JSON'},
  TAVERN_ERR_BODY_TOO_LARGE: {status: 413, class: 'usage', summary: 'the request body is over the endpoint limit'},
  TAVERN_ERR_BAD_ARGUMENT: {status: 400, class: 'usage', summary: 'a request field is missing or of the wrong type'},
  TAVERN_ERR_BAD_URL: {status: 400, class: 'usage', summary: 'not an absolute http(s) URL (or a path without a host)'},
  TAVERN_ERR_BAD_PREFIX: {status: 400, class: 'usage', summary: 'a directory prefix that is not a URL or a path with a host'},
  TAVERN_ERR_BAD_HOST: {status: 400, class: 'usage', summary: 'not a valid host[:port]'},
  TAVERN_ERR_BAD_HEADERS: {status: 400, class: 'usage', summary: 'a request header argument is malformed or not allowed'},
  TAVERN_ERR_BAD_MODE: {status: 400, class: 'usage', summary: 'purge mode is not delete or expire'},
  TAVERN_ERR_BAD_CONCURRENCY: {status: 400, class: 'usage', summary: 'concurrency is not a positive integer'},
  TAVERN_ERR_BAD_RATE: {status: 400, class: 'usage', summary: 'rateBytesPerSec is not a non-negative number'},
  TAVERN_ERR_TOO_MANY_URLS: {status: 413, class: 'usage', summary: 'more URLs in one request than the endpoint takes (send several requests)'},
  TAVERN_ERR_INVALID_CONFIG: {status: 422, class: 'usage', summary: 'the config (or a plugin, or its options) is invalid (`serve`, `config check`)'},
  TAVERN_ERR_PROFILE_BUSY: {status: 409, class: 'failed', summary: 'a profile is already being taken (one at a time, of any kind)'},
  TAVERN_ERR_PROFILE_DURATION: {status: 400, class: 'usage', summary: 'the CPU profile duration or sampling interval is out of range'},
  TAVERN_ERR_PROFILE_OPTION: {status: 400, class: 'usage', summary: 'an unknown or malformed profile option'},
  TAVERN_ERR_PROFILE_FAILED: {status: 500, class: 'failed', summary: 'the inspector could not take the profile (the cause is in the message)'},
  TAVERN_ERR_LOG_BUSY: {status: 503, class: 'failed', summary: 'too many clients follow the live request log at once (16)'},
  TAVERN_ERR_NOT_CLUSTERED: {status: 409, class: 'usage', summary: 'purge --cluster on a daemon without a cluster section'},
  TAVERN_ERR_RELOAD_REFUSED: {status: 422, class: 'failed', summary: 'a reload found the config (or a plugin) invalid; the daemon keeps running with the old one'},
  // ---- CLI and daemon start
  TAVERN_ERR_UNREACHABLE: {status: 503, class: 'unreachable', summary: 'no daemon answers on the admin socket'},
  TAVERN_ERR_FOREIGN_SOCKET: {status: 403, class: 'unreachable', summary: 'the admin socket belongs to another user (see --allow-foreign-socket)'},
  TAVERN_ERR_ADMIN_UNAUTHORIZED: {status: 401, class: 'usage', summary: 'the admin TCP listener refused the request: no bearer token, or not its admin.tokenFile token (--token-file)'},
  TAVERN_ERR_ADMIN_TARGET: {status: 400, class: 'usage', summary: '--admin / --token-file (TAVERN_ADMIN_URL / TAVERN_TOKEN_FILE) cannot be used: not an http(s) URL, no token file, a token file others can read'},
  TAVERN_ERR_USAGE: {status: 400, class: 'usage', summary: 'bad command-line arguments'},
  TAVERN_ERR_NOT_CACHED: {status: 404, class: 'failed', summary: '--strict and a URL is not cached (or matched nothing)'},
  TAVERN_ERR_PEER_PURGE_FAILED: {status: 502, class: 'failed', summary: 'purge --cluster: a node did not purge (each failed node is named, with why)'},
  TAVERN_ERR_DAEMON: {status: 500, class: 'failed', summary: 'the daemon answered an error the CLI does not know, or broke off a stream'},
  TAVERN_ERR_SOCKET_IN_USE: {status: 500, class: 'failed', summary: 'another daemon listens on the admin socket, or a non-socket file is in its place'},
  TAVERN_ERR_SOCKET_DIR: {status: 500, class: 'failed', summary: "the default socket's directory is not ours alone"},
  TAVERN_ERR_STORAGE_LOCKED: {status: 500, class: 'failed', summary: 'another live daemon holds the storage directory'},
  TAVERN_ERR_LISTEN: {status: 500, class: 'failed', summary: 'cannot listen on an address (in use, not permitted)'},
} as const satisfies Record<string, Entry>

export type ErrorCode = keyof typeof ERRORS

const REASONS: Record<number, string> = {
  400: 'Bad Request',
  401: 'Unauthorized',
  403: 'Forbidden',
  404: 'Not Found',
  405: 'Method Not Allowed',
  409: 'Conflict',
  412: 'Precondition Failed',
  413: 'Content Too Large',
  416: 'Range Not Satisfiable',
  421: 'Misdirected Request',
  422: 'Unprocessable Content',
  500: 'Internal Server Error',
  502: 'Bad Gateway',
  503: 'Service Unavailable',
  504: 'Gateway Timeout',
}

export function reasonPhrase(status: number): string {
  return REASONS[status] ?? 'Error'
}

export function isErrorCode(code: unknown): code is ErrorCode {
  return typeof code === 'string' && Object.hasOwn(ERRORS, code)
}

/** Exit code of a catalogue code (its class); unknown codes (an older or newer daemon) count as failures. */
export function exitCodeOf(code: string | undefined): number {
  return isErrorCode(code) ? EXIT_CODES[ERRORS[code].class] : EXIT_CODES.failed
}

/**
 * An error with a catalogue code. `message` is the specific text (what was wrong, naming the value); `status` and
 * `exit` follow from the code.
 */
export class TavernError extends Error {
  constructor(
    readonly code: ErrorCode,
    message: string,
    options?: {cause?: unknown},
  ) {
    super(message, options)
    this.name = 'TavernError'
  }

  get status(): number {
    return ERRORS[this.code].status
  }

  get exit(): number {
    return EXIT_CODES[ERRORS[this.code].class]
  }

  /** The admin API / `--json` shape. */
  toJSON(): {error: {code: ErrorCode; message: string}} {
    return {error: {code: this.code, message: this.message}}
  }
}

/** The text body of a data-plane error answer: status line words, the detail and the code. */
export function errorBody(code: ErrorCode, detail: string, status: number = ERRORS[code].status): string {
  return `${status} ${reasonPhrase(status)}: ${detail} [${code}]\n`
}
