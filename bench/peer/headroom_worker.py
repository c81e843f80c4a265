#!/usr/bin/env python3
"""Long-running worker that compresses tool outputs with headroom-ai (the peer).

Protocol: one JSON object per line on stdin, ``{"id": str, "question": str,
"payload": str}``; for each, one JSON line on stdout, ``{"id", "content",
"seconds", "error"}``, flushed at once. ``content`` is headroom's version of the
payload, ``seconds`` the wall time of the ``compress`` call, and ``error`` null
or a message (then ``content`` is the original payload). The worker exits at
end of input. Nothing but result lines is ever written to stdout: headroom's
logs and anything else printed go to stderr.

Run it with the python of the venv that scripts/install-peer.sh creates:

    .venv-peer/bin/python bench/peer/headroom_worker.py < cases.jsonl

Message shape. The payload is sent as the result of a tool call in OpenAI chat
format: the question as the user turn, an assistant turn holding one tool call,
then a ``role: "tool"`` message carrying the payload. This is the shape in which
headroom 0.42.0 compresses tool results by default: it never compresses user
messages (``compress_user_messages=False``), so a payload pasted into the user
turn comes back unchanged. It reads the query from the newest user message and
hands it to its compressors for relevance scoring, which is why the question
goes in the user turn. Defaults that still apply to this shape are part of what
is measured: source code in the last 4 messages is left alone
(``protect_recent=4``), tool outputs under 8,000 characters that look like
errors are kept verbatim, and plain text passes through unchanged because its
text compressor (Kompress) needs an ML model that the plain install lacks.

The tool's name matters to headroom: names such as Read, Grep, Glob, bash or
WebFetch switch on tool-specific handling (exclusion, byte-exact protection,
search folding). The worker uses a name headroom does not know, so only the
payload's content decides how it is compressed.
"""

from __future__ import annotations

import atexit
import json
import logging
import os
import shutil
import sys
import tempfile
import time
import warnings
from typing import Any

# Headroom reads these when it is imported, so they are set first. They keep it
# offline (no Hugging Face or tokenizer downloads, no telemetry beacon) and keep
# its state (the CCR store it writes compressed-away originals to) in a
# throw-away directory instead of ~/.headroom, so runs do not affect each other.
_WORKSPACE = tempfile.mkdtemp(prefix="headroom-worker-")
atexit.register(shutil.rmtree, _WORKSPACE, ignore_errors=True)
os.environ.update(
    {
        "HEADROOM_OFFLINE": "1",
        "HF_HUB_OFFLINE": "1",
        "TRANSFORMERS_OFFLINE": "1",
        "HEADROOM_TELEMETRY": "off",
        "DO_NOT_TRACK": "1",
        "HEADROOM_TOIN_BACKEND": "none",
        "HEADROOM_WORKSPACE_DIR": _WORKSPACE,
    }
)

# Results go to a private copy of the original stdout; file descriptor 1 itself
# is pointed at stderr, so stray prints (from Python or native code) cannot
# corrupt the protocol.
_RESULTS = os.fdopen(os.dup(sys.stdout.fileno()), "w", encoding="utf-8")
os.dup2(sys.stderr.fileno(), sys.stdout.fileno())
sys.stdout = sys.stderr

# Headroom logs expected noise at WARNING level when offline (the tiktoken
# download failing, ONNX Runtime missing); only errors are shown.
logging.basicConfig(
    stream=sys.stderr, level=logging.ERROR, format="headroom_worker: %(name)s: %(message)s"
)
warnings.simplefilter("ignore")

from headroom import compress  # noqa: E402  (must follow the environment setup)

MODEL = "gpt-4o"
TOOL_CALL_ID = "call_peer_0"
TOOL_NAME = "run_tool"


class _FailureRecorder(logging.Handler):
    """Keeps the message headroom logs when ``compress`` swallows an exception.

    On an internal error ``compress`` logs "Compression failed, returning
    original messages" and returns the input unchanged instead of raising; this
    handler lets the worker report that as an error rather than as a result.
    """

    def __init__(self) -> None:
        super().__init__(level=logging.WARNING)
        self.failure: str | None = None

    def emit(self, record: logging.LogRecord) -> None:
        message = record.getMessage()
        if message.startswith("Compression failed"):
            self.failure = message


_failures = _FailureRecorder()
# The handler sits on compress's own logger, whose warnings are recorded there
# and not passed on: a failure is reported once, by the worker, with its case.
_compress_logger = logging.getLogger("headroom.compress")
_compress_logger.addHandler(_failures)
_compress_logger.setLevel(logging.WARNING)
_compress_logger.propagate = False


def build_messages(question: str, payload: str) -> list[dict[str, Any]]:
    """Returns the conversation in which the payload is a tool result."""
    return [
        {"role": "user", "content": question},
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {
                    "id": TOOL_CALL_ID,
                    "type": "function",
                    "function": {"name": TOOL_NAME, "arguments": "{}"},
                }
            ],
        },
        {"role": "tool", "tool_call_id": TOOL_CALL_ID, "content": payload},
    ]


def content_text(content: Any) -> str:
    """Returns a message content as text, joining the text parts of a list."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(
            str(part.get("text", ""))
            for part in content
            if isinstance(part, dict) and part.get("type") == "text"
        )
    raise TypeError(f"unexpected content type {type(content).__name__}")


def tool_result_text(messages: list[dict[str, Any]]) -> str:
    """Finds the tool result in headroom's output messages and returns its text."""
    for message in messages:
        if message.get("role") == "tool" and message.get("tool_call_id") == TOOL_CALL_ID:
            return content_text(message.get("content"))
    raise ValueError("headroom's output has no tool message answering the tool call")


def compress_case(question: str, payload: str) -> tuple[str, float]:
    """Compresses one payload and returns headroom's text and the call's duration."""
    _failures.failure = None
    start = time.perf_counter()
    result = compress(build_messages(question, payload), model=MODEL)
    seconds = time.perf_counter() - start
    if _failures.failure is not None:
        raise RuntimeError(_failures.failure)
    return tool_result_text(result.messages), seconds


def warm_up() -> None:
    """Runs headroom once on synthetic payloads before any case is timed.

    The first call in a process builds the pipeline, its compressors and the
    tokenizer fallback, which would otherwise be charged to the first case. The
    payloads are generated here, so they cannot share headroom's content cache
    with a real case.
    """
    rows = [{"index": i, "name": f"warm-up item {i}", "ok": i % 7 != 0} for i in range(300)]
    log = "\n".join(f"2000-01-01 00:00:{i % 60:02d} INFO warm-up step {i} done" for i in range(300))
    prose = " ".join(f"Warm-up sentence number {i} says nothing of note." for i in range(200))
    for payload in (json.dumps(rows), log, prose):
        try:
            compress_case("What does the warm-up output say?", payload)
        except Exception as exc:  # noqa: BLE001  (the cases will report it again)
            print(f"headroom_worker: warm-up failed: {exc}", file=sys.stderr)


def handle_line(line: str) -> dict[str, Any]:
    """Processes one input line and returns the result object to write."""
    case_id = None
    payload = ""
    try:
        case = json.loads(line)
        case_id = case["id"]
        payload = case["payload"]
        if not isinstance(payload, str):
            raise TypeError("payload must be a string")
        content, seconds = compress_case(str(case.get("question", "")), payload)
        return {"id": case_id, "content": content, "seconds": seconds, "error": None}
    except Exception as exc:  # noqa: BLE001  (one bad case must not stop the run)
        error = f"{type(exc).__name__}: {exc}"
        print(f"headroom_worker: case {case_id!r}: {error}", file=sys.stderr)
        content = payload if isinstance(payload, str) else ""
        return {"id": case_id, "content": content, "seconds": None, "error": error}


def main() -> None:
    warm_up()
    for line in sys.stdin:
        if not line.strip():
            continue
        _RESULTS.write(json.dumps(handle_line(line), ensure_ascii=False) + "\n")
        _RESULTS.flush()


if __name__ == "__main__":
    main()
