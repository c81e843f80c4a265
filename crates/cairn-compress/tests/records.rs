//! Query views keep the whole record a match falls in, for each record shape
//! tool outputs have (issue 26): a `dpkg -s` stanza, a changelog entry, a log entry with its
//! stack trace, a `git log` commit, a `kubectl describe` block. Each case is
//! a long listing of many records, a question about one of them, the lines
//! of that record the view must keep under a tight token budget, and lines
//! of its neighbours it must cut.

use cairn_compress::{Options, compress};
use cairn_core::{ContentHash, RenderedView};

struct Case {
    name: &'static str,
    text: String,
    query: &'static str,
    /// Lines of the matching record: every one is in the view.
    keep: Vec<String>,
    /// Lines of neighbouring records: none is in the view.
    cut: Vec<String>,
}

fn packages() -> Case {
    let mut text = String::new();
    for n in 0..150 {
        text.push_str(&format!(
            "Package: libpkg{n}\nStatus: install ok installed\nPriority: optional\n\
             Section: libs\nInstalled-Size: {}\nMaintainer: Team {n} <team{n}@example.org>\n\
             Architecture: amd64\nMulti-Arch: same\nVersion: {n}.{}.3-1\n\
             Depends: libc6 (>= 2.34)\nDescription: library number {n}\n \
             It does the work of library {n}.\nHomepage: https://example.org/{n}\n\n",
            1000 + n * 7,
            n % 13
        ));
    }
    Case {
        name: "dpkg stanza",
        text,
        query: "which version of libpkg77 is installed",
        keep: vec![
            "Package: libpkg77".into(),
            "Version: 77.12.3-1".into(),
            "Maintainer: Team 77 <team77@example.org>".into(),
            "Homepage: https://example.org/77".into(),
        ],
        cut: vec!["Version: 76.11.3-1".into(), "Version: 78.0.3-1".into()],
    }
}

fn log_entries() -> Case {
    let mut text = String::new();
    for n in 0..300 {
        let second = n % 60;
        let minute = n / 60;
        if n == 171 {
            text.push_str(&format!(
                "2026-12-04 10:{minute:02}:{second:02}.000 ERROR worker-3 payment 9f31 failed\n\
                 java.lang.IllegalStateException: ledger closed\n\
                 \tat shop.Ledger.post(Ledger.java:88)\n\
                 \tat shop.Payments.capture(Payments.java:141)\n\
                 \tat shop.Worker.run(Worker.java:52)\n"
            ));
        } else {
            text.push_str(&format!(
                "2026-12-04 10:{minute:02}:{second:02}.000 INFO worker-{} order {n} processed in {} ms\n",
                n % 4,
                20 + n % 17
            ));
        }
    }
    Case {
        name: "log entry with its trace",
        text,
        query: "why did payment 9f31 fail",
        keep: vec![
            "java.lang.IllegalStateException: ledger closed".into(),
            "\tat shop.Payments.capture(Payments.java:141)".into(),
            "\tat shop.Worker.run(Worker.java:52)".into(),
        ],
        cut: vec!["order 172 processed".into(), "order 170 processed".into()],
    }
}

fn commits() -> Case {
    let mut text = String::new();
    for n in 0..120 {
        let message = if n == 64 {
            "Fix the retry loop in the uploader".to_owned()
        } else {
            format!("Update dependency number {n}")
        };
        text.push_str(&format!(
            "commit {:040x}\nAuthor: Dev {n} <dev{n}@example.org>\n\
             Date:   Mon Dec {} 10:{:02}:00 2026 +0000\n\n    {message}\n\n",
            0xabc0_0000_u64 + n,
            1 + n % 28,
            n % 60
        ));
    }
    Case {
        name: "git log commit",
        text,
        query: "who fixed the retry loop",
        keep: vec![
            "Author: Dev 64 <dev64@example.org>".into(),
            "Date:   Mon Dec 9 10:04:00 2026 +0000".into(),
            format!("commit {:040x}", 0xabc0_0000_u64 + 64),
        ],
        cut: vec![
            "Author: Dev 63 <dev63@example.org>".into(),
            "Author: Dev 65 <dev65@example.org>".into(),
        ],
    }
}

fn describe() -> Case {
    let mut text = String::from(
        "Name:         web-1\nNamespace:    default\nNode:         node-3/10.0.0.3\n\
         Status:       Running\nContainers:\n",
    );
    for n in 0..60 {
        text.push_str(&format!(
            "  app-{n}:\n    Container ID:  containerd://{:064x}\n    Image:         \
             registry.example.org/app-{n}:v{}.{}\n    Port:          {}/TCP\n    \
             State:         Running\n    Ready:         True\n    Restart Count: {}\n",
            n * 7919,
            1 + n % 5,
            n % 10,
            8000 + n,
            n % 3
        ));
    }
    text.push_str("Conditions:\n  Type   Status\n  Ready  True\n");
    Case {
        name: "kubectl describe block",
        text,
        query: "which image does app-41 run",
        keep: vec![
            "  app-41:".into(),
            "    Port:          8041/TCP".into(),
            "    Image:         registry.example.org/app-41:v2.1".into(),
        ],
        cut: vec![
            "    Port:          8040/TCP".into(),
            "    Port:          8042/TCP".into(),
        ],
    }
}

/// `curl -v` over many URLs: no blank lines, timestamps or indentation
/// between the exchanges; the request line starts each.
fn exchanges() -> Case {
    let mut text = String::new();
    for n in 0..60 {
        text.push_str(&format!(
            "*   Trying 127.0.0.1:8080...\n* Connected to 127.0.0.1 (127.0.0.1) port 8080\n\
             > HEAD /docs/package{n}/changelog.gz HTTP/1.1\n> Host: 127.0.0.1:8080\n\
             > User-Agent: curl/7.88.1\n> Accept: */*\n>\n\
             * HTTP 1.0, assume close after body\n< HTTP/1.0 200 OK\n\
             < Server: SimpleHTTP/0.6 Python/3.11.2\n\
             < Date: Sat, 05 Dec 2026 08:{:02}:00 GMT\n\
             < Content-type: application/gzip\n< Content-Length: {}\n\
             < Last-Modified: Mon, 0{} Nov 2026 10:00:00 GMT\n<\n\
             * Closing connection 0\n",
            n % 60,
            30_000 + n * 97,
            1 + n % 9
        ));
    }
    Case {
        name: "curl -v exchange",
        text,
        query: "what Content-Length did the server report for /docs/package41/changelog.gz",
        keep: vec![
            "> HEAD /docs/package41/changelog.gz HTTP/1.1".into(),
            "< Content-Length: 33977".into(),
            "< Last-Modified: Mon, 06 Nov 2026 10:00:00 GMT".into(),
        ],
        cut: vec![
            "< Content-Length: 33880".into(),
            "< Content-Length: 34074".into(),
        ],
    }
}

fn changelog() -> Case {
    let mut text = String::new();
    for n in (0..120).rev() {
        text.push_str(&format!(
            "tool (7.{n}.0-1) unstable; urgency=medium\n\n\
             \x20 * New upstream version 7.{n}.0\n\
             \x20   - Fix the following CVEs:\n\
             \x20     ~ Allocation of Resources Without Limits (CVE-2022-{},\n\
             \x20       CVE-2022-{})\n\n\
             \x20-- Uploader {n} <up{n}@example.org>  Mon, 27 Jun 2022 22:06:25 +0100\n\n",
            30_000 + 2 * n,
            30_001 + 2 * n
        ));
    }
    Case {
        name: "changelog entry",
        text,
        query: "Which version of tool fixed CVE-2022-30121, and who uploaded it?",
        keep: vec![
            "tool (7.60.0-1) unstable".into(),
            "CVE-2022-30121)".into(),
            " -- Uploader 60 <up60@example.org>".into(),
        ],
        cut: vec![" -- Uploader 59 <".into(), " -- Uploader 61 <".into()],
    }
}

#[test]
fn a_query_keeps_the_record_it_matches_and_cuts_its_neighbours() {
    for case in [
        packages(),
        changelog(),
        log_entries(),
        commits(),
        describe(),
        exchanges(),
    ] {
        let hash = ContentHash::of(case.text.as_bytes());
        // A tight budget: only what the query keeps survives it.
        let options = Options {
            query: Some(case.query),
            max_tokens: Some(400),
            ..Options::default()
        };
        let compressed = compress(case.text.as_bytes(), &hash, &options);
        let RenderedView::Rendered { content, .. } = compressed.view else {
            panic!("{}: the view is the original", case.name);
        };
        let lines: Vec<&str> = content.lines().collect();
        for wanted in &case.keep {
            assert!(
                lines.iter().any(|line| line.contains(wanted.as_str())),
                "{}: the view lost {wanted:?} of the matching record:\n{}",
                case.name,
                content
            );
        }
        for unwanted in &case.cut {
            assert!(
                !lines.iter().any(|line| line.contains(unwanted.as_str())),
                "{}: the view kept {unwanted:?} of a neighbour:\n{}",
                case.name,
                content
            );
        }
        assert!(
            content.len() * 10 < case.text.len(),
            "{}: the view ({:?}) keeps most of the original ({} of {} bytes)",
            case.name,
            compressed.kind,
            content.len(),
            case.text.len()
        );
    }
}

#[test]
fn a_git_log_view_keeps_who_changed_what_when_and_folds_the_bodies() {
    let mut text = String::new();
    for n in 0..80 {
        text.push_str(&format!(
            "commit {:040x}\nAuthor: Dev {n} <dev{n}@example.org>\n\
             Date:   Mon Dec {} 10:{:02}:00 2026 +0000\n\n    Change number {n} of the uploader\n\n",
            0xdef0_0000_u64 + n,
            1 + n % 28,
            n % 60
        ));
        for line in 0..8 {
            text.push_str(&format!(
                "    Body line {line} of change {n}: why it was made and what it touches.\n"
            ));
        }
        text.push('\n');
    }
    let hash = ContentHash::of(text.as_bytes());
    let compressed = compress(text.as_bytes(), &hash, &Options::default());
    assert_eq!(compressed.kind, cairn_compress::Kind::Log);
    let RenderedView::Rendered { content, .. } = compressed.view else {
        panic!("the git log is not compressed");
    };
    for n in 0..80 {
        for wanted in [
            format!("Change number {n} of the uploader"),
            format!("Author: Dev {n} <dev{n}@example.org>"),
        ] {
            assert!(
                content.contains(&wanted),
                "{wanted} is in the view:\n{content}"
            );
        }
    }
    assert!(
        !content.contains("Body line 3 of change 40"),
        "bodies are folded:\n{content}"
    );
    assert!(
        content.len() * 2 < text.len(),
        "{} of {}",
        content.len(),
        text.len()
    );
}
