"""A stand-in for the LLM providers, which the tests cannot reach: one HTTP
server on loopback that answers Anthropic Messages, OpenAI Chat Completions,
OpenAI Responses and Gemini generateContent in each provider's shape (not
streaming), and records every request it received, so a test can check what
Cairn's proxy sent upstream."""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

ANSWER = "mock answer"


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class MockUpstream:
    url: str
    server: ThreadingHTTPServer
    received: list[Received] = field(default_factory=list)

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def answer_for(path: str, request: dict[str, Any]) -> dict[str, Any] | None:
    model = request.get("model", "mock-model")
    if path.startswith("/v1/chat/completions"):
        return {
            "id": "chatcmpl-mock",
            "object": "chat.completion",
            "created": 0,
            "model": model,
            "choices": [
                {"index": 0, "message": {"role": "assistant", "content": ANSWER}, "finish_reason": "stop"}
            ],
            "usage": {"prompt_tokens": 1, "completion_tokens": 2, "total_tokens": 3},
        }
    if path.startswith("/v1/messages"):
        return {
            "id": "msg_mock",
            "type": "message",
            "role": "assistant",
            "model": model,
            "content": [{"type": "text", "text": ANSWER}],
            "stop_reason": "end_turn",
            "stop_sequence": None,
            "usage": {"input_tokens": 1, "output_tokens": 2},
        }
    if path.startswith("/v1/responses"):
        return {
            "id": "resp_mock",
            "object": "response",
            "created_at": 0,
            "status": "completed",
            "model": model,
            "output": [
                {
                    "type": "message",
                    "id": "msg_mock",
                    "role": "assistant",
                    "status": "completed",
                    "content": [{"type": "output_text", "text": ANSWER, "annotations": []}],
                }
            ],
            "usage": {"input_tokens": 1, "output_tokens": 2, "total_tokens": 3},
        }
    if path.startswith("/v1beta/models/") and ":generateContent" in path:
        return {
            "candidates": [
                {
                    "content": {"role": "model", "parts": [{"text": ANSWER}]},
                    "finishReason": "STOP",
                    "index": 0,
                }
            ],
            "usageMetadata": {"promptTokenCount": 1, "candidatesTokenCount": 2, "totalTokenCount": 3},
        }
    return None


def start() -> MockUpstream:
    """Starts the stand-in on a free loopback port, in a thread."""
    received: list[Received] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("content-length") or 0))
            received.append(Received(self.path, {k.lower(): v for k, v in self.headers.items()}, body))
            try:
                answer = answer_for(self.path, json.loads(body or b"{}"))
            except json.JSONDecodeError:
                answer = None
            status = 200 if answer is not None else 404
            payload = json.dumps(answer or {"error": {"message": f"no route {self.path}"}}).encode()
            self.send_response(status)
            self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return MockUpstream(f"http://127.0.0.1:{server.server_address[1]}", server, received)


def upstream_env(mock: MockUpstream) -> dict[str, str]:
    """The environment that points `cairn serve`'s proxy at the stand-in."""
    return {
        "CAIRN_ANTHROPIC_UPSTREAM": mock.url,
        "CAIRN_OPENAI_UPSTREAM": mock.url,
        "CAIRN_GEMINI_UPSTREAM": mock.url,
    }
