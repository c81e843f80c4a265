#!/usr/bin/env python3
"""Builds a corpus of real tool outputs for the peer benchmark.

Usage: bench/peer/build_corpus.py OUT_DIR

Every case is written to OUT_DIR/<id>.json as
``{"id", "kind", "source", "question", "needles", "payload"}``. The payload is
an output that this machine already holds or that a real tool prints on it
(Debian data tables and logs, grep and diff runs, CPython and crate sources,
unittest runs, Debian changelogs, and tool results recorded in coding-agent
sessions); the project wrote none of it. The question is one an agent could ask
of that output, and the needles are short exact substrings of the payload that
an answer needs. Cases whose needles are not in the payload, or whose payload is
outside 2 KB to 300 KB, are dropped with a note on stderr. A missing source is
skipped the same way, so the corpus shrinks on machines that lack one.

The result is deterministic: files are listed in sorted order, slices are fixed,
and each needle is picked by a fixed rule (the qualifying item nearest the
middle of the payload, so needles do not all sit in the first lines). The one
exception is unittest's "Ran N tests in X.XXXs" line, whose timing varies.
"""

from __future__ import annotations

import ast
import functools
import gzip
import json
import os
import re
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any, TypeVar

T = TypeVar("T")
Case = dict[str, Any]
Cases = Iterator[Case]

MIN_PAYLOAD = 2_000
MAX_PAYLOAD = 300_000
KINDS = ("json", "log", "search", "code", "test_output", "prose", "diff")

PY311 = Path("/root/.pyenv/versions/3.11.7")
STDLIB = PY311 / "lib/python3.11"
STDLIB_PYTHON = PY311 / "bin/python3"
STDLIB_310 = Path("/root/.pyenv/versions/3.10.13/lib/python3.10")
ISO_JSON = Path("/usr/share/iso-codes/json")
DPKG_LOG = Path("/var/log/dpkg.log")
APT_TERM_LOG = Path("/var/log/apt/term.log")
RABBITMQ_LOGS = Path("/var/log/rabbitmq")
CARGO_SRC = Path.home() / ".cargo/registry/src"
DOC = Path("/usr/share/doc")
SESSIONS = Path(__file__).resolve().parents[2] / "fixtures/sessions"


class Skip(Exception):
    """Raised when a source is missing or holds nothing a case can be built from."""


def case(
    case_id: str, kind: str, source: str, question: str, needles: list[str], payload: str
) -> Case:
    """Returns one case in the corpus format."""
    return {
        "id": case_id,
        "kind": kind,
        "source": source,
        "question": question,
        "needles": needles,
        "payload": payload,
    }


def middle_out(items: Sequence[T]) -> list[T]:
    """Returns the items ordered by their distance from the middle, nearest first."""
    middle = len(items) // 2
    order = sorted(range(len(items)), key=lambda index: (abs(index - middle), index))
    return [items[index] for index in order]


def pick(items: Sequence[T], ok: Callable[[T], bool], what: str) -> T:
    """Returns the item nearest the middle for which ok() holds."""
    for item in middle_out(items):
        if ok(item):
            return item
    raise Skip(f"no {what} found")


def read_text(path: Path) -> str:
    """Reads a file as UTF-8, raising Skip when it is absent or unreadable."""
    try:
        if path.suffix == ".gz":
            with gzip.open(path, "rt", encoding="utf-8", errors="replace") as handle:
                return handle.read()
        return path.read_text(encoding="utf-8", errors="replace")
    except OSError as exc:
        raise Skip(f"cannot read {path}: {exc.strerror or exc}") from exc


def run(args: list[str], *, ok_codes: Iterable[int] = (0,), stderr: bool = False) -> str:
    """Runs a command and returns its stdout (or stderr), raising Skip on failure."""
    try:
        done = subprocess.run(
            args,
            capture_output=True,
            cwd=tempfile.gettempdir(),
            timeout=600,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise Skip(f"cannot run {args[0]}: {exc}") from exc
    if done.returncode not in tuple(ok_codes):
        raise Skip(f"{' '.join(args[:4])} ... exited with {done.returncode}")
    return (done.stderr if stderr else done.stdout).decode("utf-8", errors="replace")


# --- json: Debian's ISO code tables --------------------------------------------

# (file, entries kept or None for the whole file, fields that answer, question)
ISO_TABLES = [
    (
        "iso_3166-1.json",
        None,
        ("alpha_3", "numeric"),
        "What are the alpha-3 and numeric codes of {name}?",
    ),
    ("iso_639-3.json", 1500, ("alpha_3",), "What is the ISO 639-3 code of the {name} language?"),
    ("iso_3166-2.json", 2000, ("code",), "What is the ISO 3166-2 code of {name} ({type})?"),
    (
        "iso_4217.json",
        None,
        ("alpha_3", "numeric"),
        "What are the code and the numeric code of the currency {name}?",
    ),
]


def iso_case(name: str, keep: int | None, fields: tuple[str, ...], question: str) -> Cases:
    """Yields one ISO table with a question about the codes of one named entry."""
    path = ISO_JSON / name
    text = read_text(path)
    # Each table is an object with a single key holding the list of entries.
    ((table, entries),) = json.loads(text).items()
    source = str(path)
    if keep is not None and len(entries) > keep:
        # A slice keeps the file's own layout, which json.dumps reproduces.
        entries = entries[:keep]
        text = json.dumps({table: entries}, indent=2, ensure_ascii=False) + "\n"
        source = f"{path}, first {keep} entries"

    def unambiguous(entry: dict[str, str]) -> bool:
        values = [entry[f] for f in fields]
        return text.count(f'"{entry["name"]}"') == 1 and all(text.count(v) == 1 for v in values)

    entry = pick(entries, unambiguous, "entry with unique codes")
    yield case(
        f"json-{path.stem.replace('_', '')}",
        "json",
        source,
        question.format(**entry),
        [entry[f] for f in fields],
        text,
    )


# --- log: dpkg, apt and RabbitMQ logs ------------------------------------------

DPKG_UPGRADE = re.compile(r"^\S+ \S+ upgrade (\S+) (\S+) (\S+)$")
DPKG_INSTALLED = re.compile(r"^\S+ \S+ status installed (\S+) (\S+)$")


def dpkg_upgrade_case() -> Cases:
    """Yields a slice of dpkg.log with a question about one package upgrade."""
    text = "".join(read_text(DPKG_LOG).splitlines(keepends=True)[1500:3500])
    upgrades = [m.groups() for m in map(DPKG_UPGRADE.match, text.splitlines()) if m]
    package, old, new = pick(
        upgrades, lambda u: text.count(f"upgrade {u[0]} ") == 1, "package upgraded once"
    )
    yield case(
        "log-dpkg-upgrade",
        "log",
        f"{DPKG_LOG}, lines 1501-3500",
        f"Which version was {package} upgraded from, and to which version?",
        [f"{package} {old} {new}"],
        text,
    )


def dpkg_install_case() -> Cases:
    """Yields a later slice of dpkg.log with a question about one installed version."""
    text = "".join(read_text(DPKG_LOG).splitlines(keepends=True)[3500:5500])
    installs = [m.groups() for m in map(DPKG_INSTALLED.match, text.splitlines()) if m]
    package, version = pick(
        installs,
        lambda i: text.count(f"status installed {i[0]} ") == 1,
        "package installed once",
    )
    yield case(
        "log-dpkg-installed",
        "log",
        f"{DPKG_LOG}, lines 3501-5500",
        f"Which version of {package.split(':')[0]} was installed?",
        [f"{package} {version}"],
        text,
    )


APT_PROBLEM = re.compile(r"(?i)\b(warning|failed|error|unable)\b")
APT_SETUP = re.compile(r"^Setting up (\S+) \(([^)]+)\)")


def apt_term_case() -> Cases:
    """Yields apt's terminal log with a question about a problem during setup."""
    text = read_text(APT_TERM_LOG)
    lines = text.splitlines()
    routine = ("Selecting", "Preparing", "Unpacking", "Setting up")
    problems = [
        index
        for index, line in enumerate(lines)
        if APT_PROBLEM.search(line) and not line.startswith(routine)
    ]

    def setup_before(index: int) -> re.Match[str] | None:
        """Returns the last "Setting up" line before a line, if there is one."""
        for line in reversed(lines[:index]):
            if match := APT_SETUP.match(line):
                return match
        return None

    candidates = [(index, setup_before(index)) for index in problems]
    index, setup = pick(
        [(index, setup) for index, setup in candidates if setup is not None],
        lambda candidate: text.count(lines[candidate[0]]) == 1,
        "single problem during a package setup",
    )
    yield case(
        "log-apt-term",
        "log",
        str(APT_TERM_LOG),
        f"Did setting up {setup[1]} print any errors or warnings? Quote the message.",
        [setup[0], lines[index].strip()[:80]],
        text,
    )


RABBITMQ_PROBLEM = re.compile(r"\[(warning|error)\] <[\d.]+> (.+)$")


def rabbitmq_case() -> Cases:
    """Yields the RabbitMQ server log with a question about its warnings."""
    for path in sorted(RABBITMQ_LOGS.glob("rabbit@*.log")):
        text = read_text(path)
        problems = [m for m in map(RABBITMQ_PROBLEM.search, text.splitlines()) if m]
        if problems:
            problem = pick(problems, lambda m: True, "RabbitMQ warning")
            yield case(
                "log-rabbitmq",
                "log",
                str(path),
                "Did RabbitMQ log any warnings or errors while starting? What did they say?",
                [problem[2][:80]],
                text,
            )
            return
    raise Skip(f"no RabbitMQ log with warnings under {RABBITMQ_LOGS}")


# --- search: grep over CPython's standard library ------------------------------

GREP_LINE = re.compile(r"^(.+?):(\d+):(.*)$")
GREP_MAX_LINES = 3000


def grep_stdlib(pattern: str) -> tuple[str, str, list[tuple[str, int, str]]]:
    """Greps the standard library; returns the command, its output and the hits.

    The output is sorted by path and line number, as `grep ... | sort` or
    `rg --sort path` would print it, so it does not depend on directory order,
    and cut to GREP_MAX_LINES lines. Installed third-party packages are left
    out, so it depends only on CPython. Hits carry paths relative to STDLIB.
    """
    if not STDLIB.is_dir():
        raise Skip(f"{STDLIB} is missing")
    args = ["grep", "-rnE", pattern, f"{STDLIB}/", "--include=*.py", "--exclude-dir=site-packages"]
    output = run(args)
    hits = []
    for line in output.splitlines():
        if match := GREP_LINE.match(line):
            hits.append((match[1], int(match[2]), match[3]))
    hits.sort(key=lambda hit: (hit[0], hit[1]))
    hits = hits[:GREP_MAX_LINES]
    text = "".join(f"{path}:{number}:{code}\n" for path, number, code in hits)
    command = " ".join(args[:2] + [f"'{pattern}'"] + args[3:])
    command += f" | sort -t: -k1,1 -k2,2n | head -{GREP_MAX_LINES}"
    return command, text, [(os.path.relpath(path, STDLIB), n, code) for path, n, code in hits]


# The cases below give a location as two needles, the path and "line:text", so
# that an output which states each path once above its hits still has both.


def grep_exception_classes() -> Cases:
    """Yields a grep for exception classes with a question about one of them."""
    command, text, hits = grep_stdlib(r"^class \w+(Error|Exception)\b")
    rel, number, code = pick(
        hits, lambda h: text.count(code_name(h[2]) + "(") == 1, "unique exception class"
    )
    yield case(
        "search-grep-exception-classes",
        "search",
        command,
        f"Which module defines the exception class {code_name(code)}, and on which line?",
        [rel, f"{number}:{code.strip()}"],
        text,
    )


def grep_functions() -> Cases:
    """Yields a grep for top-level functions with a question about one of them."""
    command, text, hits = grep_stdlib(r"^def \w+")
    rel, number, code = pick(
        hits, lambda h: text.count(f":def {code_name(h[2])}(") == 1, "unique top-level function"
    )
    yield case(
        "search-grep-functions",
        "search",
        command,
        f"Where is the function {code_name(code)}() defined?",
        [rel, f"{number}:{code.strip()}"],
        text,
    )


def grep_todo_notes() -> Cases:
    """Yields a grep for TODO and XXX notes with a question about one file's note."""
    command, text, hits = grep_stdlib(r"# ?(TODO|XXX)\b")
    per_file = {rel: sum(1 for h in hits if h[0] == rel) for rel, _, _ in hits}
    rel, _, code = pick(
        hits,
        lambda h: per_file[h[0]] == 1 and len(h[2].strip()) >= 30 and text.count(h[2]) == 1,
        "file with a single long TODO note",
    )
    yield case(
        "search-grep-todo",
        "search",
        command,
        f"What does the TODO/XXX note in {rel} say?",
        [code.strip()[:80]],
        text,
    )


def code_name(code: str) -> str:
    """Returns the name a `class X` or `def x` source line defines."""
    match = re.match(r"\s*(?:class|def) (\w+)", code)
    return match[1] if match else ""


# --- code: CPython modules and Rust crate sources ------------------------------

PY_MODULES = ["textwrap.py", "json/decoder.py", "argparse.py"]
RUST_FILES = [
    ("anyhow", "src/error.rs"),
    ("bytes", "src/bytes.rs"),
    ("serde_json", "src/value/mod.rs"),
]
RUST_FN = re.compile(r"^\s*pub (?:const |unsafe |async )*fn (\w+)")


def python_code_case(rel: str) -> Cases:
    """Yields a whole stdlib module with a question about one function's signature."""
    path = STDLIB / rel
    text = read_text(path)
    lines = text.splitlines()
    functions = [
        node
        for node in ast.walk(ast.parse(text))
        if isinstance(node, ast.FunctionDef) and not node.name.startswith("__")
    ]
    functions.sort(key=lambda node: node.lineno)
    node = pick(
        functions,
        lambda n: text.count(f"def {n.name}(") == 1 and lines[n.lineno - 1].rstrip().endswith(":"),
        "function with a one-line signature",
    )
    yield case(
        f"code-py-{rel.replace('/', '-').removesuffix('.py')}",
        "code",
        str(path),
        f"What parameters does {node.name}() in {rel} take, and what are their defaults?",
        [lines[node.lineno - 1].strip().removesuffix(":")],
        text,
    )


def rust_code_case(crate: str, rel: str) -> Cases:
    """Yields a Rust crate source with a question about one public function.

    When several versions of the crate are unpacked, the last in sorted order
    is used.
    """
    paths = sorted(CARGO_SRC.glob(f"*/{crate}-[0-9]*/{rel}"))
    if not paths:
        raise Skip(f"no {crate} crate under {CARGO_SRC}")
    path = paths[-1]
    text = read_text(path)
    functions = [m for m in map(RUST_FN.match, text.splitlines()) if m]
    match = pick(
        functions,
        lambda m: len(re.findall(rf"\bfn {m[1]}\b", text)) == 1,
        "public function defined once",
    )
    signature = match.string.strip().removesuffix("{").strip()
    crate_dir = path.parents[len(Path(rel).parts) - 1].name
    yield case(
        f"code-rs-{crate}-{Path(rel).stem}",
        "code",
        str(path),
        f"What is the signature of `{match[1]}` in {crate_dir}/{rel}?",
        [signature],
        text,
    )


# C sources vendored in crates, a C++ standard library header, and npm's own
# JavaScript: (case id, file glob, function definition pattern).
C_FAMILY_FILES = [
    ("code-c-blake3", CARGO_SRC / "*/blake3-[0-9]*/c/blake3.c", r"^\w[\w ]*?\*? ?(\w+)\(.*\{$"),
    (
        "code-c-zstd-huf",
        CARGO_SRC / "*/zstd-sys-[0-9]*/zstd/lib/decompress/huf_decompress.c",
        r"^\w[\w ]*?\*? ?(\w+)\(.*\)$",
    ),
    ("code-cpp-stl-vector", Path("/usr/include/c++/*/bits/stl_vector.h"), r"^      (_M_\w+)\(.*\)( const)?$"),
    ("code-js-npm-view", Path("/usr/lib/node_modules/npm/lib/commands/view.js"), r"^(?:async )?function (\w+) ?\(.*\{$"),
    ("code-js-npm", Path("/usr/lib/node_modules/npm/lib/npm.js"), r"^  (?:async )?(#?\w+) ?\(.*\{$"),
]


def c_family_case(case_id: str, pattern: Path, definition: str) -> Cases:
    """Yields a C, C++ or JavaScript source with a question about one function's signature.

    The function is one defined once whose signature fits on its line; when
    the glob matches several files (crate versions), the last is used.
    """
    paths = sorted(Path(pattern.anchor).glob(str(pattern.relative_to(pattern.anchor))))
    if not paths:
        raise Skip(f"nothing matches {pattern}")
    path = paths[-1]
    text = read_text(path)
    regex = re.compile(definition)
    found = [m for m in map(regex.match, text.splitlines()) if m and m[1] not in ("if", "for", "while", "switch", "return")]
    match = pick(
        found,
        lambda m: len(re.findall(rf"\b{re.escape(m[1])} ?\(", text)) >= 1
        and text.count(m.string.strip()) == 1
        and m.string.count("(") == m.string.count(")"),
        "function with a one-line signature defined once",
    )
    yield case(
        case_id,
        "code",
        str(path),
        f"What is the signature of {match[1]}() in {path.name}?",
        [match.string.strip().removesuffix("{").strip()],
        text,
    )


# --- test_output: unittest runs of CPython's own tests -------------------------

TEST_MODULES = [
    "test.test_json",
    "test.test_os",
    "test.test_pathlib",
    "test.test_shutil",
    "test.test_tempfile",
]
TEST_RESULT = re.compile(r"^(\w+) \(([\w.]+)\) \.\.\. (ok|skipped '(.*)')$")
TEST_SUMMARY = re.compile(r"^Ran \d+ tests?", re.MULTILINE)


def unittest_case(module: str) -> Cases:
    """Yields a `python -m unittest -v` output with a question about one test.

    The question asks why a skipped test was skipped or, in a run without
    skips, whether a test passed; both also ask for the number of tests run.
    """
    if not STDLIB_PYTHON.exists():
        raise Skip(f"{STDLIB_PYTHON} is missing")
    # unittest writes its report to stderr; a run with failures is kept too.
    text = run([str(STDLIB_PYTHON), "-m", "unittest", "-v", module], ok_codes=(0, 1), stderr=True)
    summary = TEST_SUMMARY.search(text)
    results = [m for m in map(TEST_RESULT.match, text.splitlines()) if m]
    if summary is None or not results:
        raise Skip("no unittest report in the output")
    skipped = [m for m in results if m[4] is not None]
    if skipped:
        test = pick(skipped, lambda m: text.count(f"({m[2]})") == 1, "skipped test")
        question = f"How many tests ran, and why was {test[1]} skipped?"
        needles = [summary[0], test[4][:80]]
    else:
        test = pick(results, lambda m: text.count(f"({m[2]})") == 1, "test")
        question = f"How many tests ran, and did {test[1]} pass?"
        needles = [summary[0], test[0]]
    yield case(
        f"test-unittest-{module.removeprefix('test.')}",
        "test_output",
        f"{STDLIB_PYTHON} -m unittest -v {module} (its stderr)",
        question,
        needles,
        text,
    )


# --- prose: Debian changelogs ---------------------------------------------------

# The first CHANGELOG_CASES of these packages that are installed are used.
CHANGELOG_PACKAGES = ["curl", "openssh-client", "coreutils", "python3.11", "systemd", "libc6"]
CHANGELOG_CASES = 3
CHANGELOG_CAP = 60_000
CHANGELOG_HEADER = re.compile(r"^(\S+) \(([^)]+)\) [^;]*; urgency=", re.MULTILINE)
CHANGELOG_TRAILER = re.compile(r"^ -- (.+?) <[^>]*>  (.+)$", re.MULTILINE)
CVE = re.compile(r"CVE-\d{4}-\d{4,}")


def changelog_entries(text: str) -> list[tuple[str, str, str, str, str]]:
    """Parses a changelog into (source, version, uploader, date, body) entries."""
    starts = [m.start() for m in CHANGELOG_HEADER.finditer(text)]
    entries = []
    for start, end in zip(starts, starts[1:] + [len(text)]):
        body = text[start:end]
        header = CHANGELOG_HEADER.match(body)
        trailer = CHANGELOG_TRAILER.search(body)
        if header and trailer:
            entries.append((header[1], header[2], trailer[1], trailer[2], body))
    return entries


def changelog_cases() -> Cases:
    """Yields Debian changelogs with a question about one release entry.

    When an entry in the middle of the text fixes a CVE that the changelog names
    only once, the question asks which version fixed it; otherwise it asks who
    uploaded the entry nearest the middle.
    """
    seen: set[Path] = set()
    made = 0
    for package in CHANGELOG_PACKAGES:
        if made == CHANGELOG_CASES:
            break
        path = DOC / package / "changelog.Debian.gz"
        # Several doc directories can link to one source package's changelog.
        if not path.exists() or path.resolve() in seen:
            continue
        seen.add(path.resolve())
        text = read_text(path)
        if len(text) > CHANGELOG_CAP:
            # Long changelogs are cut at the last entry that starts before the cap.
            starts = [m.start() for m in CHANGELOG_HEADER.finditer(text, 1, CHANGELOG_CAP)]
            text = text[: starts[-1]] if starts else text[:CHANGELOG_CAP]
        entries = changelog_entries(text)
        # Only fixes in the middle half of the text count, so that needles do not
        # all come from the newest entries, where security fixes cluster.
        middle_half = text[len(text) // 4 : len(text) * 3 // 4]
        fixes = [
            (entry, cve)
            for entry in entries
            for cve in sorted(set(CVE.findall(entry[4])))
            if text.count(cve) == 1 and cve in middle_half
        ]
        if fixes:
            (source, version, uploader, _, _), cve = pick(fixes, lambda fix: True, "CVE fix")
            question = f"Which version of {source} fixed {cve}, and who uploaded it?"
            needles = [f"{source} ({version})", uploader]
        else:
            source, version, uploader, date, _ = pick(entries, lambda entry: True, "entry")
            question = f"Who uploaded {source} {version}, and on what date?"
            needles = [f"{source} ({version})", uploader, date]
        made += 1
        yield case(f"prose-changelog-{package}", "prose", str(path), question, needles, text)


# --- diff: the standard library between Python 3.10 and 3.11 -------------------

DIFF_MODULES = ["dataclasses.py", "inspect.py", "argparse.py"]
HUNK = re.compile(r"^@@ -\d+(?:,\d+)? \+(\d+)(?:,\d+)? @@ ?(.*)$")
# GNU diff's --show-function-line takes a basic regular expression; this one
# labels each hunk with the Python def or class it falls in, like `diff -p` does
# for C.
DIFF_FUNCTION_LINE = r"^ *\(def\|class\|async def\) "
DEFINITION = re.compile(r"(async )?(def|class) (\w+)")


def diff_case(module: str) -> Cases:
    """Yields `diff -u` of a stdlib module with a question about one added line."""
    if not STDLIB_310.is_dir() or not STDLIB.is_dir():
        raise Skip("the Python 3.10 or 3.11 standard library is missing")
    old, new = STDLIB_310 / module, STDLIB / module
    args = ["diff", "-u", "-F", DIFF_FUNCTION_LINE, str(old), str(new)]
    text = run(args, ok_codes=(1,))
    # Each added line is paired with the def or class it sits in: the one
    # named in its hunk header, or a later one that the hunk itself opens.
    added = []
    context = ""
    for line in text.splitlines():
        if hunk := HUNK.match(line):
            definition = DEFINITION.match(hunk[2].strip())
            context = f"the hunk at line {hunk[1]}"
        elif line.startswith((" ", "+")) and not line.startswith("+++"):
            definition = DEFINITION.match(line[1:].strip())
            if line.startswith("+"):
                added.append((line[1:].strip(), context))
        else:
            continue
        if definition is not None:
            what = "function" if definition[2] == "def" else "class"
            context = f"the {what} {definition[3]}"
    code, context = pick(
        added, lambda a: len(a[0]) >= 25 and text.count(a[0]) == 1, "added line"
    )
    yield case(
        f"diff-py310-py311-{Path(module).stem}",
        "diff",
        f"diff -u -F '{DIFF_FUNCTION_LINE}' {old} {new}",
        f"What did Python 3.11 add to {module} in {context}?",
        [code],
        text,
    )


# --- tool results recorded in coding-agent sessions -----------------------------

# (id, kind, session file, tool call id, question, needles): the questions and
# needles were written by reading these fixed recordings.
SESSION_CASES = [
    (
        "sess-claude-read-ts",
        "code",
        "claude/session-3fe1b6bc.jsonl",
        "toolu_bdrk_013QULdbGapuFbSX6oZCTMqn",
        "In claude.metrics.ts, how does the Edit tool branch count added and removed lines?",
        ["line.startsWith('+')", "toolUseResult.structuredPatch[0].oldLines"],
    ),
    (
        "sess-codex-sed-tsx",
        "code",
        "codex/rollout-2026-05-11T13-28-45-019e1695-0522-7c83-8b39-0dd379793f80.jsonl",
        "call_jyNzxSLbxzbg7aCmneLQCyE0",
        "What is the label of the budgets column in ProjectMembersManager, and when is it shown?",
        ["label: 'Budget Allocations'", "if (showBudgets)"],
    ),
    (
        "sess-codex-rg-budgets",
        "search",
        "codex/rollout-2026-05-11T13-28-45-019e1695-0522-7c83-8b39-0dd379793f80.jsonl",
        "call_Mfr5nRP3q1RfmYQ7LDgb38sH",
        "Where is getBudgetOptions defined in codemie-ui?",
        ["src/store/budgets.ts", "221:  async getBudgetOptions("],
    ),
    (
        "sess-codex-rg-files",
        "search",
        "codex/rollout-2026-05-11T13-28-45-019e1695-0522-7c83-8b39-0dd379793f80.jsonl",
        "call_3tNWquF3FKJZfe6aGNe5ycIN",
        "Which file holds the utilities of the RatioWidget?",
        ["widgets/RatioWidget/utils.ts"],
    ),
    (
        "sess-codex-rg-transcript",
        "search",
        "codex/rollout-2026-05-11T13-28-45-019e1695-0522-7c83-8b39-0dd379793f80.jsonl",
        "call_S9CCSetFADlbjlahU9MvN15w",
        "At which line of the transcript is the total time for all the demos mentioned?",
        ["3147:If we have 90 minutes for all the demos"],
    ),
    (
        "sess-claude-codex-jsonl",
        "json",
        "claude/session-3fe1b6bc.jsonl",
        "toolu_bdrk_014UwJjCtXd5NAa5yHjvVacR",
        "What is the parent commit of the ghost snapshot, and was "
        "step-04-emotional-response.md already untracked?",
        [
            "dd1902e08eaa1087f47815cfafda73c54fa4dd12",
            "create-ux-design/steps/step-04-emotional-response.md",
        ],
    ),
    (
        "sess-claude-tech-spec",
        "prose",
        "claude/session-3fe1b6bc.jsonl",
        "toolu_bdrk_01RKgycHSbmxPo18BAiditVC",
        "Does the Codex metrics tech spec need new dependencies, "
        "and in which file do its unit tests go?",
        ["No new dependencies required", "codex.metrics.test.ts"],
    ),
    (
        "sess-claude-explore-report",
        "prose",
        "claude/session-9eda1058.jsonl",
        "toolu_bdrk_017jZYsgmFDt9ud8x578t3Zx",
        "Which TypeScript target and module system does the codemie-code build use?",
        ['target: "ES2022"', 'module: "NodeNext"'],
    ),
    (
        "sess-codex-skill-doc",
        "prose",
        "codex/rollout-2026-05-11T13-28-45-019e1695-0522-7c83-8b39-0dd379793f80.jsonl",
        "call_ejYWXmk9eTlwd6gnCopNJQVK",
        "With the Browser skill's API, how do I get a tab by its id?",
        ["get(id: string): Promise<Tab>"],
    ),
    (
        "sess-gemini-read-prompt",
        "prose",
        "gemini/session-2025-12-01T21-45-5b959dae.json",
        "read_file-1764625577264-991cd55e022928",
        "Which tool call records a feedback entry for Jane Doe, and with which entity name?",
        ["add_observations", 'entityName: "Jane Doe"'],
    ),
]


def parts_text(content: Any) -> str:
    """Returns a tool result's content as text, joining the text parts of a list."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(
            part.get("text", "")
            for part in content
            if isinstance(part, dict) and part.get("type") == "text"
        )
    return ""


@functools.cache
def session_tool_outputs(path: Path) -> dict[str, str]:
    """Maps tool call ids to the result texts recorded in one session file.

    It reads Claude Code (``tool_result`` blocks), Codex (``function_call_output``
    records) and Gemini CLI (``toolCalls[].result``) sessions.
    """
    text = read_text(path)
    if path.suffix == ".json":
        records: list[Any] = [json.loads(text)]
    else:
        records = [json.loads(line) for line in text.splitlines() if line.strip()]
    outputs: dict[str, str] = {}
    for record in records:
        content = (record.get("message") or {}).get("content")
        for block in content if isinstance(content, list) else []:
            if isinstance(block, dict) and block.get("type") == "tool_result":
                outputs[block["tool_use_id"]] = parts_text(block.get("content"))
        payload = record.get("payload") or {}
        if payload.get("type") == "function_call_output":
            outputs[payload["call_id"]] = parts_text(payload.get("output"))
        for message in record.get("messages", []):
            for call in message.get("toolCalls") or []:
                for result in call.get("result") or []:
                    response = result.get("functionResponse", {}).get("response", {})
                    outputs[call["id"]] = parts_text(response.get("output"))
    return outputs


def session_case(
    case_id: str, kind: str, rel: str, call_id: str, question: str, needles: list[str]
) -> Cases:
    """Yields a tool result that a coding agent received in a recorded session."""
    path = SESSIONS / rel
    payload = session_tool_outputs(path).get(call_id)
    if payload is None:
        raise Skip(f"{path} has no result for tool call {call_id}")
    yield case(case_id, kind, f"{path}, result of tool call {call_id}", question, needles, payload)


# --- assembling the corpus ------------------------------------------------------

# Every source, as a label and a function yielding its cases. A source that
# raises Skip is reported and left out; the others are unaffected.
SOURCES: list[tuple[str, Callable[[], Cases]]] = [
    *[(f"ISO table {t[0]}", functools.partial(iso_case, *t)) for t in ISO_TABLES],
    (f"{DPKG_LOG} (upgrade)", dpkg_upgrade_case),
    (f"{DPKG_LOG} (install)", dpkg_install_case),
    (str(APT_TERM_LOG), apt_term_case),
    (str(RABBITMQ_LOGS), rabbitmq_case),
    ("grep for exception classes", grep_exception_classes),
    ("grep for functions", grep_functions),
    ("grep for TODO notes", grep_todo_notes),
    *[(f"module {m}", functools.partial(python_code_case, m)) for m in PY_MODULES],
    *[(f"crate file {c}/{r}", functools.partial(rust_code_case, c, r)) for c, r in RUST_FILES],
    *[(f"source {f[1]}", functools.partial(c_family_case, *f)) for f in C_FAMILY_FILES],
    *[(f"unittest {m}", functools.partial(unittest_case, m)) for m in TEST_MODULES],
    ("Debian changelogs", changelog_cases),
    *[(f"diff of {m}", functools.partial(diff_case, m)) for m in DIFF_MODULES],
    *[(f"session result {c[0]}", functools.partial(session_case, *c)) for c in SESSION_CASES],
]


def problem(item: Case) -> str | None:
    """Returns why a case must be dropped, or None when it is sound."""
    size = len(item["payload"])
    if not MIN_PAYLOAD <= size <= MAX_PAYLOAD:
        return f"payload is {size} characters, outside {MIN_PAYLOAD}-{MAX_PAYLOAD}"
    if item["kind"] not in KINDS:
        return f"unknown kind {item['kind']}"
    if not item["needles"] or not all(item["needles"]):
        return "no needles"
    missing = [n for n in item["needles"] if n not in item["payload"]]
    return f"needles not in payload: {missing}" if missing else None


def collect() -> list[Case]:
    """Builds the cases of every source and returns the sound ones, reporting the rest."""
    cases: list[Case] = []
    for label, build in SOURCES:
        try:
            built = list(build())
        except Skip as exc:
            print(f"build_corpus: skipped {label}: {exc}", file=sys.stderr)
            continue
        for item in built:
            if reason := problem(item):
                print(f"build_corpus: dropped {item['id']}: {reason}", file=sys.stderr)
            else:
                cases.append(item)
    return cases


def is_case_file(path: Path) -> bool:
    """Tells whether a file is a case written by an earlier run of this script."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return isinstance(data, dict) and {"id", "kind", "needles", "payload"} <= data.keys()


def main() -> None:
    if len(sys.argv) != 2:
        sys.exit("usage: build_corpus.py OUT_DIR")
    out_dir = Path(sys.argv[1])
    out_dir.mkdir(parents=True, exist_ok=True)
    cases = collect()
    # Cases from an earlier run are removed, so the directory holds this corpus only.
    for stale in sorted(out_dir.glob("*.json")):
        if is_case_file(stale):
            stale.unlink()
    for item in cases:
        path = out_dir / f"{item['id']}.json"
        path.write_text(json.dumps(item, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
    counts = {kind: sum(1 for c in cases if c["kind"] == kind) for kind in KINDS}
    summary = ", ".join(f"{kind} {n}" for kind, n in counts.items() if n)
    print(f"build_corpus: wrote {len(cases)} cases to {out_dir} ({summary})", file=sys.stderr)


if __name__ == "__main__":
    main()
