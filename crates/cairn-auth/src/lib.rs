//! `cairn-auth`: who is calling. A bearer token (a JWT) becomes a
//! [`Principal`]: the tenant whose data the request may touch, the agent it
//! speaks for, and the [`Scope`]s it holds.
//!
//! Every surface (REST, GraphQL, MCP over HTTP, the proxy) asks the one
//! [`Authenticator`] the server built, so a token means the same thing
//! everywhere. With auth off (the loopback default) every caller is
//! [`Principal::local`].
//!
//! API boundary: no HTTP here. Surfaces pass a header's raw value in
//! ([`Authenticator::principal_from_header`]) and map [`AuthError::code`]
//! to their own error shape. Depends on `cairn-types`
//! only among our crates.

mod scope;

use std::fmt;
use std::time::{SystemTime, UNIX_EPOCH};

use cairn_types::{ErrorCode, TenantId};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};

pub use scope::{Scope, Scopes};

/// The audience every Cairn token names.
pub const AUDIENCE: &str = "cairn";

/// The shortest HS256 secret accepted, in bytes.
pub const MIN_SECRET_BYTES: usize = 32;

/// Longest tenant or agent name a token may carry.
const MAX_NAME_BYTES: usize = 128;

/// Who a request speaks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    /// Whose data the request may read and write.
    pub tenant: TenantId,
    /// The token's `sub`; `None` when auth is off.
    pub agent: Option<String>,
    pub scopes: Scopes,
    /// When the token stops being valid (Unix seconds); `None` when auth is
    /// off. A connection that outlives its request (a GraphQL WebSocket)
    /// ends then.
    pub expires_at: Option<u64>,
}

impl Principal {
    /// The caller of a server with auth off: the `local` tenant, every scope.
    pub fn local() -> Principal {
        Principal {
            tenant: TenantId::local(),
            agent: None,
            scopes: Scopes::all(),
            expires_at: None,
        }
    }

    pub fn allows(&self, scope: Scope) -> bool {
        self.scopes.contains(scope)
    }

    /// `Ok` when the principal holds `scope`, else [`AuthError::MissingScope`].
    pub fn require(&self, scope: Scope) -> Result<(), AuthError> {
        if self.allows(scope) {
            Ok(())
        } else {
            Err(AuthError::MissingScope(scope))
        }
    }

    /// The agent to record on a write: the token's subject when there is a
    /// token (a client cannot speak for another agent), else what the
    /// request named.
    pub fn agent_or(&self, requested: Option<String>) -> Option<String> {
        self.agent.clone().or(requested)
    }
}

/// Why a request is not let in.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuthError {
    #[error(
        "this server requires a bearer token (Authorization: Bearer <token>); \
         `cairn token issue` makes one"
    )]
    MissingToken,
    #[error("invalid token: {0}")]
    InvalidToken(String),
    #[error("the token lacks the `{0}` scope")]
    MissingScope(Scope),
}

impl AuthError {
    /// 401 for a missing or bad token, 403 for a missing scope.
    pub fn code(&self) -> ErrorCode {
        match self {
            AuthError::MissingToken | AuthError::InvalidToken(_) => ErrorCode::Unauthorized,
            AuthError::MissingScope(_) => ErrorCode::Forbidden,
        }
    }
}

/// A key that cannot be used, found while the server starts.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("the JWT secret is {0} bytes; it must be at least {MIN_SECRET_BYTES}")]
    SecretTooShort(usize),
    #[error("{what} is not an RSA or Ed25519 key in PEM form")]
    NotAKey { what: String },
    #[error("{what} is a {bits}-bit RSA key; at least {MIN_RSA_BITS} bits are required")]
    WeakRsa { what: String, bits: usize },
    #[error("cannot sign a token: {0}")]
    Sign(String),
}

/// Checks bearer tokens, or lets everyone in as [`Principal::local`].
#[derive(Clone)]
pub struct Authenticator {
    /// Empty when auth is off.
    keys: Vec<VerifyingKey>,
}

#[derive(Clone)]
struct VerifyingKey {
    algorithm: Algorithm,
    key: DecodingKey,
}

impl fmt::Debug for Authenticator {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The keys themselves stay out of logs.
        let algorithms: Vec<Algorithm> = self.keys.iter().map(|key| key.algorithm).collect();
        f.debug_struct("Authenticator")
            .field("algorithms", &algorithms)
            .finish()
    }
}

impl Authenticator {
    /// Auth off: every caller is [`Principal::local`].
    pub fn off() -> Authenticator {
        Authenticator { keys: Vec::new() }
    }

    pub fn is_enabled(&self) -> bool {
        !self.keys.is_empty()
    }

    /// Accepts HS256 tokens signed with `secret`.
    pub fn with_secret(mut self, secret: &[u8]) -> Result<Authenticator, KeyError> {
        if secret.len() < MIN_SECRET_BYTES {
            return Err(KeyError::SecretTooShort(secret.len()));
        }
        self.keys.push(VerifyingKey {
            algorithm: Algorithm::HS256,
            key: DecodingKey::from_secret(secret),
        });
        Ok(self)
    }

    /// Accepts tokens signed by the private half of a public key in PEM
    /// form: RS256 for an RSA key, EdDSA for an Ed25519 key. `what` names the
    /// key in errors (a file name).
    pub fn with_public_key(mut self, pem: &[u8], what: &str) -> Result<Authenticator, KeyError> {
        let key = if let Ok(key) = DecodingKey::from_rsa_pem(pem) {
            let bits = rsa_bits(pem).unwrap_or(0);
            if bits < MIN_RSA_BITS {
                return Err(KeyError::WeakRsa {
                    what: what.to_owned(),
                    bits,
                });
            }
            VerifyingKey {
                algorithm: Algorithm::RS256,
                key,
            }
        } else if let Ok(key) = DecodingKey::from_ed_pem(pem) {
            VerifyingKey {
                algorithm: Algorithm::EdDSA,
                key,
            }
        } else {
            return Err(KeyError::NotAKey {
                what: what.to_owned(),
            });
        };
        self.keys.push(key);
        Ok(self)
    }

    /// The principal a request speaks for. `bearer` is the token without
    /// the `Bearer ` prefix, `None` when the request carried none.
    pub fn authenticate(&self, bearer: Option<&str>) -> Result<Principal, AuthError> {
        if !self.is_enabled() {
            return Ok(Principal::local());
        }
        let token = bearer
            .map(str::trim)
            .filter(|token| !token.is_empty())
            .ok_or(AuthError::MissingToken)?;
        self.verify(token)
    }

    fn verify(&self, token: &str) -> Result<Principal, AuthError> {
        let invalid = |reason: &str| AuthError::InvalidToken(reason.to_owned());
        // `alg: none` and unknown algorithms fail here: jsonwebtoken has no
        // such algorithm to parse them into.
        let header = jsonwebtoken::decode_header(token)
            .map_err(|_| invalid("not a signed JWT this server accepts"))?;
        // RFC 7515 §4.1.11: a `crit` extension the verifier does not
        // understand makes the token invalid; this one understands none.
        if names_critical_extensions(token) {
            return Err(invalid(
                "its header names `crit` extensions, which are not supported",
            ));
        }
        let mut candidates = self
            .keys
            .iter()
            .filter(|key| key.algorithm == header.alg)
            .peekable();
        if candidates.peek().is_none() {
            return Err(AuthError::InvalidToken(format!(
                "the algorithm {:?} is not accepted here",
                header.alg
            )));
        }
        let mut last = invalid("bad signature");
        for candidate in candidates {
            let mut validation = Validation::new(candidate.algorithm);
            validation.set_audience(&[AUDIENCE]);
            validation.set_required_spec_claims(&["exp", "aud", "sub"]);
            validation.leeway = 30;
            validation.validate_nbf = true;
            match jsonwebtoken::decode::<TokenClaims>(token, &candidate.key, &validation) {
                Ok(data) => return data.claims.into_principal(),
                Err(error) => {
                    use jsonwebtoken::errors::ErrorKind;
                    last = match error.kind() {
                        ErrorKind::ExpiredSignature => invalid("expired"),
                        ErrorKind::InvalidAudience => invalid("the audience is not `cairn`"),
                        ErrorKind::InvalidSignature => invalid("bad signature"),
                        ErrorKind::MissingRequiredClaim(claim) => {
                            AuthError::InvalidToken(format!("the `{claim}` claim is missing"))
                        }
                        ErrorKind::ImmatureSignature => invalid("not valid yet"),
                        ErrorKind::Json(_) => invalid(
                            "its claims are not {sub, tenant, scopes, exp, aud} of the right types",
                        ),
                        _ => invalid("malformed"),
                    };
                    // Another key of the same algorithm may have signed it,
                    // unless the signature was fine and a claim was not.
                    if !matches!(error.kind(), ErrorKind::InvalidSignature) {
                        return Err(last);
                    }
                }
            }
        }
        Err(last)
    }
}

/// The smallest RSA key accepted, in bits.
pub const MIN_RSA_BITS: usize = 2048;

/// The modulus size of an RSA public key in PEM (SPKI or PKCS#1).
fn rsa_bits(pem: &[u8]) -> Option<usize> {
    use rsa::pkcs1::DecodeRsaPublicKey as _;
    use rsa::pkcs8::DecodePublicKey as _;
    use rsa::traits::PublicKeyParts as _;
    let text = std::str::from_utf8(pem).ok()?;
    let key = rsa::RsaPublicKey::from_public_key_pem(text)
        .or_else(|_| rsa::RsaPublicKey::from_pkcs1_pem(text))
        .ok()?;
    Some(key.size() * 8)
}

/// Whether a JWT's header carries a `crit` member.
fn names_critical_extensions(token: &str) -> bool {
    use base64::Engine as _;
    let Some(header) = token.split('.').next() else {
        return false;
    };
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(header.trim_end_matches('='))
        .ok()
        .and_then(|bytes| serde_json::from_slice::<serde_json::Value>(&bytes).ok())
        .is_some_and(|header| header.get("crit").is_some())
}

/// The claims as tokens carry them.
#[derive(Debug, Deserialize)]
struct TokenClaims {
    sub: String,
    tenant: String,
    #[serde(default)]
    exp: Option<u64>,
    #[serde(default)]
    scopes: ScopeClaim,
}

/// `scopes` as a list, or as one string separated by spaces or commas.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum ScopeClaim {
    List(Vec<String>),
    Text(String),
}

impl Default for ScopeClaim {
    fn default() -> ScopeClaim {
        ScopeClaim::List(Vec::new())
    }
}

impl TokenClaims {
    fn into_principal(self) -> Result<Principal, AuthError> {
        check_name("sub", &self.sub)?;
        check_name("tenant", &self.tenant)?;
        let names: Vec<String> = match self.scopes {
            ScopeClaim::List(names) => names,
            ScopeClaim::Text(text) => text
                .split([' ', ','])
                .filter(|name| !name.is_empty())
                .map(str::to_owned)
                .collect(),
        };
        // Names this version does not know grant nothing.
        let scopes = names
            .iter()
            .filter_map(|name| name.parse::<Scope>().ok())
            .collect();
        Ok(Principal {
            tenant: TenantId::new(self.tenant),
            agent: Some(self.sub),
            scopes,
            expires_at: self.exp,
        })
    }
}

fn check_name(claim: &str, value: &str) -> Result<(), AuthError> {
    if value.is_empty() || value.len() > MAX_NAME_BYTES || value.chars().any(char::is_control) {
        return Err(AuthError::InvalidToken(format!(
            "the `{claim}` claim must be 1-{MAX_NAME_BYTES} bytes without control characters"
        )));
    }
    Ok(())
}

/// What a new token says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenRequest {
    pub sub: String,
    pub tenant: String,
    pub scopes: Scopes,
    /// Seconds from now until the token expires.
    pub ttl_seconds: u64,
}

#[derive(Debug, Serialize)]
struct IssuedClaims<'a> {
    sub: &'a str,
    tenant: &'a str,
    scopes: Vec<&'static str>,
    aud: &'static str,
    iat: u64,
    exp: u64,
}

/// The key `cairn token issue` signs with.
#[derive(Clone)]
pub struct SigningKey {
    algorithm: Algorithm,
    key: EncodingKey,
}

impl fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SigningKey")
            .field("algorithm", &self.algorithm)
            .finish_non_exhaustive()
    }
}

impl SigningKey {
    /// HS256 with a shared secret.
    pub fn secret(secret: &[u8]) -> Result<SigningKey, KeyError> {
        if secret.len() < MIN_SECRET_BYTES {
            return Err(KeyError::SecretTooShort(secret.len()));
        }
        Ok(SigningKey {
            algorithm: Algorithm::HS256,
            key: EncodingKey::from_secret(secret),
        })
    }

    /// RS256 or EdDSA with a private key in PEM form.
    pub fn private_key(pem: &[u8], what: &str) -> Result<SigningKey, KeyError> {
        if let Ok(key) = EncodingKey::from_rsa_pem(pem) {
            return Ok(SigningKey {
                algorithm: Algorithm::RS256,
                key,
            });
        }
        if let Ok(key) = EncodingKey::from_ed_pem(pem) {
            return Ok(SigningKey {
                algorithm: Algorithm::EdDSA,
                key,
            });
        }
        Err(KeyError::NotAKey {
            what: what.to_owned(),
        })
    }

    /// A signed token for `request`.
    pub fn issue(&self, request: &TokenRequest) -> Result<String, KeyError> {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|elapsed| elapsed.as_secs())
            .unwrap_or(0);
        let claims = IssuedClaims {
            sub: &request.sub,
            tenant: &request.tenant,
            scopes: request.scopes.names(),
            aud: AUDIENCE,
            iat: now,
            exp: now.saturating_add(request.ttl_seconds),
        };
        jsonwebtoken::encode(&Header::new(self.algorithm), &claims, &self.key)
            .map_err(|error| KeyError::Sign(error.to_string()))
    }
}

/// The header a surface reads a token from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Carrier {
    /// `Authorization: Bearer <token>` (REST, GraphQL, MCP, `/metrics`).
    Authorization,
    /// A header of Cairn's own, where `Authorization` belongs to someone
    /// else (the proxy's `x-cairn-token`: there it is the provider's key).
    /// The `Bearer ` before the token is optional.
    Own(&'static str),
}

impl Carrier {
    fn name(self) -> &'static str {
        match self {
            Carrier::Authorization => "Authorization",
            Carrier::Own(name) => name,
        }
    }
}

impl Authenticator {
    /// Who a request speaks for, from the raw value of the header that
    /// `carrier` names (`None`: the request has no such header). The one
    /// place every surface turns a header into a [`Principal`].
    ///
    /// With auth off every request is [`Principal::local`]. With auth on,
    /// `Ok(None)` means no token came: each surface decides whether that is
    /// a 401 (a route that needs no scope, such as a probe, lets it in).
    pub fn principal_from_header(
        &self,
        value: Option<&[u8]>,
        carrier: Carrier,
    ) -> Result<Option<Principal>, AuthError> {
        if !self.is_enabled() {
            return Ok(Some(Principal::local()));
        }
        let Some(value) = value else {
            return Ok(None);
        };
        let name = carrier.name();
        let text = std::str::from_utf8(value)
            .ok()
            .filter(|text| text.is_ascii())
            .ok_or_else(|| AuthError::InvalidToken(format!("the {name} header is not ASCII")))?;
        let token = match (bearer_token(text), carrier) {
            (Some(token), _) => token,
            (None, Carrier::Own(_)) => text.trim(),
            (None, Carrier::Authorization) => {
                return Err(AuthError::InvalidToken(
                    "the Authorization header must be `Bearer <token>`".into(),
                ));
            }
        };
        self.authenticate(Some(token)).map(Some)
    }
}

/// The token in an `Authorization` header's value: `Bearer <token>`, the
/// scheme in any case. `None` for another scheme.
pub fn bearer_token(header_value: &str) -> Option<&str> {
    let (scheme, token) = header_value.trim().split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then_some(token.trim())
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &[u8] = b"a secret of at least thirty-two bytes!";

    fn token() -> String {
        SigningKey::secret(SECRET)
            .and_then(|key| {
                key.issue(&TokenRequest {
                    sub: "claude-code".into(),
                    tenant: "acme".into(),
                    scopes: Scopes::all(),
                    ttl_seconds: 60,
                })
            })
            .expect("a token")
    }

    fn on() -> Authenticator {
        Authenticator::off().with_secret(SECRET).expect("a secret")
    }

    fn agent(result: Result<Option<Principal>, AuthError>) -> Option<String> {
        result
            .expect("accepted")
            .and_then(|principal| principal.agent)
    }

    #[test]
    fn every_carrier_reads_a_bearer_token_and_its_own_header_a_bare_one() {
        let bearer = format!("Bearer {}", token());
        let bare = token();
        for carrier in [Carrier::Authorization, Carrier::Own("x-cairn-token")] {
            let read = on().principal_from_header(Some(bearer.as_bytes()), carrier);
            assert_eq!(agent(read).as_deref(), Some("claude-code"));
        }
        let own = on().principal_from_header(Some(bare.as_bytes()), Carrier::Own("x-cairn-token"));
        assert_eq!(agent(own).as_deref(), Some("claude-code"));
        let error = on()
            .principal_from_header(Some(bare.as_bytes()), Carrier::Authorization)
            .expect_err("a bare token in Authorization");
        assert!(error.to_string().contains("Bearer <token>"), "{error}");
    }

    #[test]
    fn no_header_is_no_principal_when_auth_is_on_and_local_when_off() {
        assert_eq!(
            on().principal_from_header(None, Carrier::Authorization)
                .expect("no error"),
            None
        );
        let off = Authenticator::off()
            .principal_from_header(Some(b"Basic whatever"), Carrier::Authorization)
            .expect("auth off lets everyone in");
        assert_eq!(off, Some(Principal::local()));
    }

    #[test]
    fn a_header_that_is_not_ascii_or_a_bad_token_is_refused_with_its_name() {
        let error = on()
            .principal_from_header(Some("Bearer tök".as_bytes()), Carrier::Own("x-cairn-token"))
            .expect_err("not ASCII");
        assert!(error.to_string().contains("x-cairn-token"), "{error}");
        let error = on()
            .principal_from_header(Some(b"Bearer not.a.jwt"), Carrier::Authorization)
            .expect_err("not a token");
        assert_eq!(error.code(), ErrorCode::Unauthorized);
    }
}
