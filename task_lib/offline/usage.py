"""Token counts and the prompt-cache simulation of the offline server.

Counts are an approximation, not a tokenizer: a block costs ``ceil(characters / 4)`` tokens of its
canonical JSON (``approx_tokens``). The cache follows the Messages API rules: the prompt is read as
blocks in the order tools → system → messages; a ``cache_control`` breakpoint caches the prefix
ending at its block if that prefix reaches the model's minimum cacheable length; a request reads the
longest cached prefix ending at a breakpoint or at one of the 20 block boundaries before it.
"""

import hashlib
import json
import threading
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

CHARS_PER_TOKEN = 4
HAIKU_45_MIN_CACHEABLE_TOKENS = 4096
"""Claude Haiku 4.5 caches no prefix shorter than 4096 tokens (Anthropic prompt-caching docs)."""
CACHE_LOOKBACK_BLOCKS = 20
MAX_CACHE_BREAKPOINTS = 4


def approx_tokens(text: str) -> int:
    """Approximate token count of ``text``: ceil(characters / 4)."""
    return -(-len(text) // CHARS_PER_TOKEN)


def _canonical(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


@dataclass(frozen=True)
class PromptBlock:
    """One prompt block as the cache sees it: canonical text, and whether it is a breakpoint."""

    text: str
    breakpoint: bool

    @property
    def tokens(self) -> int:
        return approx_tokens(self.text)


def _block(value: dict[str, Any], **context: str) -> PromptBlock:
    content = {key: item for key, item in value.items() if key != "cache_control"}
    return PromptBlock(_canonical({**context, **content}), value.get("cache_control") is not None)


def prompt_blocks(body: dict[str, Any]) -> list[PromptBlock]:
    """The prompt of a validated request as blocks, in cache order: tools, system, messages."""
    blocks = [_block(tool, kind="tool") for tool in body.get("tools") or []]
    system = body.get("system") or []
    if isinstance(system, str):
        system = [{"type": "text", "text": system}]
    blocks += [_block(part, kind="system") for part in system]
    for message in body["messages"]:
        content = message["content"]
        if isinstance(content, str):
            content = [{"type": "text", "text": content}]
        blocks += [_block(part, role=message["role"]) for part in content]
    if body.get("cache_control") and blocks:  # top-level cache_control marks the last block
        blocks[-1] = PromptBlock(blocks[-1].text, True)
    return blocks


@dataclass(frozen=True)
class InputUsage:
    """The input side of ``usage``: the three counts add up to the whole prompt."""

    input_tokens: int
    cache_creation_input_tokens: int
    cache_read_input_tokens: int


class PromptCache:
    """A thread-safe, bounded (least recently used first out) store of cached prompt prefixes."""

    def __init__(
        self, min_cacheable_tokens: int = HAIKU_45_MIN_CACHEABLE_TOKENS, max_entries: int = 10_000
    ):
        self.min_cacheable_tokens = min_cacheable_tokens
        self._max_entries = max_entries
        self._entries: OrderedDict[str, int] = OrderedDict()
        self._lock = threading.Lock()

    def account(self, model: str, blocks: list[PromptBlock]) -> InputUsage:
        """Split the prompt into cache reads, cache writes and uncached input; store the writes."""
        digests, ends = [], []
        running, total = hashlib.sha256(model.encode()), 0
        for block in blocks:
            running.update(block.text.encode() + b"\0")
            total += block.tokens
            digests.append(running.hexdigest())
            ends.append(total)
        breakpoints = [i for i, block in enumerate(blocks) if block.breakpoint]
        candidates = {
            i for b in breakpoints for i in range(max(0, b - CACHE_LOOKBACK_BLOCKS), b + 1)
        }
        with self._lock:
            hits = [i for i in candidates if digests[i] in self._entries]
            read = max((ends[i] for i in hits), default=0)
            for i in hits:
                self._entries.move_to_end(digests[i])
            written = [b for b in breakpoints if ends[b] >= self.min_cacheable_tokens]
            for b in written:
                self._entries[digests[b]] = ends[b]
                self._entries.move_to_end(digests[b])
            while len(self._entries) > self._max_entries:
                self._entries.popitem(last=False)
        created = max(ends[written[-1]] - read, 0) if written else 0
        return InputUsage(total - read - created, created, read)


def output_tokens(block: dict[str, Any]) -> int:
    """Approximate tokens spent on one reply block (text, or a tool use's name and input)."""
    if block["type"] == "text":
        return approx_tokens(block["text"])
    return approx_tokens(_canonical({"name": block["name"], "input": block["input"]}))


def fit_output(
    blocks: list[dict[str, Any]], max_tokens: int
) -> tuple[list[dict[str, Any]], int, bool]:
    """Cut a reply to ``max_tokens`` (text is cut, a tool use that does not fit is dropped).

    Returns the kept blocks, the output token count and whether the reply was cut.
    """
    kept: list[dict[str, Any]] = []
    used = 0
    for block in blocks:
        cost = output_tokens(block)
        if used + cost <= max_tokens:
            kept.append(block)
            used += cost
            continue
        room = max_tokens - used
        if block["type"] == "text" and room > 0:
            kept.append({**block, "text": block["text"][: room * CHARS_PER_TOKEN]})
        return kept, max_tokens, True
    return kept, used, False
