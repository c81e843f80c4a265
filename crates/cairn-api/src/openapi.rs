//! The REST contract as an OpenAPI document, generated from the handlers'
//! annotations and the wire types, served at `/v1/openapi.json` and committed
//! as `schema/openapi.json` (a test fails when the two drift apart).

use std::sync::OnceLock;

use axum::http::header::CONTENT_TYPE;
use axum::response::IntoResponse;
use utoipa::OpenApi;
use utoipa::openapi::RefOr;
use utoipa::openapi::schema::{KnownFormat, ObjectBuilder, Schema, SchemaFormat, Type};

use crate::rest;

/// Any bytes, as the body of a request or response.
pub(crate) struct Binary;

impl utoipa::PartialSchema for Binary {
    fn schema() -> RefOr<Schema> {
        ObjectBuilder::new()
            .schema_type(Type::String)
            .format(Some(SchemaFormat::KnownFormat(KnownFormat::Binary)))
            .into()
    }
}

impl utoipa::ToSchema for Binary {}

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Cairn",
        description = "A shared, compressed, reversible memory server for AI agents. Errors are \
            always `{\"error\": {\"code\", \"message\"}}` with a code from `ErrorCode`.",
        license(name = "Apache-2.0"),
    ),
    paths(
        rest::contexts::put,
        rest::contexts::get,
        rest::contexts::list,
        rest::contexts::delete,
        rest::ccr::retrieve,
        rest::compress::compress,
        rest::stats::stats,
        rest::stats::activity,
        rest::sessions::import,
        rest::sessions::list,
        rest::sessions::get,
        rest::search::search,
        rest::briefing::briefing,
        rest::health::healthz,
        rest::health::readyz,
    ),
    components(schemas(cairn_types::ErrorCode, cairn_types::ErrorBody, cairn_types::ErrorDetail)),
    modifiers(&BearerAuth, &AuthResponses, &CompressOneOf, &OptionalPutBody),
    security(("bearer" = [])),
    tags(
        (name = "contexts", description = "Put, read, list and delete contexts"),
        (name = "ccr", description = "Originals by `ccr:` reference"),
        (name = "compress", description = "Stateless compression"),
        (name = "stats", description = "What is stored and what compression saved"),
        (name = "sessions", description = "Imported agent sessions"),
        (name = "search", description = "Search over sessions and contexts"),
        (name = "health", description = "Probes"),
    ),
)]
struct ApiDoc;

/// The bearer token every data route takes when the server has auth on
/// (with auth off, on loopback, none is needed).
struct BearerAuth;

impl utoipa::Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
        let scheme = HttpBuilder::new()
            .scheme(HttpAuthScheme::Bearer)
            .bearer_format("JWT")
            .description(Some(
                "A JWT (claims sub, tenant, scopes, exp, aud = \"cairn\") from `cairn token \
                 issue`. Missing or invalid: 401; without the scope the route needs: 403.",
            ))
            .build();
        openapi
            .components
            .get_or_insert_with(Default::default)
            .add_security_scheme("bearer", SecurityScheme::Http(scheme));
    }
}

/// Every operation that takes the bearer token documents what a request
/// without a good one gets: 401 (missing, malformed, expired or of another
/// audience), 403 (a scope the route needs is missing) and 429 (too many
/// failed authentications from the address, with `Retry-After`).
struct AuthResponses;

impl utoipa::Modify for AuthResponses {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::security::SecurityRequirement;
        use utoipa::openapi::{ContentBuilder, Ref, ResponseBuilder};
        let error = |description: &str| {
            ResponseBuilder::new()
                .description(description)
                .content(
                    "application/json",
                    ContentBuilder::new()
                        .schema(Some(Ref::from_schema_name("ErrorBody")))
                        .build(),
                )
                .build()
        };
        for item in openapi.paths.paths.values_mut() {
            for operation in [
                &mut item.get,
                &mut item.put,
                &mut item.post,
                &mut item.delete,
                &mut item.patch,
            ]
            .into_iter()
            .flatten()
            {
                // `security(())`: a probe anyone may call.
                let open = operation.security.as_ref().is_some_and(|requirements| {
                    requirements
                        .iter()
                        .all(|requirement| *requirement == SecurityRequirement::default())
                });
                if open {
                    continue;
                }
                for (status, description) in [
                    (
                        "401",
                        "No bearer token, or one that is malformed, expired or for another audience (auth on)",
                    ),
                    (
                        "403",
                        "The token lacks the scope this route needs (auth on)",
                    ),
                    (
                        "429",
                        "Too many failed authentications from this address; see Retry-After",
                    ),
                ] {
                    operation
                        .responses
                        .responses
                        .entry(status.to_owned())
                        .or_insert_with(|| error(description).into());
                }
            }
        }
    }
}

/// `PUT /v1/contexts/{key}` without a body stores empty content, as an
/// empty raw body does: the body is optional, which the derived
/// `request_body` (required, as its types are not `Option`s) cannot say.
struct OptionalPutBody;

impl utoipa::Modify for OptionalPutBody {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let body = openapi
            .paths
            .paths
            .get_mut("/v1/contexts/{key}")
            .and_then(|item| item.put.as_mut())
            .and_then(|put| put.request_body.as_mut());
        if let Some(body) = body {
            body.required = Some(utoipa::openapi::Required::False);
        }
    }
}

/// `POST /v1/compress` takes `content` (with `query`, `max_tokens` and
/// `kind`) or `messages` (alone), never both or neither: the derived schema
/// of `CompressRequest` cannot say so, so it is replaced by the two shapes.
struct CompressOneOf;

impl utoipa::Modify for CompressOneOf {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let kinds: Vec<&str> = cairn_service::Kind::ALL
            .iter()
            .map(|kind| kind.as_str())
            .collect();
        let schema = serde_json::json!({
            "description": "`POST /v1/compress`: one text (`content`, with an optional `query`, \
                `max_tokens` and `kind`), or the `messages` of an OpenAI Chat or Anthropic \
                Messages request (alone).",
            "oneOf": [
                {
                    "type": "object",
                    "title": "Content",
                    "required": ["content"],
                    "properties": {
                        "content": {"type": "string"},
                        "query": {
                            "type": ["string", "null"],
                            "description": "Keep everything matching this."
                        },
                        "max_tokens": {
                            "type": ["integer", "null"],
                            "format": "uint64",
                            "minimum": 1,
                            "maximum": u64::MAX,
                            "description": "Cap the result at this many tokens."
                        },
                        "kind": {
                            "type": ["string", "null"],
                            "enum": kinds.iter().map(|kind| serde_json::Value::from(*kind))
                                .chain([serde_json::Value::Null]).collect::<Vec<_>>(),
                            "description": "What `content` is; detected when absent."
                        },
                        "messages": {"type": "null"}
                    },
                    "additionalProperties": false
                },
                {
                    "type": "object",
                    "title": "Messages",
                    "required": ["messages"],
                    "properties": {
                        "messages": {"type": "array", "items": {"type": "object"}},
                        "content": {"type": "null"},
                        "query": {"type": "null"},
                        "max_tokens": {"type": "null"},
                        "kind": {"type": "null"}
                    },
                    "additionalProperties": false
                }
            ]
        });
        let schema: RefOr<Schema> =
            serde_json::from_value(schema).expect("the compress request's schema is a schema");
        openapi
            .components
            .get_or_insert_with(Default::default)
            .schemas
            .insert("CompressRequest".to_owned(), schema);
    }
}

/// The OpenAPI document, pretty-printed, exactly as `schema/openapi.json` holds it.
pub fn openapi_json() -> &'static str {
    static DOCUMENT: OnceLock<String> = OnceLock::new();
    DOCUMENT.get_or_init(|| {
        let mut json = ApiDoc::openapi()
            .to_pretty_json()
            .expect("an OpenAPI document of plain data serializes");
        json.push('\n');
        json
    })
}

/// `GET /v1/openapi.json`
pub(crate) async fn serve() -> impl IntoResponse {
    ([(CONTENT_TYPE, "application/json")], openapi_json())
}
