//! `cairn token issue`: signs a bearer token for an agent.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context as _, bail};
use cairn_auth::{Scopes, SigningKey, TokenRequest};
use clap::{Args, Subcommand};

/// The environment variable that holds the HS256 secret itself.
pub const SECRET_ENV: &str = "CAIRN_JWT_SECRET";

#[derive(Debug, Subcommand)]
pub enum TokenCommand {
    /// Print a signed token: HS256 with the server's secret (CAIRN_JWT_SECRET
    /// or --jwt-secret-file), or RS256/EdDSA with --private-key.
    Issue(IssueArgs),
}

#[derive(Debug, Args)]
pub struct IssueArgs {
    /// The agent the token speaks for (the `sub` claim); recorded on its puts.
    #[arg(long, value_name = "AGENT")]
    pub sub: String,
    /// The tenant whose data the token reaches.
    #[arg(long, value_name = "TENANT")]
    pub tenant: String,
    /// Comma-separated scopes: read, write, admin (everything), proxy.
    #[arg(long, value_name = "SCOPES", default_value = "read,write")]
    pub scopes: String,
    /// Lifetime, such as 1h, 30d or 1y.
    #[arg(long, value_name = "DURATION", default_value = "30d")]
    pub ttl: humantime::Duration,
    /// File holding the HS256 secret (else CAIRN_JWT_SECRET).
    #[arg(
        long,
        env = "CAIRN_JWT_SECRET_FILE",
        value_name = "FILE",
        conflicts_with = "private_key"
    )]
    pub jwt_secret_file: Option<PathBuf>,
    /// PEM private key (RSA or Ed25519) to sign with instead of the secret.
    #[arg(long, value_name = "FILE")]
    pub private_key: Option<PathBuf>,
}

pub fn run(command: TokenCommand) -> anyhow::Result<()> {
    match command {
        TokenCommand::Issue(args) => {
            println!("{}", issue(&args)?);
            Ok(())
        }
    }
}

/// The token `args` ask for.
pub fn issue(args: &IssueArgs) -> anyhow::Result<String> {
    let scopes = Scopes::parse_list(&args.scopes)?;
    let ttl: Duration = args.ttl.into();
    if ttl.is_zero() {
        bail!("--ttl must be longer than zero");
    }
    let key = signing_key(args)?;
    let request = TokenRequest {
        sub: args.sub.clone(),
        tenant: args.tenant.clone(),
        scopes,
        ttl_seconds: ttl.as_secs(),
    };
    for (flag, value) in [("--sub", &request.sub), ("--tenant", &request.tenant)] {
        if value.is_empty() || value.len() > 128 || value.chars().any(char::is_control) {
            bail!("{flag} must be 1-128 bytes without control characters");
        }
    }
    Ok(key.issue(&request)?)
}

fn signing_key(args: &IssueArgs) -> anyhow::Result<SigningKey> {
    if let Some(path) = &args.private_key {
        let pem = std::fs::read(path)
            .with_context(|| format!("cannot read the private key {}", path.display()))?;
        return Ok(SigningKey::private_key(&pem, &path.display().to_string())?);
    }
    if let Some(path) = &args.jwt_secret_file {
        let secret = crate::config::read_secret_file(path)?;
        return SigningKey::secret(&secret)
            .with_context(|| format!("the JWT secret in {} cannot be used", path.display()));
    }
    match std::env::var(SECRET_ENV) {
        Ok(secret) if !secret.trim().is_empty() => SigningKey::secret(secret.trim().as_bytes())
            .with_context(|| format!("{SECRET_ENV} cannot be used")),
        _ => bail!(
            "no signing key: set {SECRET_ENV} (the server's HS256 secret), or pass \
             --jwt-secret-file FILE or --private-key FILE"
        ),
    }
}
