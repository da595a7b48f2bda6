"""A local Messages API server playing scripted policies (offline, scripted policies: not a model).

``OfflineServer`` answers ``POST /v1/messages`` on 127.0.0.1 like the real API does for a
non-streaming request: the same headers, errors, Message objects, usage and prompt-cache counts, so
the real ``anthropic`` client talks to it unchanged. The model ``scripted:<name>`` selects a policy;
fault policies answer with real HTTP faults. Standard library only: one thread per connection.
"""

import hashlib
import json
import socket
import sys
import threading
import traceback
from collections.abc import Mapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, NamedTuple

from .policy_kit import Fault, ScriptedPolicy, Turn, policies_for, policy_for_model
from .usage import HAIKU_45_MIN_CACHEABLE_TOKENS, PromptCache, fit_output, prompt_blocks
from .wire import ApiError, check_breakpoints, check_headers, message_body, new_id, parse_request

MESSAGES_PATH = "/v1/messages"
MALFORMED_BODY = b'{"id": "msg_offline", "type": "message", "content": [{"type": "te'
RETRIED_STATUSES = frozenset({408, 409, 429, 500, 529})
MAX_ONCE_KEYS = 100_000


class RequestRecord(NamedTuple):
    """One request received: its model (None if unreadable), its status (None if dropped)."""

    model: str | None
    status: int | None


class _Dropped(Exception):
    """The connection is to be closed without an HTTP response."""


class OfflineServer:
    """The offline Messages API on a free port of 127.0.0.1.

    Use as ``with OfflineServer() as server:`` or with ``start()``/``stop()``; point a client at
    ``base_url`` with ``api_key``. ``latency`` seconds pass before each Message reply (errors
    are immediate); ``min_cacheable_tokens`` is the model's minimum cacheable prefix (Haiku
    4.5's 4096 by default; lower it in tests); ``retry_after`` seconds is what retried errors
    ask the client to wait. ``policies`` maps policy names to the policies served (default: those
    of the default task, ``policies_for(get_task())``).
    """

    def __init__(
        self,
        api_key: str = "offline-key",
        latency: float = 0.0,
        *,
        min_cacheable_tokens: int = HAIKU_45_MIN_CACHEABLE_TOKENS,
        retry_after: float = 0.001,
        policies: Mapping[str, ScriptedPolicy] | None = None,
    ):
        from task_lib.registry import get_task

        self._api_key = api_key
        self.latency = latency
        self.retry_after = retry_after
        self.policies = policies_for(get_task()) if policies is None else policies
        self._cache = PromptCache(min_cacheable_tokens)
        self._lock = threading.Lock()
        self._records: list[RequestRecord] = []
        self._faulted_once: set[str] = set()
        self._connections: set[socket.socket] = set()
        self._stopping = threading.Event()
        self._httpd: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def api_key(self) -> str:
        return self._api_key

    @property
    def base_url(self) -> str:
        if self._httpd is None:
            raise RuntimeError(
                "OfflineServer is not running: call start() or use it in a with block"
            )
        host, port = self._httpd.server_address[:2]
        return f"http://{host}:{port}"

    @property
    def requests(self) -> list[RequestRecord]:
        """Every request received so far, in arrival order (a copy)."""
        with self._lock:
            return list(self._records)

    @property
    def request_count(self) -> int:
        with self._lock:
            return len(self._records)

    def start(self) -> "OfflineServer":
        """Listen on a free port and serve in a daemon thread (no-op if already running)."""
        if self._httpd is not None:
            return self
        self._stopping.clear()
        httpd = _HTTPServer(("127.0.0.1", 0), _Handler)
        httpd.offline = self
        self._httpd = httpd
        self._thread = threading.Thread(
            target=httpd.serve_forever,
            kwargs={"poll_interval": 0.05},
            name="offline-messages-api",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and close every open connection; safe to call more than once."""
        httpd, self._httpd = self._httpd, None
        if httpd is None:
            return
        self._stopping.set()
        httpd.shutdown()
        httpd.server_close()
        with self._lock:
            connections = list(self._connections)
        for connection in connections:
            _close_quietly(connection)
        if self._thread is not None:
            self._thread.join()

    def __enter__(self) -> "OfflineServer":
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def _track(self, connection: socket.socket, open_: bool) -> None:
        with self._lock:
            (self._connections.add if open_ else self._connections.discard)(connection)

    def _record(self, model: str | None, status: int | None) -> None:
        with self._lock:
            self._records.append(RequestRecord(model, status))

    def _first_time(self, raw: bytes) -> bool:
        key = hashlib.sha256(raw).hexdigest()
        with self._lock:
            if key in self._faulted_once:
                return False
            if len(self._faulted_once) >= MAX_ONCE_KEYS:
                self._faulted_once.clear()
            self._faulted_once.add(key)
            return True

    def _answer(
        self, method: str, path: str, headers: Mapping[str, str], raw: bytes
    ) -> tuple[int, dict[str, str], bytes]:
        """Status, extra headers and body of the reply to one request; raises ``_Dropped``."""
        model = None
        try:
            if method != "POST" or path.split("?", 1)[0] != MESSAGES_PATH:
                raise ApiError(
                    404,
                    f"{method} {path}: no such endpoint (the offline server serves "
                    f"POST {MESSAGES_PATH})",
                )
            check_headers(headers, self._api_key)
            body = parse_request(raw)
            model = body["model"]
            policy = policy_for_model(model, self.policies)
            if policy is None:
                known = ", ".join(p.model for p in self.policies.values())
                raise ApiError(404, f"model: {model} (the offline server has: {known})")
            if policy.fault is not None and (not policy.fault.once or self._first_time(raw)):
                return self._fault(model, policy.fault)
            reply = self._reply(body, policy.next_turn(body["messages"]))
            if self.latency > 0:
                self._stopping.wait(self.latency)
            if self._stopping.is_set():
                raise _Dropped
        except ApiError as exc:
            self._record(model, exc.status)
            return exc.status, self._error_headers(exc.status), _json(exc.body)
        except _Dropped:
            self._record(model, None)
            raise
        except Exception:  # a bug of ours: answer 500 like the API would, and show the traceback
            traceback.print_exc()
            error = ApiError(500, f"offline server bug while answering {model}")
            self._record(model, 500)
            return 500, self._error_headers(500), _json(error.body)
        self._record(model, 200)
        return 200, {"request-id": new_id("req")}, _json(reply)

    def _reply(self, body: dict[str, Any], turn: Turn) -> dict[str, Any]:
        blocks = prompt_blocks(body)
        check_breakpoints(blocks)
        content: list[dict[str, Any]] = [{"type": "text", "text": turn.text}] if turn.text else []
        content += [
            {"type": "tool_use", "id": new_id("toolu"), "name": use.name, "input": dict(use.input)}
            for use in turn.tool_uses
        ]
        content, output_tokens, truncated = fit_output(content, body["max_tokens"])
        input_usage = self._cache.account(body["model"], blocks)
        return message_body(
            body["model"],
            content,
            truncated=truncated,
            input_usage=input_usage,
            output_tokens=output_tokens,
        )

    def _fault(self, model: str, fault: Fault) -> tuple[int, dict[str, str], bytes]:
        if fault.kind == "dropped_connection":
            raise _Dropped
        if fault.kind == "malformed_body":
            self._record(model, 200)
            return 200, {"request-id": new_id("req")}, MALFORMED_BODY
        raise ApiError(fault.status, f"injected fault: {model} answers {fault.status}")

    def _error_headers(self, status: int) -> dict[str, str]:
        headers = {"request-id": new_id("req")}
        if status in RETRIED_STATUSES:
            headers["x-should-retry"] = "true"
            headers["retry-after"] = str(int(self.retry_after))
            headers["retry-after-ms"] = str(int(self.retry_after * 1000))
        else:
            headers["x-should-retry"] = "false"
        return headers


def _json(value: Any) -> bytes:
    return json.dumps(value).encode()


def _close_quietly(connection: socket.socket) -> None:
    try:
        connection.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass
    connection.close()


class _HTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 128
    offline: OfflineServer

    def handle_error(self, request: Any, client_address: Any) -> None:
        if self.offline._stopping.is_set() or isinstance(sys.exc_info()[1], ConnectionError):
            return  # cut on purpose while stopping, or the client went away (e.g. its timeout)
        super().handle_error(request, client_address)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    timeout = 120  # seconds an idle keep-alive connection may hold its thread
    # headers and body go out as two writes: without this, each reply waits out a delayed ACK
    disable_nagle_algorithm = True
    server: _HTTPServer

    def setup(self) -> None:
        super().setup()
        self.server.offline._track(self.connection, True)

    def finish(self) -> None:
        self.server.offline._track(self.connection, False)
        super().finish()

    def do_POST(self) -> None:
        length = self.headers.get("content-length", "")
        if length.isdigit():
            raw = self.rfile.read(int(length))
        else:  # without a length the rest of the stream cannot be parsed: answer, then close
            raw, self.close_connection = b"", True
        headers = {key.lower(): value for key, value in self.headers.items()}
        try:
            status, extra_headers, body = self.server.offline._answer(
                self.command, self.path, headers, raw
            )
        except _Dropped:
            self.close_connection = True
            _close_quietly(self.connection)
            return
        self.send_response(status)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(body)))
        for key, value in extra_headers.items():
            self.send_header(key, value)
        self.end_headers()
        self.wfile.write(body)

    do_GET = do_PUT = do_DELETE = do_PATCH = do_POST

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: the server keeps its own log in ``OfflineServer.requests``."""
