#!/usr/bin/env python3
"""Builds a corpus of real tool outputs for the peer benchmark.

Usage: bench/peer/build_corpus.py OUT_DIR

Every case is written to OUT_DIR/<id>.json as
``{"id", "kind", "source", "question", "needles", "payload"}``. The payload is
an output that this machine already holds or that a real tool prints on it
(Debian data tables and logs, grep and diff runs, CPython and crate sources,
unittest runs, Debian changelogs, tool results recorded in coding-agent
sessions, /proc files, and what git, ps, bash, curl, ss, ip, findmnt, lscpu,
man, dpkg and apt-cache print on this machine); the project wrote none of it.
The question is one an agent could ask of that output, and the needles are
short exact substrings of the payload that an answer needs. Cases whose needles
are not in the payload, or whose payload is outside 2 KB to 300 KB, are dropped
with a note on stderr. A missing source is skipped the same way, so the corpus
shrinks on machines that lack one.

The result is deterministic: files are listed in sorted order, slices are fixed,
and each needle is picked by a fixed rule (the qualifying item nearest the
middle of the payload, so needles do not all sit in the first lines). The
exceptions are unittest's "Ran N tests in X.XXXs" line, whose timing varies,
and the machine-state cases (processes, sockets, memory, HTTP dates), whose
outputs change from run to run; their needles are still taken from the output
by the same rules.
"""

from __future__ import annotations

import ast
import functools
import gzip
import json
import os
import re
import shlex
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any, TypeVar

T = TypeVar("T")
Case = dict[str, Any]
Cases = Iterator[Case]

MIN_PAYLOAD = 2_000
MAX_PAYLOAD = 300_000
KINDS = ("json", "log", "search", "code", "test_output", "prose", "diff", "table", "records")

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


def run(
    args: list[str],
    *,
    ok_codes: Iterable[int] = (0,),
    stderr: bool = False,
    env: dict[str, str] | None = None,
) -> str:
    """Runs a command and returns its stdout (or stderr), raising Skip on failure.

    env adds variables to (or overrides them in) this process's environment.
    """
    try:
        done = subprocess.run(
            args,
            capture_output=True,
            cwd=tempfile.gettempdir(),
            timeout=600,
            check=False,
            env={**os.environ, **env} if env else None,
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


# --- machine state: commands an agent runs to inspect the machine --------------

# These outputs are printed at corpus-build time by the machine's own tools
# (git, ps, bash, curl, ss, ip, findmnt, lscpu, man, dpkg, apt-cache) or read
# from /proc, so they differ between machines and runs; every needle is taken
# from the output itself by a fixed rule. Kinds: "table" for column listings,
# "records" for field/value stanzas and header dumps.

PYENV = Path(os.environ.get("PYENV_ROOT") or Path.home() / ".pyenv")
GIT_COMMIT = re.compile(r"^commit ([0-9a-f]{40})", re.MULTILINE)
GIT_STAT = re.compile(r"^ (\S.*?\S) +\| +(\d+)(?: [+-]+)?$")


def git_commits(text: str) -> list[str]:
    """Splits `git log` output into one text per commit."""
    starts = [m.start() for m in GIT_COMMIT.finditer(text)]
    return [text[s:e] for s, e in zip(starts, starts[1:] + [len(text)])]


def git_stat_case() -> Cases:
    """Yields `git log --stat` of pyenv with a question about one changed file.

    Pyenv is installed as a git checkout and is not this project; its share
    directory (one build script per Python version) is left out by a pathspec
    so the output stays small. A shallow clone has one commit, whose stat lists
    every file it holds.
    """
    if not (PYENV / ".git").exists():
        raise Skip(f"{PYENV} is not a git checkout")
    args = ["git", "-C", str(PYENV), "log", "--stat", "-n", "20", "--", ".",
            ":(exclude)plugins/python-build/share"]
    text = run(args)
    stats = [
        (GIT_COMMIT.match(commit)[1], line.rstrip(" +-"), match)
        for commit in git_commits(text)
        for line in commit.splitlines()
        if (match := GIT_STAT.match(line))
    ]
    sha, line, match = pick(
        stats,
        lambda s: "..." not in s[2][1] and text.count(f" {s[2][1]} ") == 1,
        "changed file listed once",
    )
    yield case(
        "log-git-stat-pyenv",
        "log",
        shlex.join(args),
        f"Which commit changed {match[1]}, and how many lines of it did it change?",
        [f"commit {sha}", line.strip()],
        text,
    )


def git_fuller_case() -> Cases:
    """Yields `git log --stat --format=fuller` of a pyenv plugin checkout.

    The question asks who committed one commit, named by its subject, and when.
    """
    repo = PYENV / "plugins/pyenv-virtualenv"
    if not (repo / ".git").exists():
        raise Skip(f"{repo} is not a git checkout")
    args = ["git", "-C", str(repo), "log", "--stat", "--format=fuller", "-n", "20"]
    text = run(args)
    fields = re.compile(r"^Commit: +(.+)\nCommitDate: +(.+)\n\n +(.+)$", re.MULTILINE)
    commits = [(m, commit) for commit in git_commits(text) if (m := fields.search(commit))]
    match, _ = pick(commits, lambda c: text.count(c[0][3]) == 1, "commit with a unique subject")
    yield case(
        "log-git-fuller-pyenv-virtualenv",
        "log",
        " ".join(args),
        f'Who committed "{match[3].strip()}" in pyenv-virtualenv, and when?',
        [f"Commit:     {match[1]}", f"CommitDate: {match[2]}"],
        text,
    )


PS_COLUMNS = "user,pid,ppid,pcpu,pmem,vsz,rss,stat,start,time,comm"


def ps_case() -> Cases:
    """Yields a `ps -eo` process table with a question about one process.

    The command name (comm) is printed instead of the full command line, which
    could carry secrets; the columns are otherwise those of `ps aux`.
    """
    args = ["ps", "-eo", PS_COLUMNS]
    text = run(args)
    rows = [line for line in text.splitlines()[1:] if len(line.split(None, 10)) == 11]
    row = pick(
        rows,
        lambda r: r.split(None, 10)[10] not in ("ps", "python3")
        and r.split()[6] != "0"
        and len(re.findall(rf" {re.escape(r.split(None, 10)[10])}$", text, re.MULTILINE)) == 1,
        "process with a unique command name",
    )
    comm = row.split(None, 10)[10]
    yield case(
        "table-ps",
        "table",
        " ".join(args),
        f"What are the PID, the parent PID and the resident memory (RSS) of the {comm} process?",
        [row.strip()],
        text,
    )


SECRET_NAME = re.compile(r"(?i)token|secret|passw|key|auth|cred|cookie|session|private|signature")
URL_CREDENTIALS = re.compile(r"://[^/\s:@]+:[^/\s@]+@")
SHELL_VARIABLE = re.compile(r"^([A-Za-z_]\w*)=(.*)$")


def shell_variables_case() -> Cases:
    """Yields the variables of a login shell (`bash -l -c set`) with a question
    about one environment variable.

    `env` alone prints under 2 KB here, so the shell's `set` listing is used: the
    environment plus the shell's own variables and functions. Variables whose
    name suggests a secret, or whose value holds URL credentials, are removed.
    """
    text = run(["bash", "-l", "-c", "set"])
    kept = []
    for line in text.splitlines(keepends=True):
        variable = SHELL_VARIABLE.match(line)
        if variable and (SECRET_NAME.search(variable[1]) or URL_CREDENTIALS.search(variable[2])):
            continue
        kept.append(line)
    text = "".join(kept)
    variables = [m for m in map(SHELL_VARIABLE.match, text.splitlines()) if m]
    variable = pick(
        variables,
        lambda v: v[1] in os.environ and len(v[2]) >= 3 and text.count(v[2]) == 1,
        "environment variable with a unique value",
    )
    yield case(
        "records-shell-set",
        "records",
        "bash -l -c set (lines of variables named like secrets removed)",
        f"What is the environment variable {variable[1]} set to?",
        [variable[0]],
        text,
    )


HTTP_URLS = 24


def free_port() -> int:
    """Returns a TCP port on the loopback interface that nothing listens on now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def http_headers_case() -> Cases:
    """Yields curl's verbose dump of HEAD requests to a local web server with a
    question about one response's headers.

    Python's http.server serves /usr/share/doc on a free loopback port for the
    duration; curl asks for HTTP_URLS of the files in its package directories
    (copyright files, changelogs, READMEs), evenly spaced in name order.
    """
    files = sorted(path for path in DOC.glob("*/*") if path.is_file())
    if len(files) < HTTP_URLS:
        raise Skip(f"fewer than {HTTP_URLS} files under {DOC}")
    step = len(files) // HTTP_URLS
    paths = [f"/{p.relative_to(DOC)}" for p in files[::step][:HTTP_URLS]]
    port = free_port()
    try:
        server = subprocess.Popen(
            [sys.executable, "-m", "http.server", "--bind", "127.0.0.1"]
            + ["--directory", str(DOC), str(port)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
    except OSError as exc:
        raise Skip(f"cannot start http.server: {exc}") from exc
    try:
        deadline = time.monotonic() + 15
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                if time.monotonic() > deadline or server.poll() is not None:
                    raise Skip("http.server did not start listening") from None
                time.sleep(0.1)
        args = ["curl", "-sv", "-I", *(f"http://127.0.0.1:{port}{p}" for p in paths)]
        text = run(args, stderr=True)
    finally:
        server.terminate()
        try:
            server.wait(timeout=10)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
    # Each response follows the request line that asked for it.
    exchanges = re.findall(
        r"^> HEAD (\S+) HTTP/1\.1\r?$.*?^< (Content-Length: \d+)", text, re.MULTILINE | re.DOTALL
    )
    path, length = pick(
        exchanges,
        lambda e: text.count(f"{e[1]}\r") + text.count(f"{e[1]}\n") == 1,
        "response with a unique Content-Length",
    )
    yield case(
        "records-http-headers",
        "records",
        f"curl -sv -I http://127.0.0.1:PORT/<package>/<file> ... ({HTTP_URLS} URLs; "
        f"python3 -m http.server serving {DOC}) (its stderr)",
        f"What Content-Length did the server report for {path}?",
        [f"HEAD {path} HTTP/1.1", length],
        text,
    )


CPUINFO = Path("/proc/cpuinfo")
PROC_CAP = 60_000


def cpuinfo_case() -> Cases:
    """Yields /proc/cpuinfo with a question about the CPU model and cache size.

    The needles are taken from the processor nearest the middle of the file.
    """
    blocks = [b for b in read_text(CPUINFO).split("\n\n") if b.strip()]
    text, source = "", str(CPUINFO)
    for count, block in enumerate(blocks):
        if len(text) + len(block) + 2 > PROC_CAP:
            source = f"{CPUINFO}, first {count} processors"
            break
        text += block + "\n\n"
    fields = re.compile(
        r"^processor\t: (\d+)$.*^(model name\t: [^\n]+)$.*^(cache size\t: [^\n]+)$",
        re.MULTILINE | re.DOTALL,
    )
    found = [m for m in map(fields.search, text.split("\n\n")) if m]
    match = pick(found, lambda m: True, "processor with a model name and a cache size")
    yield case(
        "records-proc-cpuinfo",
        "records",
        source,
        "What CPU model does this machine have, and how large is its cache?",
        [match[2], match[3]],
        text,
    )


PROC_FIELD = re.compile(r"^(\w[\w()]*):\s+(\S.*)$")


def meminfo_status_case() -> Cases:
    """Yields `head` of /proc/meminfo and /proc/self/status with a question about
    one field of each."""
    args = ["head", "-n", "100", "/proc/meminfo", "/proc/self/status"]
    text = run(args)
    sections = re.split(r"^==> (\S+) <==$", text, flags=re.MULTILINE)
    files = dict(zip(sections[1::2], sections[2::2]))
    picked = []
    for name in ("/proc/meminfo", "/proc/self/status"):
        lines = (files.get(name) or "").splitlines()
        line = pick(
            lines,
            lambda l: (m := PROC_FIELD.match(l)) is not None
            and re.match(r"[1-9]\d* kB$", m[2]) is not None
            and text.count(l) == 1,
            f"field in kB in {name}",
        )
        picked.append(line)
    first, second = (PROC_FIELD.match(line)[1] for line in picked)
    yield case(
        "records-proc-meminfo-status",
        "records",
        " ".join(args),
        f"What is {first} in /proc/meminfo, and what is {second} of the process in its status?",
        picked,
        text,
    )


def lscpu_case() -> Cases:
    """Yields `lscpu` with a question about one of its fields."""
    text = run(["lscpu"])
    fields = [
        (line, line.split(":", 1)[1].strip())
        for line in text.splitlines()
        if re.match(r"^\s*[\w(][^:]*:\s+\S", line)
    ]
    line, _ = pick(
        fields,
        lambda f: len(f[1]) >= 3 and text.count(f[1]) == 1,
        "field with a unique value",
    )
    field = line.split(":", 1)[0].strip()
    yield case(
        "records-lscpu",
        "records",
        "lscpu",
        f"What does lscpu report for {field}?",
        [line.strip()],
        text,
    )


FINDMNT_ROW = re.compile(r"^([\s│├└─|`-]*)(/\S*)\s+(\S+)\s+(\S+)\s+(\S+)$")


def findmnt_case() -> Cases:
    """Yields `findmnt` (the mount tree) with a question about one mount point."""
    text = run(["findmnt"])
    rows = [m for m in map(FINDMNT_ROW.match, text.splitlines()[1:]) if m]
    row = pick(
        rows,
        lambda m: len(re.findall(rf"[\s─-]{re.escape(m[2])} ", text)) == 1,
        "mount point listed once",
    )
    yield case(
        "table-findmnt",
        "table",
        "findmnt",
        f"What filesystem type and mount options does {row[2]} have?",
        [row.string[row.start(2):].rstrip()],
        text,
    )


IP_LINK = re.compile(r"^(\d+): ([^:@\s]+)(?:@\S+)?: <[^>]*> mtu \d+", re.MULTILINE)


def ip_addr_case() -> Cases:
    """Yields `ip -d -s addr` with a question about one interface's MTU and address."""
    args = ["ip", "-d", "-s", "addr"]
    text = run(args)
    starts = [m.start() for m in IP_LINK.finditer(text)]
    interfaces = []
    for start, end in zip(starts, starts[1:] + [len(text)]):
        block = text[start:end]
        inet = re.search(r"^\s+(inet \S+)", block, re.MULTILINE)
        if inet:
            interfaces.append((IP_LINK.match(block), inet[1]))
    link, inet = pick(
        interfaces, lambda i: text.count(i[1] + " ") == 1, "interface with an IPv4 address"
    )
    yield case(
        "records-ip-addr",
        "records",
        " ".join(args),
        f"What are the MTU and the IPv4 address of {link[2]}?",
        [link[0], inet],
        text,
    )


SS_ROW = re.compile(r'^(\w+)\s+LISTEN\s+\d+\s+\d+\s+(\S+)\s+\S+\s+.*users:\(\(("[^"]+",pid=\d+)')


def ss_case() -> Cases:
    """Yields `ss -tuanpe` with a question about the process behind one listening port."""
    args = ["ss", "-tuanpe"]
    text = run(args)
    rows = [m for m in map(SS_ROW.match, text.splitlines()) if m]
    row = pick(
        rows,
        lambda m: text.count(f"{m[2]} ") == 1,
        "listening socket with a process",
    )
    yield case(
        "table-ss-listening",
        "table",
        " ".join(args),
        f"Which process listens on {row[2]} ({row[1]}), and what is its PID?",
        [row[2], f"users:(({row[3]}"],
        text,
    )


MAN_PAGES = [("ss", "8"), ("tar", "1")]
MAN_OPTION = re.compile(r"^ {7}(-[^\s,]+.*)$")


def man_case(page: str, section: str) -> Cases:
    """Yields a man page rendered as text with a question about one option."""
    args = ["man", "-P", "cat", section, page]
    text = run(args, env={"MANWIDTH": "100", "LANG": "C.UTF-8"})
    lines = text.splitlines()
    options = [
        (lines[i].strip(), lines[i + 1].strip())
        for i in range(len(lines) - 1)
        if MAN_OPTION.match(lines[i]) and re.match(r"^ {14}\S", lines[i + 1])
    ]

    def named(option: tuple[str, str]) -> str:
        """Returns the option's long name when it has one, else its short name."""
        long = re.search(r"--[\w-]+", option[0])
        return long[0] if long else option[0].split(",")[0].split()[0]

    header, description = pick(
        options,
        lambda o: text.count(o[0]) == 1 and text.count(o[1][:70].rstrip()) == 1 and len(o[1]) >= 20,
        "option with a unique description",
    )
    yield case(
        f"prose-man-{page}",
        "prose",
        f"MANWIDTH=100 {' '.join(args)}",
        f"What does the {named((header, description))} option of {page} do?",
        [header, description[:70].rstrip()],
        text,
    )


def installed_packages() -> list[str]:
    """Returns the names of the installed Debian packages, sorted."""
    return sorted(set(run(["dpkg-query", "-W", "-f=${Package}\n"]).split()))


def stanzas(text: str) -> list[dict[str, str]]:
    """Parses deb822 stanzas into their single-line fields."""
    result = []
    for block in text.split("\n\n"):
        fields = dict(re.findall(r"^([\w-]+): (.*)$", block, re.MULTILINE))
        if fields:
            result.append(fields)
    return result


def dpkg_status_case() -> Cases:
    """Yields `dpkg -s` of 30 installed packages with a question about one version."""
    packages = installed_packages()
    sample = packages[:: max(1, len(packages) // 30)][:30]
    text = run(["dpkg", "-s", *sample])
    found = stanzas(text)
    fields = pick(
        found,
        lambda f: "Version" in f
        and text.count(f"Package: {f['Package']}\n") == 1
        and text.count(f"Version: {f['Version']}\n") == 1,
        "package with a unique version",
    )
    yield case(
        "records-dpkg-status",
        "records",
        f"dpkg -s {sample[0]} {sample[1]} ... ({len(sample)} installed packages, every "
        f"{max(1, len(packages) // 30)}th in name order)",
        f"Which version of {fields['Package']} is installed?",
        [f"Package: {fields['Package']}", f"Version: {fields['Version']}"],
        text,
    )


def apt_cache_case() -> Cases:
    """Yields `apt-cache show` of 20 installed packages with a question about the
    dependencies of one package version."""
    packages = installed_packages()
    step = max(1, len(packages) // 20)
    sample = packages[step // 2 :: step][:20]
    text = run(["apt-cache", "show", *sample], ok_codes=(0, 100))
    found = stanzas(text)
    fields = pick(
        found,
        lambda f: {"Filename", "Depends", "Version"} <= f.keys()
        and text.count(f"Filename: {f['Filename']}") == 1
        and text.count(f"Depends: {f['Depends']}"[:80]) == 1,
        "package version with unique dependencies",
    )
    yield case(
        "records-apt-cache-show",
        "records",
        f"apt-cache show {sample[0]} {sample[1]} ... ({len(sample)} installed packages, every "
        f"{step}th in name order from the {step // 2 + 1}th)",
        f"What does version {fields['Version']} of {fields['Package']} depend on?",
        [f"Filename: {fields['Filename']}", f"Depends: {fields['Depends']}"[:80]],
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
    ("git log --stat of pyenv", git_stat_case),
    ("git log --format=fuller of pyenv-virtualenv", git_fuller_case),
    ("ps", ps_case),
    ("bash -l -c set", shell_variables_case),
    ("curl against http.server", http_headers_case),
    (str(CPUINFO), cpuinfo_case),
    ("/proc/meminfo and /proc/self/status", meminfo_status_case),
    ("lscpu", lscpu_case),
    ("findmnt", findmnt_case),
    ("ip addr", ip_addr_case),
    ("ss", ss_case),
    *[(f"man page {p}({s})", functools.partial(man_case, p, s)) for p, s in MAN_PAGES],
    ("dpkg -s", dpkg_status_case),
    ("apt-cache show", apt_cache_case),
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
