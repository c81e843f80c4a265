// The errors the client throws. Every failure is a `CairnError`; when the
// server answered with an error, `code` is its catalogue code and `status`
// the HTTP status.
import type { ErrorCode } from "./wire.js";

/** Base class of every error this package throws. */
export class CairnError extends Error {
  /**
   * The server's error code (`"not_found"`, ...), or the code the server
   * would have answered for errors caught before sending (`"invalid_key"`);
   * `undefined` when no code applies (the server could not be reached).
   */
  readonly code: ErrorCode | (string & {}) | undefined;
  /** The HTTP status of the server's answer, when there was one. */
  readonly status: number | undefined;

  constructor(message: string, options: { code?: string; status?: number; cause?: unknown } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = new.target.name;
    this.code = options.code;
    this.status = options.status;
  }
}

/** The server refused the request as malformed (HTTP 400, 405, 415, other 4xx). */
export class InvalidRequest extends CairnError {}
/**
 * A key the server refuses: empty, over 512 bytes, `.`/`..`, or with control
 * characters. Thrown before sending when the client can tell.
 */
export class InvalidKey extends InvalidRequest {}
/** A `ccr:` reference that is not well formed. */
export class InvalidRef extends InvalidRequest {}
/** No token, or a token the server does not accept (HTTP 401). */
export class Unauthorized extends CairnError {}
/** The token lacks the scope the call needs (HTTP 403). */
export class Forbidden extends CairnError {}
/** No such key, version, reference or session (HTTP 404). */
export class NotFound extends CairnError {}
/** The version's TTL has passed (HTTP 410). */
export class Expired extends CairnError {}
/** The body is over the server's limit (HTTP 413). */
export class PayloadTooLarge extends CairnError {}
/** Too many failed authentications from this address (HTTP 429). */
export class RateLimited extends CairnError {}
/** The server cannot serve the request now (HTTP 503). */
export class Unavailable extends CairnError {}
/** The server's storage is full; nothing was written (HTTP 507). */
export class StorageFull extends CairnError {}
/** The server failed (HTTP 500), or answered an error this client does not know. */
export class ServerError extends CairnError {}
/** The server could not be reached, after retrying. Nothing was sent. */
export class ConnectionFailed extends CairnError {}
/**
 * The request failed on the way (a reset connection): the server may or may
 * not have acted on it.
 */
export class TransportError extends CairnError {}
/** The request took longer than the client's `timeout`. */
export class Timeout extends TransportError {}
/** The caller's `AbortSignal` aborted the request. */
export class Aborted extends CairnError {}
/** The server answered something this client does not understand. */
export class ProtocolError extends CairnError {}
/** The content is not UTF-8 text; read it as bytes (`getBytes`, `retrieveBytes`). */
export class BinaryContent extends CairnError {}

type ErrorClass = new (message: string, options?: { code?: string; status?: number }) => CairnError;

// Every code of the server's catalogue: a code added there fails to compile here.
const BY_CODE: Record<ErrorCode, ErrorClass> = {
  invalid_request: InvalidRequest,
  invalid_json: InvalidRequest,
  method_not_allowed: InvalidRequest,
  unsupported_media_type: InvalidRequest,
  invalid_key: InvalidKey,
  invalid_ref: InvalidRef,
  unauthorized: Unauthorized,
  forbidden: Forbidden,
  not_found: NotFound,
  expired: Expired,
  payload_too_large: PayloadTooLarge,
  rate_limited: RateLimited,
  storage_full: StorageFull,
  unavailable: Unavailable,
  internal: ServerError,
  unknown: ServerError,
};

const BY_STATUS: Record<number, ErrorClass> = {
  400: InvalidRequest,
  401: Unauthorized,
  403: Forbidden,
  404: NotFound,
  405: InvalidRequest,
  410: Expired,
  413: PayloadTooLarge,
  415: InvalidRequest,
  429: RateLimited,
  503: Unavailable,
  507: StorageFull,
};

/** The typed error for an error answer: by its code, else by its status. */
export function errorFor(status: number, code: string | undefined, message: string): CairnError {
  const known = code !== undefined && Object.hasOwn(BY_CODE, code) ? (code as ErrorCode) : undefined;
  const cls =
    (known && BY_CODE[known]) ??
    BY_STATUS[status] ??
    (status >= 400 && status < 500 ? InvalidRequest : ServerError);
  return new cls(message, { code, status });
}
