"""An attempt's transcript: every request, response, tool call and result, as JSON lines.

Each event is a dict with a `kind` ("start", "request", "response", "tool_call", "tool_result",
"api_error", "grade", "end") and is written (and flushed) as one line the moment it happens, then
passed to an optional callback. A "request" holds only the messages added since the previous request
(`new_messages`), so the full conversation is the concatenation of those, after "start"'s system
prompt and tools.
"""

from __future__ import annotations

import html
import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

EventCallback = Callable[[dict[str, Any]], None]
PREVIEW_LINES = 10
PREVIEW_CHARS = 1_500


class Transcript:
    """Appends events to a JSON-lines file and forwards each to `on_event`."""

    def __init__(self, path: Path, on_event: EventCallback | None = None):
        self.path = path
        self.on_event = on_event
        self._start = time.monotonic()
        path.parent.mkdir(parents=True, exist_ok=True)
        self._file = open(path, "w", encoding="utf-8", errors="backslashreplace")

    def record(self, kind: str, **fields: Any) -> dict[str, Any]:
        """Write one event and return it."""
        event = {"kind": kind, "t": round(time.monotonic() - self._start, 3), **fields}
        self._file.write(json.dumps(event, ensure_ascii=False, default=str) + "\n")
        self._file.flush()
        if self.on_event is not None:
            self.on_event(event)
        return event

    def close(self) -> None:
        self._file.close()

    def __enter__(self) -> Transcript:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


def read_transcript(path: Path | str) -> list[dict[str, Any]]:
    """The events of a saved transcript, in order."""
    with open(path, encoding="utf-8") as handle:
        return [json.loads(line) for line in handle if line.strip()]


def preview(text: str, lines: int = PREVIEW_LINES, chars: int = PREVIEW_CHARS) -> str:
    """The start of `text` for a console: at most `lines` lines and `chars` characters."""
    kept = text[:chars].splitlines()[:lines]
    shown = "\n".join(kept)
    hidden = len(text) - len(shown)
    return shown + (f"\n… ({hidden:,} more characters in the transcript)" if hidden > 0 else "")


def format_event(event: dict[str, Any]) -> str | None:
    """A console rendering of one event (None for events not worth a line)."""
    kind, step = event["kind"], event.get("step")
    tag = f"[{step:>2}]" if step is not None else "    "
    if kind == "start":
        return f"attempt on {event['model']} ({event['label']}); workspace {event['workspace']}"
    if kind == "response":
        lines = []
        for block in event["content"]:
            if block.get("type") == "text" and block.get("text", "").strip():
                lines.append(f"{tag} assistant: {_indent(preview(block['text']))}")
        usage = event.get("usage") or {}
        lines.append(f"{tag} ({event['stop_reason']}; {usage.get('output_tokens', 0)} output tokens)")
        return "\n".join(lines)
    if kind == "tool_call":
        arguments = {key: _short(value) for key, value in event["input"].items()}
        return f"{tag} → {event['name']} {json.dumps(arguments, ensure_ascii=False)}"
    if kind == "tool_result":
        mark = "error" if event["is_error"] else "result"
        return f"{tag} ← {mark}: {_indent(preview(event['text']))}"
    if kind == "api_error":
        return f"{tag} API error: {event['message']}"
    if kind == "end":
        return f"     ended: {event['summary']}"
    return None


def print_event(event: dict[str, Any]) -> None:
    """An `on_event` callback printing each event worth a line as it happens (CLI and notebooks)."""
    line = format_event(event)
    if line is not None:
        print(line, flush=True)


CODE_PREVIEW_LINES = 40
CODE_PREVIEW_CHARS = 4_000
RESULT_PREVIEW_LINES = 15
LONG_INPUTS = ("content", "code")


def markdown_event(event: dict[str, Any]) -> str | None:
    """A Markdown rendering of one event for a notebook (None for events not worth showing):
    model text as a quote (HTML escaped), tool calls with their code in fenced blocks, results trimmed."""
    kind, step = event["kind"], event.get("step")
    tag = f"**[{step}]**" if step is not None else ""
    if kind == "start":
        return (f"**Attempt** of `{event['model']}` ({event['label']}); tolerance "
                f"{event.get('tolerance', '')}, at most {event['limits']['max_steps']} steps")
    if kind == "response":
        texts = [block["text"] for block in event["content"]
                 if block.get("type") == "text" and block.get("text", "").strip()]
        usage = event.get("usage") or {}
        quoted = "\n>\n".join("> " + html.escape(preview(text), quote=False).replace("\n", "\n> ")
                                for text in texts)
        note = f"*{event['stop_reason']}; {usage.get('output_tokens', 0)} output tokens*"
        return f"{tag} assistant, {note}\n\n{quoted}" if quoted else f"{tag} assistant, {note}"
    if kind == "tool_call":
        short = {key: value for key, value in event["input"].items() if key not in LONG_INPUTS}
        arguments = " ".join(_code_span(f"{key}={_short(value)}") for key, value in short.items())
        lines = [f"{tag} → tool call `{event['name']}` {arguments}".rstrip()]
        for key in LONG_INPUTS:
            if isinstance(event["input"].get(key), str):
                text = preview(event["input"][key].rstrip("\n"), CODE_PREVIEW_LINES, CODE_PREVIEW_CHARS)
                lines.append(fenced(text, "python" if _is_python(event["input"], key) else ""))
        return "\n\n".join(lines)
    if kind == "tool_result":
        mark = "error" if event["is_error"] else "result"
        return f"{tag} ← {mark}\n\n" + fenced(preview(event["text"].rstrip("\n"), RESULT_PREVIEW_LINES))
    if kind == "api_error":
        return f"{tag} **API error:** {event['message']}"
    if kind == "end":
        return f"**Ended:** {event['summary']}"
    return None


def _longest_backtick_run(text: str) -> int:
    run, longest = 0, 0
    for char in text:
        run = run + 1 if char == "`" else 0
        longest = max(longest, run)
    return longest


def fenced(text: str, language: str = "") -> str:
    """`text` in a Markdown code fence longer than any run of backticks inside it."""
    fence = "`" * max(3, _longest_backtick_run(text) + 1)
    return f"{fence}{language}\n{text}\n{fence}"


def _code_span(text: str) -> str:
    """`text` as inline Markdown code, whatever backticks it holds."""
    ticks = "`" * (_longest_backtick_run(text) + 1)
    return f"{ticks} {text} {ticks}" if "`" in text else f"{ticks}{text}{ticks}"


def _is_python(tool_input: dict[str, Any], key: str) -> bool:
    return key == "code" or str(tool_input.get("path", "")).endswith(".py")


def _short(value: Any, limit: int = 60) -> Any:
    if isinstance(value, str) and len(value) > limit:
        return value[:limit] + f"… ({len(value):,} chars)"
    return value


def _indent(text: str) -> str:
    return text.replace("\n", "\n" + " " * 8)
