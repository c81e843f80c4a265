//! The seven tools: their arguments (with the JSON schemas and descriptions a
//! model reads), and what each one calls on [`Cairn`]. Each tool calls the
//! same verb as its REST route and answers with the same wire type, so the
//! two surfaces cannot drift apart.
//!
//! Arguments are checked here, not by the SDK: a missing or mistyped field
//! is a tool error with code `invalid_request`, which the model can read and
//! correct, rather than a protocol error most clients show as "internal error".

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use cairn_auth::{Principal, Scope};
use cairn_service::{
    BriefingQuery, Cairn, CompressInput, GetOptions, PutInput, SearchQuery, Selection,
};
use cairn_types::{ContentEncoding, ContextKey, ErrorCode, SearchResults, View};
use rmcp::handler::server::common::schema_for_type;
use rmcp::model::{CallToolResult, ContentBlock, JsonObject, Tool, ToolAnnotations};
use rmcp::schemars::JsonSchema;
use serde::Deserialize;
use serde::de::DeserializeOwned;

use crate::ToolError;

/// Results of a search unless the caller asks for another number.
const DEFAULT_SEARCH_LIMIT: usize = 10;

/// The names of the tools, in the order `tools/list` gives them.
pub const TOOL_NAMES: [&str; 7] = [
    "cairn_put",
    "cairn_get",
    "cairn_retrieve",
    "cairn_search",
    "cairn_briefing",
    "cairn_compress",
    "cairn_stats",
];

/// Arguments of `cairn_put`.
#[derive(Debug, Deserialize, JsonSchema)]
#[schemars(crate = "rmcp::schemars")]
#[serde(deny_unknown_fields)]
pub struct PutArgs {
    /// Where to store it: 1-512 bytes of UTF-8 without control characters;
    /// slashes allowed, like `build/log` or `notes/plan`. Putting to a key
    /// again stores a new version.
    pub key: String,
    /// The text to store, whole (a tool output, a log, a file, a plan).
    pub content: String,
    /// Forget it after this many seconds; by default it is kept.
    #[serde(default)]
    pub ttl_seconds: Option<u64>,
    /// The session this belongs to, if the caller tracks one.
    #[serde(default)]
    pub session: Option<String>,
}

/// Arguments of `cairn_get`.
#[derive(Debug, Deserialize, JsonSchema)]
#[schemars(crate = "rmcp::schemars")]
#[serde(deny_unknown_fields)]
pub struct GetArgs {
    /// The key the content was stored under.
    pub key: String,
    /// Return the original, whole and exact, instead of the compressed view.
    #[serde(default)]
    pub full: bool,
    /// Words to keep in the compressed view: every line or row matching them
    /// is kept (for example an error message, a function or a test name).
    #[serde(default)]
    pub query: Option<String>,
    /// Cap the compressed view at about this many tokens (query matches are
    /// kept past it).
    #[serde(default)]
    pub max_tokens: Option<u64>,
    /// Read this version instead of the latest.
    #[serde(default)]
    pub version: Option<i64>,
}

/// Arguments of `cairn_retrieve`.
#[derive(Debug, Deserialize, JsonSchema)]
#[schemars(crate = "rmcp::schemars")]
#[serde(deny_unknown_fields)]
pub struct RetrieveArgs {
    /// The reference, as it appears in a marker `[cairn: … — ccr:…]` or in a
    /// result: `ccr:` and 24 hex digits.
    #[serde(rename = "ref")]
    pub reference: String,
    /// Only these lines of a text original (or items of a JSON array), 1-based:
    /// `A-B` or `A`. Markers say which lines they cut.
    #[serde(default)]
    pub lines: Option<String>,
    /// Only the lines (or items) matching these words, each with its line number.
    #[serde(default)]
    pub query: Option<String>,
}

/// Arguments of `cairn_search`.
#[derive(Debug, Deserialize, JsonSchema)]
#[schemars(crate = "rmcp::schemars")]
#[serde(deny_unknown_fields)]
pub struct SearchArgs {
    /// Words (an identifier is found by its parts: `user` finds
    /// `getUserById`), "phrases", `field:value`, `AND`, `OR`, `-word`. Empty:
    /// everything the filters let through, newest first.
    #[serde(default)]
    pub query: Option<String>,
    /// Only what this agent wrote or said (claude, codex, gemini, or the name
    /// an agent stored contexts under).
    #[serde(default)]
    pub agent: Option<String>,
    /// Only this project (its working directory).
    #[serde(default)]
    pub project: Option<String>,
    /// Only from this time on (RFC 3339, like 2026-11-21T08:00:00Z).
    #[serde(default)]
    pub since: Option<String>,
    /// Most results, 1-1000 (default 10).
    #[serde(default)]
    pub limit: Option<usize>,
}

/// Arguments of `cairn_briefing`.
#[derive(Debug, Deserialize, JsonSchema)]
#[schemars(crate = "rmcp::schemars")]
#[serde(deny_unknown_fields)]
pub struct BriefingArgs {
    /// The project folder (the repository root, or the working directory):
    /// sessions in it and its subfolders.
    pub project: String,
    /// You (claude, codex, gemini, or your own name): your own sessions are
    /// left out.
    #[serde(default)]
    pub agent: Option<String>,
    /// Budget in tokens, 100-32000 (default 1500).
    #[serde(default)]
    pub max_tokens: Option<u32>,
    /// The project's git remote (like `github.com/acme/shop`): other clones
    /// of it count as the project too.
    #[serde(default)]
    pub repository: Option<String>,
}

/// Arguments of `cairn_compress`.
#[derive(Debug, Deserialize, JsonSchema)]
#[schemars(crate = "rmcp::schemars")]
#[serde(deny_unknown_fields)]
pub struct CompressArgs {
    /// The text to compress: a tool output, log, JSON, diff, search results,
    /// a table, HTML or source code.
    pub content: String,
    /// What matters in it: lines or rows matching these words are kept whole.
    #[serde(default)]
    pub query: Option<String>,
    /// Cap the result at about this many tokens (query matches are kept past it).
    #[serde(default)]
    pub max_tokens: Option<u64>,
}

/// Arguments of `cairn_stats`: none.
#[derive(Debug, Deserialize, JsonSchema)]
#[schemars(crate = "rmcp::schemars")]
#[serde(deny_unknown_fields)]
pub struct StatsArgs {}

/// Every tool, with its schema, description and hints.
pub fn list() -> Vec<Tool> {
    let reads = ToolAnnotations::new().read_only(true).open_world(false);
    let writes = ToolAnnotations::new()
        .read_only(false)
        .destructive(false)
        .open_world(false);
    vec![
        tool::<PutArgs>(
            "cairn_put",
            "Store in Cairn",
            "Store text in Cairn, the memory shared by every agent on this machine or team, \
             under a key. Use it for anything you or another agent may need later and that \
             is too big to keep in context: a long tool output, a build or test log, a file, \
             a plan, findings. The original is kept byte for byte; readers get a compressed \
             view and can expand any part. Returns the key, its version and its `ccr:` \
             reference.",
            writes.clone().idempotent(false),
        ),
        tool::<GetArgs>(
            "cairn_get",
            "Read from Cairn",
            "Read what is stored under a key. By default returns a compressed view: what \
             matters is kept (errors, signatures, rare rows, lines matching `query`) and \
             every cut is a marker `[cairn: what was cut — ccr:…]`. Pass `query` to keep \
             what you are looking for, `max_tokens` to cap the size, or `full: true` for \
             the exact original. To expand one marker, call cairn_retrieve with its ref.",
            reads.clone(),
        ),
        tool::<RetrieveArgs>(
            "cairn_retrieve",
            "Expand a Cairn reference",
            "Expand a `ccr:` reference from a marker or a result into the original text \
             it stands for. Ask for `lines` (like `120-180`, which markers name) or a \
             `query` (only the matching lines, with their numbers) to read just the part \
             you need; with neither, returns the whole original.",
            reads.clone(),
        ),
        tool::<SearchArgs>(
            "cairn_search",
            "Search Cairn",
            "Search everything in Cairn: stored contexts and the imported sessions of \
             Claude Code, Codex and Gemini CLI (what was said, which tools ran, their \
             outputs). Use it to find earlier work, an error seen before, or what another \
             agent did on this project. Filter by agent, project and time; each hit has a \
             snippet and a `ccr:` ref to read more with cairn_retrieve.",
            reads.clone(),
        ),
        tool::<BriefingArgs>(
            "cairn_briefing",
            "Brief me on this project",
            "What the other agents (Claude Code, Codex, Gemini CLI, others) did recently \
             in a project, newest first, within a token budget: per session the task, \
             the files written and read, the commands that failed and whether they \
             passed later, the last state and what was left open. Call it when you \
             start work in a project. Every item has a `ccr:` ref to expand with \
             cairn_retrieve.",
            reads.clone(),
        ),
        tool::<CompressArgs>(
            "cairn_compress",
            "Compress with Cairn",
            "Compress a text you already hold (a long tool output, log, JSON, diff, \
             search results, code) without storing it under a key. Returns a shorter \
             view with markers; the original is retained, so each marker's ref expands \
             with cairn_retrieve. Use `query` to keep what matters to your task.",
            writes.idempotent(true),
        ),
        tool::<StatsArgs>(
            "cairn_stats",
            "Cairn stats",
            "How much Cairn holds for you: contexts, versions, originals, bytes, \
             deduplication and the tokens compression saved.",
            reads,
        ),
    ]
}

fn tool<T: JsonSchema + 'static>(
    name: &'static str,
    title: &'static str,
    description: &'static str,
    mut annotations: ToolAnnotations,
) -> Tool {
    annotations.title = Some(title.to_owned());
    let mut schema = schema_for_type::<T>().as_ref().clone();
    plain_schema(&mut schema);
    Tool::new(name, description, schema)
        .with_title(title)
        .with_annotations(annotations)
}

/// The schema in the plain subset every agent's model API accepts (Gemini's
/// function declarations take an OpenAPI subset): no `$schema` or `title`,
/// an optional field typed as itself rather than `[T, "null"]` with a null
/// default (leaving it out is how to not give it), and no Rust integer
/// formats (`uint64`), which `minimum` already says.
fn plain_schema(schema: &mut JsonObject) {
    schema.remove("$schema");
    schema.remove("title");
    let Some(serde_json::Value::Object(properties)) = schema.get_mut("properties") else {
        return;
    };
    for property in properties.values_mut() {
        let Some(property) = property.as_object_mut() else {
            continue;
        };
        if let Some(serde_json::Value::Array(types)) = property.get("type") {
            let types: Vec<serde_json::Value> = types
                .iter()
                .filter(|kind| kind.as_str() != Some("null"))
                .cloned()
                .collect();
            if let [single] = types.as_slice() {
                property.insert("type".into(), single.clone());
            }
        }
        if property.get("default") == Some(&serde_json::Value::Null) {
            property.remove("default");
        }
        property.remove("format");
    }
}

/// Who is calling a tool: the principal (tenant and scopes) and the client's
/// own name, which puts record as the agent when the token names none.
#[derive(Debug, Clone)]
pub struct Caller {
    pub principal: Principal,
    pub client_name: Option<String>,
    /// Why search is off, when it is.
    pub search_note: Option<Arc<str>>,
    /// The agent's session, from the call's `_meta`; a put that names none
    /// records it.
    pub session: Option<String>,
}

/// Runs tool `name` with `arguments` for `caller`. Every failure is a tool
/// error; this never fails the request.
pub async fn call(
    cairn: &Cairn,
    caller: &Caller,
    name: &str,
    arguments: Option<JsonObject>,
) -> CallToolResult {
    match dispatch(cairn, caller, name, arguments).await {
        Ok(result) => result,
        Err(error) => error.into_result(),
    }
}

async fn dispatch(
    cairn: &Cairn,
    caller: &Caller,
    name: &str,
    arguments: Option<JsonObject>,
) -> Result<CallToolResult, ToolError> {
    match name {
        "cairn_put" => put(cairn, caller, parse(name, arguments)?).await,
        "cairn_get" => get(cairn, caller, parse(name, arguments)?).await,
        "cairn_retrieve" => retrieve(cairn, caller, parse(name, arguments)?).await,
        "cairn_search" => search(cairn, caller, parse(name, arguments)?).await,
        "cairn_briefing" => briefing(cairn, caller, parse(name, arguments)?).await,
        "cairn_compress" => compress(cairn, caller, parse(name, arguments)?).await,
        "cairn_stats" => {
            let StatsArgs {} = parse(name, arguments)?;
            stats(cairn, caller).await
        }
        other => Err(ToolError::new(
            ErrorCode::NotFound,
            format!(
                "no tool named {other:?}; the tools are {}",
                TOOL_NAMES.join(", ")
            ),
        )),
    }
}

/// The arguments as `T`; absent arguments are an empty object.
fn parse<T: DeserializeOwned>(tool: &str, arguments: Option<JsonObject>) -> Result<T, ToolError> {
    let object = serde_json::Value::Object(arguments.unwrap_or_default());
    serde_json::from_value(object).map_err(|error| {
        ToolError::new(
            ErrorCode::InvalidRequest,
            format!("bad arguments for {tool}: {error}"),
        )
    })
}

async fn put(cairn: &Cairn, caller: &Caller, args: PutArgs) -> Result<CallToolResult, ToolError> {
    caller.principal.require(Scope::Write)?;
    let key = ContextKey::parse(args.key)?;
    let input = PutInput {
        content: Bytes::from(args.content),
        agent: caller.principal.agent_or(caller.client_name.clone()),
        session: args.session.or_else(|| caller.session.clone()),
        ttl: args.ttl_seconds.map(Duration::from_secs),
        metadata: None,
    };
    let receipt = cairn.put(&caller.principal.tenant, &key, input).await?;
    let text = format!(
        "stored `{}` version {} as {} ({} bytes, {} tokens; {} as a compressed view){}",
        receipt.key,
        receipt.version,
        receipt.reference,
        receipt.bytes,
        receipt.tokens_original,
        receipt.tokens_compressed,
        if receipt.deduplicated {
            "; these exact bytes were already stored"
        } else {
            ""
        }
    );
    Ok(answer(vec![text], &receipt))
}

async fn get(cairn: &Cairn, caller: &Caller, args: GetArgs) -> Result<CallToolResult, ToolError> {
    caller.principal.require(Scope::Read)?;
    let key = ContextKey::parse(args.key)?;
    if args.max_tokens == Some(0) {
        return Err(ToolError::invalid("max_tokens must be at least 1"));
    }
    let options = GetOptions {
        view: if args.full {
            View::Full
        } else {
            View::Compressed
        },
        version: args.version,
        query: args.query.filter(|query| !query.trim().is_empty()),
        max_tokens: args.max_tokens,
    };
    let read = cairn.get(&caller.principal.tenant, &key, options).await?;
    let view = read.into_view();
    let about = format!(
        "`{}` version {} ({} view, {} of {} tokens; original {}){}{}",
        view.key,
        view.version,
        view.view.as_str(),
        view.tokens,
        view.tokens_original,
        view.reference,
        match &view.agent {
            Some(agent) => format!(", stored by {agent}"),
            None => String::new(),
        },
        if view.markers.is_empty() {
            String::new()
        } else {
            "; expand a marker with cairn_retrieve and its ref".to_owned()
        }
    );
    Ok(answer(
        vec![content_text(&view.content, view.encoding), about],
        &view,
    ))
}

async fn retrieve(
    cairn: &Cairn,
    caller: &Caller,
    args: RetrieveArgs,
) -> Result<CallToolResult, ToolError> {
    caller.principal.require(Scope::Read)?;
    let tenant = &caller.principal.tenant;
    let selection = Selection::from_request(args.lines, args.query)?;
    let (found, part) = cairn
        .retrieve_selected(tenant, &args.reference, selection)
        .await?;
    let retrieved = found.into_wire(part);
    let about = match (&retrieved.selection, retrieved.total) {
        (Some(selection), Some(total)) => format!(
            "{}: {selection} of {total} ({} bytes, {} tokens in the whole original)",
            retrieved.reference, retrieved.bytes, retrieved.tokens
        ),
        _ => format!(
            "{}: the whole original ({} bytes, {} tokens)",
            retrieved.reference, retrieved.bytes, retrieved.tokens
        ),
    };
    Ok(answer(
        vec![content_text(&retrieved.content, retrieved.encoding), about],
        &retrieved,
    ))
}

async fn search(
    cairn: &Cairn,
    caller: &Caller,
    args: SearchArgs,
) -> Result<CallToolResult, ToolError> {
    caller.principal.require(Scope::Read)?;
    let limit = args.limit.unwrap_or(DEFAULT_SEARCH_LIMIT);
    let max = cairn_service::MAX_SEARCH_RESULTS;
    if limit == 0 || limit > max {
        return Err(ToolError::invalid(format!(
            "limit must be between 1 and {max}"
        )));
    }
    let query = SearchQuery {
        text: args.query.unwrap_or_default(),
        agent: args.agent,
        project: args.project,
        since: args
            .since
            .as_deref()
            .map(cairn_service::parse_time)
            .transpose()?,
        limit,
        ..SearchQuery::default()
    };
    let results = match cairn.search(&caller.principal.tenant, query).await {
        Ok(results) => results,
        Err(error) => {
            let mut error = ToolError::from(error);
            if error.code == ErrorCode::Unavailable
                && let Some(note) = &caller.search_note
            {
                error.message = note.to_string();
            }
            return Err(error);
        }
    };
    Ok(answer(vec![describe_hits(&results)], &results))
}

/// The hits as text a model reads at a glance: where, who, when, the ref,
/// and the snippet.
fn describe_hits(results: &SearchResults) -> String {
    let mut text = format!(
        "{} match{} ({} shown)",
        results.total,
        if results.total == 1 { "" } else { "es" },
        results.hits.len()
    );
    for hit in &results.hits {
        let place = match (&hit.session, hit.position, &hit.key) {
            (_, _, Some(key)) if hit.keys.len() > 1 => {
                let others: Vec<String> = hit.keys[1..].iter().map(|k| format!("`{k}`")).collect();
                format!(
                    "context `{key}` (the same content as {})",
                    others.join(", ")
                )
            }
            (_, _, Some(key)) => format!("context `{key}`"),
            (Some(session), Some(position), _) => format!("session {session} #{position}"),
            _ => hit.kind.clone(),
        };
        let who: Vec<&str> = [
            hit.agent.as_deref(),
            hit.role.as_deref(),
            hit.tool.as_deref(),
        ]
        .into_iter()
        .flatten()
        .collect();
        text.push_str(&format!(
            "\n\n{place} ({}) {} {}",
            who.join(" "),
            hit.at,
            hit.reference
        ));
        if let Some(project) = &hit.project {
            text.push_str(&format!(" in {project}"));
        }
        text.push_str(&format!("\n{}", hit.snippet));
    }
    text
}

async fn briefing(
    cairn: &Cairn,
    caller: &Caller,
    args: BriefingArgs,
) -> Result<CallToolResult, ToolError> {
    caller.principal.require(Scope::Read)?;
    let query = BriefingQuery {
        project: args.project,
        agent: args.agent,
        max_tokens: args.max_tokens,
        exclude_session: caller.session.clone(),
        repository: args.repository,
    };
    let briefing = cairn.briefing(&caller.principal.tenant, query).await?;
    Ok(answer(vec![briefing.text.clone()], &briefing))
}

async fn compress(
    cairn: &Cairn,
    caller: &Caller,
    args: CompressArgs,
) -> Result<CallToolResult, ToolError> {
    caller.principal.require(Scope::Write)?;
    if args.max_tokens == Some(0) {
        return Err(ToolError::invalid("max_tokens must be at least 1"));
    }
    let input = CompressInput {
        content: Bytes::from(args.content),
        query: args.query.filter(|query| !query.trim().is_empty()),
        max_tokens: args.max_tokens,
        hint: None,
    };
    let output = cairn.compress(&caller.principal.tenant, input).await?;
    let response = cairn_types::CompressResponse {
        content: Some(output.content.clone()),
        messages: None,
        kind: Some(output.kind.as_str().to_owned()),
        reference: Some(output.hash.ccr_ref().to_string()),
        tokens_before: output.tokens_before,
        tokens_after: output.tokens_after,
        markers: output.markers,
    };
    let about = format!(
        "{} → {} tokens ({}; original {})",
        output.tokens_before,
        output.tokens_after,
        output.kind.as_str(),
        output.hash.ccr_ref()
    );
    Ok(answer(vec![output.content, about], &response))
}

async fn stats(cairn: &Cairn, caller: &Caller) -> Result<CallToolResult, ToolError> {
    caller.principal.require(Scope::Read)?;
    let stats = cairn.stats(&caller.principal.tenant).await?;
    let text = serde_json::to_string_pretty(&stats)
        .map_err(|error| ToolError::new(ErrorCode::Internal, error.to_string()))?;
    Ok(answer(vec![text], &stats))
}

/// Base64 content is said to be so, so that a model does not read it as text.
fn content_text(content: &str, encoding: ContentEncoding) -> String {
    match encoding {
        ContentEncoding::Utf8 => content.to_owned(),
        ContentEncoding::Base64 => format!("(binary, base64) {content}"),
    }
}

/// A successful result: the text blocks a model reads, and the same answer
/// as REST's JSON in `structuredContent`.
fn answer(texts: Vec<String>, structured: &impl serde::Serialize) -> CallToolResult {
    let mut result = CallToolResult::success(texts.into_iter().map(ContentBlock::text).collect());
    result.structured_content = serde_json::to_value(structured).ok();
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_tool_has_an_object_schema_and_a_description() {
        let tools = list();
        let names: Vec<&str> = tools.iter().map(|tool| tool.name.as_ref()).collect();
        assert_eq!(names, TOOL_NAMES);
        for tool in &tools {
            assert_eq!(
                tool.input_schema.get("type"),
                Some(&serde_json::Value::from("object")),
                "{}",
                tool.name
            );
            let description = tool.description.as_deref().unwrap_or_default();
            assert!(description.len() > 80, "{} explains itself", tool.name);
            assert!(tool.title.is_some(), "{} has a title", tool.name);
        }
    }

    #[test]
    fn schemas_stay_in_the_subset_every_model_api_accepts() {
        for tool in list() {
            let text = serde_json::to_string(&tool.input_schema).unwrap_or_default();
            for banned in ["$schema", "\"null\"", "uint", "int64", "\"title\""] {
                assert!(!text.contains(banned), "{} has {banned}: {text}", tool.name);
            }
        }
        let get = list()
            .into_iter()
            .find(|tool| tool.name == "cairn_get")
            .expect("cairn_get");
        let properties = get
            .input_schema
            .get("properties")
            .cloned()
            .unwrap_or_default();
        assert_eq!(properties["query"]["type"], "string");
        assert_eq!(properties["max_tokens"]["type"], "integer");
        assert_eq!(properties["max_tokens"]["minimum"], 0);
        assert_eq!(properties["full"]["type"], "boolean");
    }

    #[test]
    fn required_fields_are_required_in_the_schema() {
        let tools = list();
        let required = |name: &str| -> Vec<String> {
            let tool = tools
                .iter()
                .find(|tool| tool.name == name)
                .expect("the tool exists");
            serde_json::from_value(
                tool.input_schema
                    .get("required")
                    .cloned()
                    .unwrap_or_default(),
            )
            .unwrap_or_default()
        };
        assert_eq!(required("cairn_put"), ["key", "content"]);
        assert_eq!(required("cairn_get"), ["key"]);
        assert_eq!(required("cairn_retrieve"), ["ref"]);
        assert_eq!(required("cairn_compress"), ["content"]);
        assert!(required("cairn_search").is_empty());
        assert!(required("cairn_stats").is_empty());
        assert_eq!(required("cairn_briefing"), ["project"]);
    }

    #[test]
    fn bad_arguments_are_invalid_requests_that_name_the_problem() {
        let check = |arguments: serde_json::Value, expect: &str| {
            let object = arguments.as_object().cloned();
            let error = parse::<PutArgs>("cairn_put", object).expect_err("rejected");
            assert_eq!(error.code, ErrorCode::InvalidRequest);
            assert!(error.message.contains(expect), "{}", error.message);
        };
        check(serde_json::json!({"content": "x"}), "missing field `key`");
        check(
            serde_json::json!({"key": 7, "content": "x"}),
            "invalid type",
        );
        check(
            serde_json::json!({"key": "k", "content": "x", "tll": 3}),
            "unknown field",
        );
        let none = parse::<PutArgs>("cairn_put", None).expect_err("rejected");
        assert!(none.message.contains("missing field"), "{}", none.message);
    }
}
