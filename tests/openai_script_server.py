"""A scripted OpenAI-compatible chat completions server on 127.0.0.1, for driving verifiers offline.

`ScriptedChatServer(turns)` answers `POST .../chat/completions`: the reply to a conversation holding k
assistant messages is `turns[k]` (a list of `(tool name, arguments)` calls), and plain text once the
script is over. It is stateless, so retries and concurrent rollouts get the same answers; both
streamed (SSE) and plain responses are served. `requests` records every request body.
"""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

ToolCall = tuple[str, dict[str, Any]]


def reply_message(turns: list[list[ToolCall]], messages: list[dict]) -> dict[str, Any]:
    """The assistant message answering `messages` under the script `turns`."""
    step = sum(message.get("role") == "assistant" for message in messages)
    if step >= len(turns):
        return {"role": "assistant", "content": "Done."}
    calls = [{"id": f"call_{step}_{i}", "type": "function",
              "function": {"name": name, "arguments": json.dumps(arguments)}}
             for i, (name, arguments) in enumerate(turns[step])]
    return {"role": "assistant", "content": None, "tool_calls": calls}


class ScriptedChatServer:
    """The server, started on a free port of 127.0.0.1; `base_url` ends in /v1; use as a context."""

    def __init__(self, turns: list[list[ToolCall]]):
        self.turns, self.requests = turns, []
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_POST(self):
                body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))) or b"{}")
                if not self.path.rstrip("/").endswith("/chat/completions"):
                    self.send_error(404)
                    return
                server.requests.append(body)
                message = reply_message(server.turns, body.get("messages", []))
                finish = "tool_calls" if message.get("tool_calls") else "stop"
                if body.get("stream"):
                    self.stream(body, message, finish)
                else:
                    self.send_json({"id": "scripted", "object": "chat.completion", "created": 0,
                                    "model": body.get("model", "scripted"),
                                    "choices": [{"index": 0, "message": message, "finish_reason": finish}],
                                    "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2}})

            def send_json(self, payload):
                data = json.dumps(payload).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def stream(self, body, message, finish):
                delta = {key: value for key, value in message.items() if value is not None}
                for call_index, call in enumerate(delta.get("tool_calls", [])):
                    call["index"] = call_index
                base = {"id": "scripted", "object": "chat.completion.chunk", "created": 0,
                        "model": body.get("model", "scripted")}
                chunks = [{**base, "choices": [{"index": 0, "delta": delta, "finish_reason": None}]},
                          {**base, "choices": [{"index": 0, "delta": {}, "finish_reason": finish}]},
                          {**base, "choices": [], "usage": {"prompt_tokens": 1, "completion_tokens": 1,
                                                            "total_tokens": 2}}]
                self.send_response(200)
                self.send_header("Content-Type", "text/event-stream")
                self.end_headers()
                for chunk in chunks:
                    self.wfile.write(f"data: {json.dumps(chunk)}\n\n".encode())
                self.wfile.write(b"data: [DONE]\n\n")

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.base_url = f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"

    def __enter__(self) -> ScriptedChatServer:
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
