/**
 * The one error shape of the emulator: an HTTP status plus the API's `{type, message}`; server.ts
 * renders it as the envelope `{type:"error", error:{type,message}, request_id}` with a `request-id`
 * header. Pure modules throw it; only server.ts knows about HTTP.
 */
export class ApiError extends Error {
  readonly status: number;
  readonly type: string;
  readonly headers: Record<string, string>;

  constructor(status: number, type: string, message: string, headers: Record<string, string> = {}) {
    super(message);
    this.status = status;
    this.type = type;
    this.headers = headers;
  }
}
Object.defineProperty(ApiError.prototype, 'name', { value: 'EmulatorApiError' });

/**
 * The error types an error response may have [SPEC ErrorResponse.error: a oneOf InvalidRequestError,
 * AuthenticationError, BillingError, PermissionError, NotFoundError, RateLimitError, GatewayTimeoutError,
 * APIError, OverloadedError, discriminated by `type`]: what an injected `errored` result may carry.
 */
export const ERROR_TYPES = [
  'invalid_request_error', 'authentication_error', 'billing_error', 'permission_error', 'not_found_error',
  'rate_limit_error', 'timeout_error', 'api_error', 'overloaded_error',
] as const;

const STATUS_BY_TYPE: Record<string, number> = {
  invalid_request_error: 400,
  authentication_error: 401,
  billing_error: 402,
  permission_error: 403,
  not_found_error: 404,
  conflict_error: 409,
  request_too_large: 413,
  rate_limit_error: 429,
  api_error: 500,
  timeout_error: 504,
  overloaded_error: 529,
};

const TYPE_BY_STATUS: Record<number, string> = Object.fromEntries(
  Object.entries(STATUS_BY_TYPE).map(([type, status]) => [status, type]),
);

/** The HTTP status the API uses for an error type (unknown types: 400 for *request*, else 500). */
export function statusForType(type: string): number {
  return STATUS_BY_TYPE[type] ?? (type.includes('request') ? 400 : 500);
}

/** The error type the API uses for a status (unknown: `api_error`). */
export function typeForStatus(status: number): string {
  return TYPE_BY_STATUS[status] ?? (status >= 500 ? 'api_error' : 'invalid_request_error');
}

/** The API's error envelope. */
export function errorEnvelope(type: string, message: string, requestId: string | null): {
  type: 'error';
  error: { type: string; message: string };
  request_id: string | null;
} {
  return { type: 'error', error: { type, message }, request_id: requestId };
}
