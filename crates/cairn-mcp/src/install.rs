//! `cairn mcp install`: Cairn's registration in the configuration file of
//! Claude Code (`mcpServers` in `.mcp.json` or `~/.claude.json`), Codex
//! (`[mcp_servers.cairn]` in `config.toml`) and Gemini CLI (`mcpServers` in
//! `settings.json`), in the shape each agent documents.
//!
//! Everything else in the file is kept: JSON keeps its keys in their order
//! (a small order-keeping value type, [`Json`]); TOML keeps its comments and
//! layout (`toml_edit`). A file that is already right is not written; one
//! that changes is first copied to `FILE.bak`, then replaced atomically with
//! the same permissions. A file that does not parse is never touched.
//!
//! The caller says where the agents' homes are ([`Homes`]): this crate reads
//! no environment.

use std::fmt;
use std::path::{Path, PathBuf};

use serde::de::{self, Deserializer, MapAccess, SeqAccess, Visitor};
use serde::ser::{SerializeMap, SerializeSeq, Serializer};
use serde::{Deserialize, Serialize};

/// The name Cairn is registered under in every agent.
pub const SERVER_NAME: &str = "cairn";

/// The variable `cairn mcp` reads its token from.
const TOKEN_VARIABLE: &str = "CAIRN_TOKEN";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Agent {
    Claude,
    Codex,
    Gemini,
}

impl Agent {
    pub fn title(self) -> &'static str {
        match self {
            Agent::Claude => "Claude Code",
            Agent::Codex => "Codex",
            Agent::Gemini => "Gemini CLI",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    /// Every project of the user.
    User,
    /// One project (its root directory).
    Project,
}

/// Where the agents keep their user configuration.
#[derive(Debug, Clone)]
pub struct Homes {
    /// `$HOME`.
    pub home: PathBuf,
    /// `$CLAUDE_CONFIG_DIR`: holds `.claude.json` instead of the home.
    pub claude_config_dir: Option<PathBuf>,
    /// `$CODEX_HOME`, instead of `~/.codex`.
    pub codex_home: Option<PathBuf>,
    /// `$GEMINI_CLI_HOME`, instead of the home (it holds `.gemini/`).
    pub gemini_cli_home: Option<PathBuf>,
}

/// A configuration file to register Cairn in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    pub agent: Agent,
    pub scope: Scope,
    pub path: PathBuf,
}

impl Target {
    /// The file `agent` reads for `scope`; `project` is the project's root.
    pub fn locate(agent: Agent, scope: Scope, homes: &Homes, project: &Path) -> Target {
        let path = match (agent, scope) {
            (Agent::Claude, Scope::User) => homes
                .claude_config_dir
                .as_deref()
                .unwrap_or(&homes.home)
                .join(".claude.json"),
            (Agent::Claude, Scope::Project) => project.join(".mcp.json"),
            (Agent::Codex, Scope::User) => homes
                .codex_home
                .clone()
                .unwrap_or_else(|| homes.home.join(".codex"))
                .join("config.toml"),
            (Agent::Codex, Scope::Project) => project.join(".codex").join("config.toml"),
            (Agent::Gemini, Scope::User) => homes
                .gemini_cli_home
                .as_deref()
                .unwrap_or(&homes.home)
                .join(".gemini")
                .join("settings.json"),
            (Agent::Gemini, Scope::Project) => project.join(".gemini").join("settings.json"),
        };
        Target { agent, scope, path }
    }
}

/// How the agent reaches Cairn.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Transport {
    /// The server's streamable HTTP endpoint (`http://127.0.0.1:8787/mcp`).
    Http { endpoint: String },
    /// The agent starts `PROGRAM mcp --url URL`, a stdio bridge to the server.
    Stdio { program: String, url: String },
}

/// What to register.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub transport: Transport,
    /// The environment variable holding the agent's token, if the server
    /// needs one. The agent expands it; the token is never written.
    pub token_env: Option<String>,
}

/// Why a registration was not written.
#[derive(Debug, thiserror::Error)]
pub enum InstallError {
    #[error(
        "{path} does not parse as {format} ({reason}); it was left untouched: fix it or move \
         it away, then run this again"
    )]
    Unparsable {
        path: PathBuf,
        format: &'static str,
        reason: String,
    },
    #[error("in {path}, `{key}` is not a table of servers; it was left untouched")]
    NotATable { path: PathBuf, key: &'static str },
    #[error("{0}")]
    Unsupported(String),
    #[error("cannot {what} {path}")]
    Io {
        what: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

/// What [`install`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// The file already held this registration; nothing was written.
    Unchanged { agent: Agent, path: PathBuf },
    /// The file was written; the one before it, if any, is at `backup`.
    Written {
        agent: Agent,
        path: PathBuf,
        backup: Option<PathBuf>,
    },
}

impl fmt::Display for Outcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Outcome::Unchanged { agent, path } => write!(
                f,
                "{} already has this registration of `{SERVER_NAME}` in {}; nothing changed",
                agent.title(),
                path.display()
            ),
            Outcome::Written {
                agent,
                path,
                backup,
            } => {
                write!(
                    f,
                    "registered `{SERVER_NAME}` with {} in {}",
                    agent.title(),
                    path.display()
                )?;
                match backup {
                    Some(backup) => write!(f, " (the previous file is in {})", backup.display()),
                    None => Ok(()),
                }
            }
        }
    }
}

/// The file as it would be after registering `entry` (for `--print`).
pub fn render(target: &Target, entry: &Entry) -> Result<String, InstallError> {
    let existing = read(&target.path)?;
    Ok(
        updated(target, entry, existing.as_deref())?
            .unwrap_or_else(|| existing.unwrap_or_default()),
    )
}

/// Registers `entry` in the target file: nothing is written when it is
/// already there; otherwise the old file goes to `FILE.bak` first.
pub fn install(target: &Target, entry: &Entry) -> Result<Outcome, InstallError> {
    let existing = read(&target.path)?;
    let Some(text) = updated(target, entry, existing.as_deref())? else {
        return Ok(Outcome::Unchanged {
            agent: target.agent,
            path: target.path.clone(),
        });
    };
    let backup = replace(&target.path, existing.is_some(), &text)?;
    Ok(Outcome::Written {
        agent: target.agent,
        path: target.path.clone(),
        backup,
    })
}

/// Writes `text` to `path`, first copying the file there (when `existed`)
/// to `FILE.bak`; the copy's path.
pub(crate) fn replace(
    path: &Path,
    existed: bool,
    text: &str,
) -> Result<Option<PathBuf>, InstallError> {
    let io = |what: &'static str, path: &Path| {
        let path = path.to_owned();
        move |source| InstallError::Io { what, path, source }
    };
    let backup = if existed {
        let backup = backup_path(path);
        std::fs::copy(path, &backup).map_err(io("back up to", &backup))?;
        Some(backup)
    } else {
        None
    };
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).map_err(io("create the folder", parent))?;
    }
    write_atomically(path, text).map_err(io("write", path))?;
    Ok(backup)
}

/// `FILE.bak` beside `FILE`.
pub fn backup_path(path: &Path) -> PathBuf {
    let mut name = path.file_name().unwrap_or_default().to_os_string();
    name.push(".bak");
    path.with_file_name(name)
}

pub(crate) fn read(path: &Path) -> Result<Option<String>, InstallError> {
    match std::fs::read_to_string(path) {
        Ok(text) => Ok(Some(text)),
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(source) => Err(InstallError::Io {
            what: "read",
            path: path.to_owned(),
            source,
        }),
    }
}

/// Writes a temporary file beside `path` (with `path`'s permissions, when it
/// exists) and renames it over `path`, so a reader never sees half a file.
fn write_atomically(path: &Path, text: &str) -> std::io::Result<()> {
    let mut name = path.file_name().unwrap_or_default().to_os_string();
    name.push(format!(".cairn-{}.tmp", std::process::id()));
    let temporary = path.with_file_name(name);
    std::fs::write(&temporary, text)?;
    if let Ok(metadata) = std::fs::metadata(path) {
        std::fs::set_permissions(&temporary, metadata.permissions())?;
    }
    std::fs::rename(&temporary, path).inspect_err(|_| {
        let _ = std::fs::remove_file(&temporary);
    })
}

/// The new text of the file, or `None` when it already holds `entry`.
fn updated(
    target: &Target,
    entry: &Entry,
    existing: Option<&str>,
) -> Result<Option<String>, InstallError> {
    match target.agent {
        Agent::Claude | Agent::Gemini => {
            updated_json(&target.path, json_entry(target.agent, entry), existing)
        }
        Agent::Codex => updated_toml(&target.path, toml_entry(entry)?, existing),
    }
}

/// The `mcpServers.cairn` object of Claude Code and Gemini CLI.
fn json_entry(agent: Agent, entry: &Entry) -> Json {
    // Claude Code expands `${VAR}`; Gemini CLI expands `$VAR` and `${VAR}`.
    let variable = |name: &str| format!("${{{name}}}");
    let mut fields: Vec<(String, Json)> = Vec::new();
    let mut field = |key: &str, value: Json| fields.push((key.to_owned(), value));
    match (&entry.transport, agent) {
        (Transport::Http { endpoint }, Agent::Claude) => {
            field("type", Json::from("http"));
            field("url", Json::from(endpoint.as_str()));
        }
        (Transport::Http { endpoint }, _) => {
            field("url", Json::from(endpoint.as_str()));
            field("type", Json::from("http"));
        }
        (Transport::Stdio { program, url }, _) => {
            if agent == Agent::Claude {
                field("type", Json::from("stdio"));
            }
            field("command", Json::from(program.as_str()));
            field("args", Json::strings(["mcp", "--url", url.as_str()]));
        }
    }
    if let Some(name) = &entry.token_env {
        match &entry.transport {
            Transport::Http { .. } => field(
                "headers",
                Json::Object(vec![(
                    "Authorization".to_owned(),
                    Json::from(format!("Bearer {}", variable(name)).as_str()),
                )]),
            ),
            // Gemini CLI scrubs `*TOKEN*` variables from a server's
            // environment unless `env` names them.
            Transport::Stdio { .. } => field(
                "env",
                Json::Object(vec![(
                    TOKEN_VARIABLE.to_owned(),
                    Json::from(variable(name).as_str()),
                )]),
            ),
        }
    }
    Json::Object(fields)
}

/// The `[mcp_servers.cairn]` table of Codex.
fn toml_entry(entry: &Entry) -> Result<toml_edit::Table, InstallError> {
    let mut table = toml_edit::Table::new();
    match &entry.transport {
        Transport::Http { endpoint } => {
            table.insert("url", toml_edit::value(endpoint.as_str()));
            if let Some(name) = &entry.token_env {
                table.insert("bearer_token_env_var", toml_edit::value(name.as_str()));
            }
        }
        Transport::Stdio { program, url } => {
            table.insert("command", toml_edit::value(program.as_str()));
            let args: toml_edit::Array = ["mcp", "--url", url.as_str()].into_iter().collect();
            table.insert("args", toml_edit::value(args));
            if let Some(name) = &entry.token_env {
                if name != TOKEN_VARIABLE {
                    return Err(InstallError::Unsupported(format!(
                        "Codex forwards variables to a stdio server by name, and `cairn mcp` \
                         reads {TOKEN_VARIABLE}: use --token-env {TOKEN_VARIABLE} (or the HTTP \
                         registration, which takes any variable)"
                    )));
                }
                let names: toml_edit::Array = [name.as_str()].into_iter().collect();
                table.insert("env_vars", toml_edit::value(names));
            }
        }
    }
    Ok(table)
}

/// A JSON file's text as a document; none or blank is an empty object.
pub(crate) fn parse_json(path: &Path, existing: Option<&str>) -> Result<Json, InstallError> {
    match existing {
        None => Ok(Json::Object(Vec::new())),
        Some(text) if text.trim().is_empty() => Ok(Json::Object(Vec::new())),
        Some(text) => {
            serde_json::from_str::<Json>(text).map_err(|error| InstallError::Unparsable {
                path: path.to_owned(),
                format: "JSON",
                reason: error.to_string(),
            })
        }
    }
}

/// A TOML file's text as an editable document; none is an empty one.
pub(crate) fn parse_toml(
    path: &Path,
    existing: Option<&str>,
) -> Result<toml_edit::DocumentMut, InstallError> {
    existing
        .unwrap_or_default()
        .parse::<toml_edit::DocumentMut>()
        .map_err(|error| InstallError::Unparsable {
            path: path.to_owned(),
            format: "TOML",
            reason: error.to_string().trim().to_owned(),
        })
}

fn updated_json(
    path: &Path,
    entry: Json,
    existing: Option<&str>,
) -> Result<Option<String>, InstallError> {
    let mut document = parse_json(path, existing)?;
    let not_a_table = || InstallError::NotATable {
        path: path.to_owned(),
        key: "mcpServers",
    };
    let Json::Object(fields) = &mut document else {
        return Err(InstallError::Unparsable {
            path: path.to_owned(),
            format: "a JSON object",
            reason: "the file holds another JSON value".into(),
        });
    };
    let servers = match fields.iter().position(|(key, _)| key == "mcpServers") {
        Some(index) => &mut fields[index].1,
        None => {
            fields.push(("mcpServers".to_owned(), Json::Object(Vec::new())));
            &mut fields.last_mut().ok_or_else(not_a_table)?.1
        }
    };
    let Json::Object(servers) = servers else {
        return Err(not_a_table());
    };
    match servers.iter_mut().find(|(key, _)| key == SERVER_NAME) {
        Some((_, current)) if current.same_as(&entry) => return Ok(None),
        Some((_, current)) => *current = entry,
        None => servers.push((SERVER_NAME.to_owned(), entry)),
    }
    let mut text = serde_json::to_string_pretty(&document).map_err(|error| {
        InstallError::Unsupported(format!("cannot render {}: {error}", path.display()))
    })?;
    text.push('\n');
    Ok(Some(text))
}

fn updated_toml(
    path: &Path,
    entry: toml_edit::Table,
    existing: Option<&str>,
) -> Result<Option<String>, InstallError> {
    let mut document = parse_toml(path, existing)?;
    let not_a_table = || InstallError::NotATable {
        path: path.to_owned(),
        key: "mcp_servers",
    };
    let servers = document
        .entry("mcp_servers")
        .or_insert_with(|| {
            let mut table = toml_edit::Table::new();
            // `[mcp_servers.cairn]` alone, without an empty `[mcp_servers]`.
            table.set_implicit(true);
            toml_edit::Item::Table(table)
        })
        .as_table_like_mut()
        .ok_or_else(not_a_table)?;
    if let Some(current) = servers.get(SERVER_NAME)
        && plain_toml(current) == plain_toml(&toml_edit::Item::Table(entry.clone()))
    {
        return Ok(None);
    }
    servers.insert(SERVER_NAME, toml_edit::Item::Table(entry));
    Ok(Some(document.to_string()))
}

/// A TOML item as JSON, to compare registrations whatever their layout
/// (a table or an inline table, comments, spacing).
fn plain_toml(item: &toml_edit::Item) -> serde_json::Value {
    use serde_json::Value;
    fn value(item: &toml_edit::Value) -> Value {
        match item {
            toml_edit::Value::String(text) => Value::from(text.value().as_str()),
            toml_edit::Value::Integer(number) => Value::from(*number.value()),
            toml_edit::Value::Float(number) => Value::from(*number.value()),
            toml_edit::Value::Boolean(flag) => Value::from(*flag.value()),
            toml_edit::Value::Datetime(time) => Value::from(time.value().to_string()),
            toml_edit::Value::Array(items) => items.iter().map(value).collect(),
            toml_edit::Value::InlineTable(table) => table
                .iter()
                .map(|(key, item)| (key.to_owned(), value(item)))
                .collect(),
        }
    }
    match item {
        toml_edit::Item::None => Value::Null,
        toml_edit::Item::Value(single) => value(single),
        toml_edit::Item::Table(table) => table
            .iter()
            .map(|(key, item)| (key.to_owned(), plain_toml(item)))
            .collect(),
        toml_edit::Item::ArrayOfTables(tables) => tables
            .iter()
            .map(|table| plain_toml(&toml_edit::Item::Table(table.clone())))
            .collect(),
    }
}

/// A JSON value whose objects keep their keys in the file's order (and
/// their duplicates), so a rewritten file differs from the old one only by
/// the registration (and indentation).
#[derive(Debug, Clone, PartialEq)]
pub enum Json {
    Null,
    Bool(bool),
    Number(serde_json::Number),
    String(String),
    Array(Vec<Json>),
    Object(Vec<(String, Json)>),
}

impl From<&str> for Json {
    fn from(text: &str) -> Json {
        Json::String(text.to_owned())
    }
}

impl Json {
    fn strings<'a>(items: impl IntoIterator<Item = &'a str>) -> Json {
        Json::Array(items.into_iter().map(Json::from).collect())
    }

    /// The plain JSON value (key order no longer matters).
    pub fn to_value(&self) -> serde_json::Value {
        use serde_json::Value;
        match self {
            Json::Null => Value::Null,
            Json::Bool(flag) => Value::Bool(*flag),
            Json::Number(number) => Value::Number(number.clone()),
            Json::String(text) => Value::String(text.clone()),
            Json::Array(items) => items.iter().map(Json::to_value).collect(),
            Json::Object(fields) => fields
                .iter()
                .map(|(key, value)| (key.clone(), value.to_value()))
                .collect(),
        }
    }

    /// Equal as JSON, whatever the order of the keys.
    pub(crate) fn same_as(&self, other: &Json) -> bool {
        self.to_value() == other.to_value()
    }
}

impl Serialize for Json {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            Json::Null => serializer.serialize_unit(),
            Json::Bool(flag) => serializer.serialize_bool(*flag),
            Json::Number(number) => number.serialize(serializer),
            Json::String(text) => serializer.serialize_str(text),
            Json::Array(items) => {
                let mut sequence = serializer.serialize_seq(Some(items.len()))?;
                for item in items {
                    sequence.serialize_element(item)?;
                }
                sequence.end()
            }
            Json::Object(fields) => {
                let mut map = serializer.serialize_map(Some(fields.len()))?;
                for (key, value) in fields {
                    map.serialize_entry(key, value)?;
                }
                map.end()
            }
        }
    }
}

impl<'de> Deserialize<'de> for Json {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Json, D::Error> {
        deserializer.deserialize_any(JsonVisitor)
    }
}

struct JsonVisitor;

impl<'de> Visitor<'de> for JsonVisitor {
    type Value = Json;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_unit<E: de::Error>(self) -> Result<Json, E> {
        Ok(Json::Null)
    }

    fn visit_bool<E: de::Error>(self, flag: bool) -> Result<Json, E> {
        Ok(Json::Bool(flag))
    }

    fn visit_i64<E: de::Error>(self, number: i64) -> Result<Json, E> {
        Ok(Json::Number(number.into()))
    }

    fn visit_u64<E: de::Error>(self, number: u64) -> Result<Json, E> {
        Ok(Json::Number(number.into()))
    }

    fn visit_f64<E: de::Error>(self, number: f64) -> Result<Json, E> {
        serde_json::Number::from_f64(number)
            .map(Json::Number)
            .ok_or_else(|| E::custom("a number JSON cannot hold"))
    }

    fn visit_str<E: de::Error>(self, text: &str) -> Result<Json, E> {
        Ok(Json::String(text.to_owned()))
    }

    fn visit_string<E: de::Error>(self, text: String) -> Result<Json, E> {
        Ok(Json::String(text))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut sequence: A) -> Result<Json, A::Error> {
        let mut items = Vec::new();
        while let Some(item) = sequence.next_element()? {
            items.push(item);
        }
        Ok(Json::Array(items))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Json, A::Error> {
        let mut fields = Vec::new();
        while let Some((key, value)) = map.next_entry::<String, Json>()? {
            fields.push((key, value));
        }
        Ok(Json::Object(fields))
    }
}
