//! Secret-shaped strings (provider API keys, cloud keys, tokens, private
//! keys) and their masks.
//!
//! Compressed views, search snippets and the search index see text through
//! [`mask`]; only the full original (read by its owner) carries the secret.
//! A mask keeps every line break of what it hides, so line numbers in the
//! masked text are the original's, and it contains nothing [`mask`] would
//! match again.

use std::borrow::Cow;
use std::sync::LazyLock;

use regex::Regex;

/// One kind of secret: its label in the mask, and its pattern. When the
/// pattern has a group named `value`, only that group is masked (the
/// `Bearer ` or `aws_secret_access_key=` before it stays readable).
struct Pattern {
    label: &'static str,
    regex: &'static str,
}

/// Earlier patterns win where two match at the same place (`sk-ant-` before `sk-`).
const PATTERNS: &[Pattern] = &[
    Pattern {
        label: "private key",
        // A whole block, or an unterminated one up to the end of its base64
        // (a log cut short); `\\` keeps JSON's escaped line breaks inside it.
        // PGP's is a `PRIVATE KEY BLOCK`, with `Version:`-style headers.
        regex: r"-----BEGIN [A-Z0-9 ]{0,40}PRIVATE KEY(?: BLOCK)?-----(?:[\s\S]*?-----END [A-Z0-9 ]{0,40}PRIVATE KEY(?: BLOCK)?-----|[A-Za-z0-9+/=:\s\\]*)",
    },
    Pattern {
        label: "Anthropic API key",
        regex: r"\bsk-ant-[A-Za-z0-9_\-]{16,}",
    },
    Pattern {
        label: "OpenAI API key",
        regex: r"\bsk-(?:proj-|svcacct-|admin-)?[A-Za-z0-9_\-]{20,}",
    },
    Pattern {
        label: "AWS access key",
        regex: r"\b(?:AKIA|ASIA|ABIA|ACCA)[0-9A-Z]{16}\b",
    },
    Pattern {
        label: "AWS secret key",
        // `aws_secret_access_key = …`, and AWS's own JSON (`"SecretAccessKey": "…"`).
        regex: r#"(?i)(?:aws_?)?secret_?access_?key["']?\s*[:=]\s*["']?(?P<value>[A-Za-z0-9/+=]{40})"#,
    },
    Pattern {
        label: "AWS session token",
        regex: r#"(?i)(?:aws_?)?session_?token["']?\s*[:=]\s*["']?(?P<value>[A-Za-z0-9/+=]{100,})"#,
    },
    Pattern {
        label: "GitHub token",
        regex: r"\b(?:gh[pousr]_[A-Za-z0-9]{20,}|github_pat_[A-Za-z0-9_]{22,})",
    },
    Pattern {
        label: "Hugging Face token",
        regex: r"\bhf_[A-Za-z0-9]{30,}",
    },
    Pattern {
        label: "npm token",
        regex: r"\bnpm_[A-Za-z0-9]{30,}",
    },
    Pattern {
        label: "Slack webhook",
        regex: r"\bhttps://hooks\.slack\.com/(?:services|workflows|triggers)/[A-Za-z0-9/_\-]{20,}",
    },
    Pattern {
        label: "Slack token",
        regex: r"\bxox[abposr]-[A-Za-z0-9\-]{10,}",
    },
    Pattern {
        label: "Google API key",
        regex: r"\bAIza[0-9A-Za-z_\-]{35}",
    },
    Pattern {
        label: "Stripe key",
        regex: r"\b[rs]k_live_[0-9A-Za-z]{16,}",
    },
    Pattern {
        label: "JWT",
        regex: r"\beyJ[A-Za-z0-9_\-]{8,}\.eyJ[A-Za-z0-9_\-]{8,}\.[A-Za-z0-9_\-]{8,}",
    },
    Pattern {
        label: "bearer token",
        regex: r"(?i)\bbearer\s+(?P<value>[A-Za-z0-9._~+/\-]{16,}=*)",
    },
    Pattern {
        label: "basic credentials",
        regex: r"(?i)\bbasic\s+(?P<value>[A-Za-z0-9+/]{12,}=*)",
    },
    Pattern {
        label: "URL password",
        // `scheme://user:password@host`: the password alone.
        regex: r"\b[a-zA-Z][a-zA-Z0-9+.\-]{1,20}://[^\s:/@]{1,64}:(?P<value>[^\s@/]{1,128})@",
    },
    Pattern {
        label: "password",
        // `"password": "two words"`: the whole quoted value.
        regex: r#"(?i)\b[a-z0-9_]*(?:password|passwd)["']?\s*[:=]\s*"(?P<value>[^"\n\[]{1,200})""#,
    },
    Pattern {
        label: "password",
        // `DB_PASSWORD=…`, `Password: …`.
        regex: r#"(?i)\b[a-z0-9_]*(?:password|passwd)["']?\s*[:=]\s*'?(?P<value>[^\s"',;\[]{4,})"#,
    },
];

struct Compiled {
    /// Every pattern as one alternation, for one scan of the text.
    any: Regex,
    /// Each pattern alone, anchored, to tell which one matched.
    each: Vec<(&'static str, Regex)>,
}

static COMPILED: LazyLock<Compiled> = LazyLock::new(|| {
    let alternation = PATTERNS
        .iter()
        .map(|pattern| format!("(?:{})", strip_names(&ascii_boundaries(pattern.regex))))
        .collect::<Vec<_>>()
        .join("|");
    Compiled {
        any: Regex::new(&alternation).expect("the secret patterns are valid regexes"),
        each: PATTERNS
            .iter()
            .map(|pattern| {
                let anchored = format!("^(?:{})", ascii_boundaries(pattern.regex));
                (
                    pattern.label,
                    Regex::new(&anchored).expect("each secret pattern is a valid regex"),
                )
            })
            .collect(),
    }
});

/// A pattern with ASCII word boundaries: every secret starts with an ASCII
/// word character, and a Unicode `\b` stops the regex's fast engines at the
/// first non-ASCII byte, so text in other scripts was scanned by the slow
/// one (a 350 KB JSON table of place names took 60 ms to mask, not 1).
fn ascii_boundaries(regex: &str) -> String {
    regex.replace(r"\b", r"(?-u:\b)")
}

/// A pattern without its group names, so several can share one regex.
fn strip_names(regex: &str) -> String {
    regex.replace("?P<value>", "")
}

/// `text` with every secret-shaped string replaced by `[masked LABEL]`;
/// borrowed when there is none.
pub fn mask(text: &str) -> Cow<'_, str> {
    let compiled = &*COMPILED;
    let mut masked = String::new();
    let mut copied = 0;
    for found in compiled.any.find_iter(text) {
        let Some((label, range)) = classify(compiled, text, found.start(), found.end()) else {
            continue;
        };
        if masked.is_empty() {
            masked.reserve(text.len());
        }
        masked.push_str(&text[copied..range.start]);
        masked.push_str("[masked ");
        masked.push_str(label);
        masked.push(']');
        // Keep the line breaks, so positions by line stay the original's.
        for _ in text[range.clone()].matches('\n') {
            masked.push('\n');
        }
        copied = range.end;
    }
    if copied == 0 {
        return Cow::Borrowed(text);
    }
    masked.push_str(&text[copied..]);
    Cow::Owned(masked)
}

/// Whether `text` holds anything [`mask`] would hide.
pub fn contains_secret(text: &str) -> bool {
    COMPILED.any.is_match(text)
}

/// Which pattern matched `text[start..end]`, and the range to mask.
fn classify(
    compiled: &Compiled,
    text: &str,
    start: usize,
    end: usize,
) -> Option<(&'static str, std::ops::Range<usize>)> {
    let found = &text[start..end];
    for (label, regex) in &compiled.each {
        let Some(captures) = regex.captures(found) else {
            continue;
        };
        let whole = captures.get(0)?;
        if whole.end() != found.len() {
            continue;
        }
        let range = match captures.name("value") {
            Some(value) => start + value.start()..start + value.end(),
            None => start..end,
        };
        return Some((label, range));
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(text: &str, expected: &str) {
        assert_eq!(mask(text), expected, "masking {text:?}");
        assert_eq!(mask(expected), expected, "masks are stable");
    }

    #[test]
    fn secrets_beside_other_scripts_are_masked() {
        check(
            "clé:sk-ant-api03-AbCdEfGhIjKlMnOpQrStUvWxYz012345 — «AKIAIOSFODNN7EXAMPLE»",
            "clé:[masked Anthropic API key] — «[masked AWS access key]»",
        );
        // A word character of another script right before is not a boundary
        // in ASCII terms: masking more there is the safe side.
        check("éAKIAIOSFODNN7EXAMPLE", "é[masked AWS access key]");
        let places = "Île-de-France, Provence-Alpes-Côte d'Azur, Москва, 東京都\n".repeat(2000);
        assert_eq!(mask(&places), places.as_str());
    }

    #[test]
    fn provider_keys_are_masked() {
        check(
            "key=sk-ant-api03-AbCdEfGhIjKlMnOpQrStUvWxYz012345 end",
            "key=[masked Anthropic API key] end",
        );
        check(
            "OPENAI_API_KEY=sk-proj-abcdefghijklmnopqrstuvwxyz0123",
            "OPENAI_API_KEY=[masked OpenAI API key]",
        );
        check(
            "\"token\": \"ghp_abcdefghijklmnopqrstuvwxyz0123456789\"",
            "\"token\": \"[masked GitHub token]\"",
        );
        check("AKIAIOSFODNN7EXAMPLE", "[masked AWS access key]");
        check(
            "aws_secret_access_key = wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
            "aws_secret_access_key = [masked AWS secret key]",
        );
        check(
            "AIzaSyA1234567890abcdefghijklmnopqrstuv",
            "[masked Google API key]",
        );
        check("xoxb-1234567890-abcdefghij", "[masked Slack token]");
    }

    #[test]
    fn bearer_tokens_and_jwts_are_masked_but_the_scheme_stays() {
        check(
            "Authorization: Bearer abcdef0123456789abcdef.xyz",
            "Authorization: Bearer [masked bearer token]",
        );
        check(
            "token eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJhIn0.c2lnbmF0dXJlLWhlcmU",
            "token [masked JWT]",
        );
    }

    #[test]
    fn a_private_key_block_keeps_its_line_count() {
        let text = "before\n-----BEGIN RSA PRIVATE KEY-----\nMIIEabc\nxyz==\n-----END RSA PRIVATE KEY-----\nafter";
        let masked = mask(text);
        assert_eq!(masked, "before\n[masked private key]\n\n\n\nafter");
        assert_eq!(masked.lines().count(), text.lines().count());
        // Cut short, with JSON's escaped line breaks.
        check(
            r#"{"key": "-----BEGIN PRIVATE KEY-----\nMIIEvQIBADAN\nBgkqhkiG9w0"}"#,
            r#"{"key": "[masked private key]"}"#,
        );
    }

    #[test]
    fn cloud_and_service_credentials_are_masked() {
        check(
            r#"{"SecretAccessKey": "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", "AccessKeyId": "x"}"#,
            r#"{"SecretAccessKey": "[masked AWS secret key]", "AccessKeyId": "x"}"#,
        );
        let session = "IQoJb3JpZ2luX2VjEJr".repeat(8);
        check(
            &format!(r#""SessionToken": "{session}""#),
            r#""SessionToken": "[masked AWS session token]""#,
        );
        check(
            "Authorization: Basic dXNlcjpzM2NyZXQtcGFzcw==",
            "Authorization: Basic [masked basic credentials]",
        );
        check(
            "DATABASE_URL=postgres://app:hunter2-prod@db.internal:5432/app",
            "DATABASE_URL=postgres://app:[masked URL password]@db.internal:5432/app",
        );
        check(
            "HF_TOKEN=hf_abcdefghijklmnopqrstuvwxyzABCDEFGH",
            "HF_TOKEN=[masked Hugging Face token]",
        );
        check(
            "//registry.npmjs.org/:_authToken=npm_abcdefghijklmnopqrstuvwxyz0123456789",
            "//registry.npmjs.org/:_authToken=[masked npm token]",
        );
        check("ghp_abcdefghijklmnopqrstuvwx", "[masked GitHub token]");
        check(
            "curl -X POST https://hooks.slack.com/services/T00000000/B00000000/XXXXXXXXXXXXXXXXXXXXXXXX",
            "curl -X POST [masked Slack webhook]",
        );
        check("DB_PASSWORD=s3cr3t!", "DB_PASSWORD=[masked password]");
        check(
            r#"{"password": "correct horse"}"#,
            r#"{"password": "[masked password]"}"#,
        );
        let pgp = "-----BEGIN PGP PRIVATE KEY BLOCK-----\nVersion: x\n\nlQOYBF\n=ab\n-----END PGP PRIVATE KEY BLOCK-----";
        assert_eq!(mask(pgp), "[masked private key]\n\n\n\n\n");
    }

    #[test]
    fn ordinary_text_is_left_alone() {
        for text in [
            "the task-runner sk-8 is fine",
            "Bearer token goes here",
            "ask-anything about eyJ",
            "AKIA is a prefix",
        ] {
            assert!(matches!(mask(text), Cow::Borrowed(_)), "{text}");
            assert!(!contains_secret(text), "{text}");
        }
    }
}
