// Cairn's TypeScript client: `SharedContext`, its errors, and the REST API's
// types (generated from schema/openapi.json).
export {
  DEFAULT_URL,
  MAX_KEY_BYTES,
  SharedContext,
  VERSION,
  checkKey,
} from "./shared-context.js";
export type {
  BriefingOptions,
  CamelCased,
  CompressTextOptions,
  Content,
  ContextEntry,
  GetOptions,
  ImportOptions,
  Lines,
  ListOptions,
  PutEntry,
  PutOptions,
  SearchOptions,
  Selection,
  SessionOptions,
  SessionsOptions,
  SharedContextOptions,
  SharedContextStats,
} from "./shared-context.js";
export type { CallOptions } from "./transport.js";
export * from "./errors.js";
export type * from "./wire.js";
