//! Every example runs, as a user would run it, and says what it should.

use std::process::Command;

#[test]
fn two_agents_share_a_500_row_tool_output() {
    let output = Command::new(env!("CARGO_BIN_EXE_two_agents"))
        .env("CAIRN_LOG", "warn")
        .output()
        .expect("the example runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(stdout.contains("agent A put"), "{stdout}");
    assert!(stdout.contains("(written by researcher)"), "{stdout}");
    assert!(stdout.contains("identical to what A put"), "{stdout}");
}
