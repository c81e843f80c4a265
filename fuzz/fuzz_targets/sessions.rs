//! The session parsers on any bytes: Claude Code, Codex and Gemini CLI files
//! (plain or zstd-compressed), the agent forced or detected. No panic, no
//! runaway memory (a zstd bomb stops at the decompression limit), and every
//! message parsed belongs to a session the parse reports.
#![no_main]

use cairn_sessions::{Agent, SourceHints, parse};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((choice, file)) = data.split_first() else {
        return;
    };
    let agent = match choice % 4 {
        0 => None,
        1 => Some(Agent::Claude),
        2 => Some(Agent::Codex),
        _ => Some(Agent::Gemini),
    };
    let _ = cairn_sessions::detect(file);
    if let Ok(parsed) = parse(file, agent, &SourceHints::default()) {
        for message in &parsed.messages {
            assert!(
                parsed
                    .sessions
                    .iter()
                    .any(|session| session.id == message.session),
                "a message of an unreported session"
            );
        }
    }
});
