"""The Messages API wire format as the offline server speaks it: checks on a request, error bodies,
and the Message object of a reply.

Only the parts an agent loop uses are modelled: non-streaming ``POST /v1/messages`` with text, tool
use and tool result blocks, and the error shape ``{"type": "error", "error": {"type", "message"}}``.
"""

import hmac
import json
import uuid
from collections.abc import Mapping
from typing import Any

from .usage import MAX_CACHE_BREAKPOINTS, InputUsage, PromptBlock

ERROR_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    404: "not_found_error",
    429: "rate_limit_error",
    500: "api_error",
    529: "overloaded_error",
}


class ApiError(Exception):
    """An error reply: HTTP status and message; the error type follows from the status."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status
        self.message = message

    @property
    def body(self) -> dict[str, Any]:
        return error_body(self.status, self.message)


def error_body(status: int, message: str) -> dict[str, Any]:
    """The Messages API error object for ``status``."""
    return {"type": "error", "error": {"type": ERROR_TYPES[status], "message": message}}


def check_headers(headers: Mapping[str, str], api_key: str) -> None:
    """Raise 401 unless the key (x-api-key or Bearer) matches, 400 without anthropic-version."""
    authorization = headers.get("authorization") or ""
    bearer = authorization[7:] if authorization.lower().startswith("bearer ") else ""
    key = headers.get("x-api-key") or bearer
    if not hmac.compare_digest(key.encode(), api_key.encode()):
        raise ApiError(401, "invalid x-api-key")
    if not headers.get("anthropic-version"):
        raise ApiError(400, "anthropic-version: header is required")


def parse_request(raw: bytes) -> dict[str, Any]:
    """Decode and check a request body; raise ``ApiError(400)`` naming the first bad field."""
    try:
        body = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ApiError(400, f"request body is not valid JSON: {exc}") from None
    if not isinstance(body, dict):
        raise ApiError(400, "request body must be a JSON object")
    if not isinstance(body.get("model"), str) or not body["model"]:
        raise ApiError(400, "model: a model name (string) is required")
    max_tokens = body.get("max_tokens")
    if isinstance(max_tokens, bool) or not isinstance(max_tokens, int) or max_tokens < 1:
        raise ApiError(400, "max_tokens: must be a positive integer")
    if body.get("stream"):
        raise ApiError(400, "stream: streaming not supported by the offline server")
    _check_system(body.get("system"))
    _check_tools(body.get("tools"))
    _check_messages(body.get("messages"))
    return body


def check_breakpoints(blocks: list[PromptBlock]) -> None:
    """Raise 400 when a request marks more blocks for caching than the API allows."""
    count = sum(block.breakpoint for block in blocks)
    if count > MAX_CACHE_BREAKPOINTS:
        raise ApiError(
            400, f"cache_control: at most {MAX_CACHE_BREAKPOINTS} blocks may be marked, got {count}"
        )


def _check_blocks(blocks: Any, where: str) -> None:
    if not isinstance(blocks, list):
        raise ApiError(400, f"{where}: must be a string or a list of content blocks")
    for j, block in enumerate(blocks):
        if not isinstance(block, dict) or not isinstance(block.get("type"), str):
            raise ApiError(400, f"{where}.{j}.type: field required")
        _check_cache_control(block, f"{where}.{j}")


def _check_cache_control(block: dict[str, Any], where: str) -> None:
    cache_control = block.get("cache_control")
    if cache_control is not None and (
        not isinstance(cache_control, dict) or cache_control.get("type") != "ephemeral"
    ):
        raise ApiError(400, f"{where}.cache_control.type: must be 'ephemeral'")


def _check_system(system: Any) -> None:
    if system is None or isinstance(system, str):
        return
    _check_blocks(system, "system")
    for j, block in enumerate(system):
        if block["type"] != "text" or not isinstance(block.get("text"), str):
            raise ApiError(400, f"system.{j}: only text blocks are allowed")


def _check_tools(tools: Any) -> None:
    if tools is None:
        return
    if not isinstance(tools, list):
        raise ApiError(400, "tools: must be a list")
    for j, tool in enumerate(tools):
        if not isinstance(tool, dict) or not isinstance(tool.get("name"), str):
            raise ApiError(400, f"tools.{j}.name: field required")
        _check_cache_control(tool, f"tools.{j}")


def _tool_ids(content: Any, block_type: str, id_key: str) -> list[str]:
    if isinstance(content, str):
        return []
    return [block.get(id_key) for block in content if block["type"] == block_type]


def _check_messages(messages: Any) -> None:
    if not isinstance(messages, list) or not messages:
        raise ApiError(400, "messages: a non-empty list of messages is required")
    for i, message in enumerate(messages):
        if not isinstance(message, dict) or message.get("role") not in ("user", "assistant"):
            raise ApiError(400, f"messages.{i}.role: must be 'user' or 'assistant'")
        expected = "user" if i % 2 == 0 else "assistant"
        if message["role"] != expected:
            raise ApiError(
                400,
                f"messages.{i}.role: roles must alternate user/assistant starting with user",
            )
        if not isinstance(message.get("content"), str):
            _check_blocks(message.get("content"), f"messages.{i}.content")
    for i in range(1, len(messages), 2):
        uses = _tool_ids(messages[i]["content"], "tool_use", "id")
        if not uses or i + 1 == len(messages):
            continue
        results = _tool_ids(messages[i + 1]["content"], "tool_result", "tool_use_id")
        missing = [tool_id for tool_id in uses if tool_id not in results]
        if missing:
            raise ApiError(
                400,
                f"messages.{i + 1}: tool_use ids without a tool_result block in the next message: "
                + ", ".join(map(str, missing)),
            )
    for i in range(0, len(messages), 2):
        uses = _tool_ids(messages[i - 1]["content"], "tool_use", "id") if i else []
        unexpected = [
            tool_id
            for tool_id in _tool_ids(messages[i]["content"], "tool_result", "tool_use_id")
            if tool_id not in uses
        ]
        if unexpected:
            raise ApiError(
                400,
                f"messages.{i}: tool_result blocks with no tool_use in the previous message: "
                + ", ".join(map(str, unexpected)),
            )


def new_id(prefix: str) -> str:
    """A fresh identifier in the API's style, e.g. ``msg_…`` or ``toolu_…``."""
    return f"{prefix}_{uuid.uuid4().hex[:24]}"


def message_body(
    model: str,
    content: list[dict[str, Any]],
    *,
    truncated: bool,
    input_usage: InputUsage,
    output_tokens: int,
) -> dict[str, Any]:
    """The Message object of a reply."""
    if truncated:
        stop_reason = "max_tokens"
    elif any(block["type"] == "tool_use" for block in content):
        stop_reason = "tool_use"
    else:
        stop_reason = "end_turn"
    return {
        "id": new_id("msg"),
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": content,
        "stop_reason": stop_reason,
        "stop_sequence": None,
        "usage": {
            "input_tokens": input_usage.input_tokens,
            "output_tokens": output_tokens,
            "cache_creation_input_tokens": input_usage.cache_creation_input_tokens,
            "cache_read_input_tokens": input_usage.cache_read_input_tokens,
            "cache_creation": {
                "ephemeral_5m_input_tokens": input_usage.cache_creation_input_tokens,
                "ephemeral_1h_input_tokens": 0,
            },
            "service_tier": "standard",
        },
    }
