"""Inspect's `mockllm/model` playing the pack's scripted policies (offline, scripted policies: not a
model): Inspect's messages become the Messages API dicts a policy reads, its Turn an Inspect output.

`epoch_policies(names)` picks the policy by the sample's epoch (epoch e plays names[(e - 1) % len]),
so one eval of one sample x N epochs plays N attempts, as `calibrate` plays a mix.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Sequence
from typing import Any

from inspect_ai.log._samples import sample_active
from inspect_ai.model import (
    ChatCompletionChoice,
    ChatMessage,
    ChatMessageAssistant,
    ChatMessageTool,
    ChatMessageUser,
    GenerateConfig,
    Model,
    ModelOutput,
    ModelUsage,
    get_model,
)
from inspect_ai.tool import ToolCall

from task_lib.offline import ScriptedPolicy, Turn

CHARS_PER_TOKEN = 4
_ids = itertools.count()


def as_api_messages(messages: list[ChatMessage]) -> list[dict[str, Any]]:
    """Inspect's conversation as Messages API messages (the system prompt is not a message there)."""
    out: list[dict[str, Any]] = []
    for message in messages:
        if isinstance(message, ChatMessageUser):
            out.append({"role": "user", "content": [{"type": "text", "text": message.text}]})
        elif isinstance(message, ChatMessageAssistant):
            blocks = [{"type": "text", "text": message.text}] if message.text else []
            blocks += [{"type": "tool_use", "id": call.id, "name": call.function, "input": call.arguments}
                       for call in message.tool_calls or []]
            out.append({"role": "assistant", "content": blocks})
        elif isinstance(message, ChatMessageTool):
            block = {"type": "tool_result", "tool_use_id": message.tool_call_id, "content": message.text,
                     "is_error": message.error is not None}
            if out and out[-1]["role"] == "user" and out[-1]["content"][-1]["type"] == "tool_result":
                out[-1]["content"].append(block)
            else:
                out.append({"role": "user", "content": [block]})
    return out


def as_output(turn: Turn, max_tokens: int | None, input_chars: int) -> ModelOutput:
    """A policy's turn as Inspect model output; text beyond `max_tokens` is cut with stop reason
    max_tokens (and its tool calls dropped), as the API does. Usage is set (about 4 characters a
    token), so that mockllm never needs a tokenizer download."""
    text, calls = turn.text, [ToolCall(id=f"toolu_{next(_ids)}", function=use.name, arguments=dict(use.input))
                              for use in turn.tool_uses]
    stop = "tool_calls" if calls else "stop"
    if max_tokens is not None and len(text) > max_tokens * CHARS_PER_TOKEN:
        text, calls, stop = text[:max_tokens * CHARS_PER_TOKEN], [], "max_tokens"
    message = ChatMessageAssistant(content=text, tool_calls=calls or None, model="scripted",
                                   source="generate")
    output_chars = len(text) + len(json.dumps([call.arguments for call in calls]))
    usage = ModelUsage(input_tokens=input_chars // CHARS_PER_TOKEN,
                       output_tokens=output_chars // CHARS_PER_TOKEN,
                       total_tokens=(input_chars + output_chars) // CHARS_PER_TOKEN)
    return ModelOutput(model="scripted", choices=[ChatCompletionChoice(message=message, stop_reason=stop)],
                       usage=usage)


def epoch_policies(policies: Sequence[ScriptedPolicy]) -> Model:
    """A mockllm model playing policies[(epoch - 1) % len(policies)] in each epoch of a sample."""

    def generate(messages: list[ChatMessage], tools: Any, tool_choice: Any,
                 config: GenerateConfig) -> ModelOutput:
        active = sample_active()
        epoch = active.epoch if active is not None else 1
        policy = policies[(epoch - 1) % len(policies)]
        assert policy.next_turn is not None, f"{policy.name} plays HTTP faults, not turns"
        api_messages = as_api_messages(messages)
        return as_output(policy.next_turn(api_messages), config.max_tokens, len(dumps(api_messages)))

    return get_model("mockllm/model", custom_outputs=generate, memoize=False)


def dumps(value: Any) -> str:
    return json.dumps(value, sort_keys=True, default=str)
