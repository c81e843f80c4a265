//! The marker grammar: every cut in a view is a line
//! `[cairn: SUMMARY — ccr:HEX24]`, one grammar everywhere.

use crate::CcrRef;

/// Formats the marker for a cut that left out what `summary` says, pointing at
/// the original named by `reference`.
pub fn format_marker(summary: &str, reference: &CcrRef) -> String {
    format!("[cairn: {summary} — {reference}]")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ContentHash;

    #[test]
    fn marker_reads_as_documented() {
        let reference = ContentHash::of(b"").ccr_ref();
        assert_eq!(
            format_marker("480 of 500 rows omitted", &reference),
            "[cairn: 480 of 500 rows omitted — ccr:af1349b9f5f9a1a6a0404dea]"
        );
    }
}
