"""Cost: tokens and dollars per attempt of each scripted policy (priced as claude-haiku-4-5), and what
prompt caching saves on a 10-turn conversation, from the usage the offline server reports (its token
counts are characters / 4, not a tokenizer)."""

import asyncio
import contextlib
import tempfile
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

from _common import machine, offline_backend, parser, table

from task_lib.agent import loop as agent
from task_lib.agent.pricing import DEFAULT_MODEL, Usage, cost_usd
from task_lib.agent.transcript import read_transcript
from task_lib.offline import policies_for
from task_lib.offline.usage import HAIKU_45_MIN_CACHEABLE_TOKENS
from task_lib.registry import get_task

CONVERSATION_POLICY = "ramble"  # read_file again and again: one turn per step
LOWER_MINIMUM = 1024  # Claude Sonnet 4.5's minimum cacheable prefix, for comparison


async def attempt(directory: Path, model: str, steps: int | None = None, **server_options):
    default = get_task().agent_limits
    limits = default if steps is None else replace(default, max_steps=steps)
    async with offline_backend(**server_options) as backend:
        return await agent.run_attempt(backend, model, directory, limits=limits)


def without_cache_control(value):
    if isinstance(value, dict):
        return {key: without_cache_control(item) for key, item in value.items() if key != "cache_control"}
    if isinstance(value, list):
        return [without_cache_control(item) for item in value]
    return value


@contextlib.contextmanager
def no_cache_control() -> Iterator[None]:
    """The agent sends its requests without any cache_control breakpoint."""
    build = agent.build_request
    agent.build_request = lambda *args: without_cache_control(build(*args))
    try:
        yield
    finally:
        agent.build_request = build


def dollars(usage: dict[str, int]) -> str:
    return f"${cost_usd(Usage(**usage), DEFAULT_MODEL):.4f}"


def policy_rows(tmp: Path, quick: bool) -> list[list]:
    names = [name for name, policy in policies_for(get_task()).items() if policy.next_turn is not None]
    rows = []
    for name in names[:1] if quick else names:
        record = asyncio.run(attempt(tmp / name, policies_for(get_task())[name].model))
        u = record.usage
        rows.append([name, record.outcome, record.steps, f"{u['input_tokens']:,}",
                     f"{u['cache_creation_input_tokens']:,}", f"{u['cache_read_input_tokens']:,}",
                     f"{u['output_tokens']:,}", dollars(u)])
    return rows


def conversation(tmp: Path, turns: int, minimum: int, cached: bool) -> list[dict[str, int]]:
    """The usage of each turn of a `turns`-turn conversation."""
    directory = tmp / f"conversation-{minimum}-{cached}"
    model = policies_for(get_task())[CONVERSATION_POLICY].model
    with contextlib.nullcontext() if cached else no_cache_control():
        record = asyncio.run(attempt(directory, model, turns, min_cacheable_tokens=minimum))
    assert record.steps == turns, record.describe()
    events = read_transcript(directory / agent.TRANSCRIPT_FILE)
    return [{key: value for key, value in e["usage"].items() if key in Usage.__dataclass_fields__}
            for e in events if e["kind"] == "response"]


def totals(turns: list[dict[str, int]]) -> dict[str, int]:
    usage = Usage()
    for turn in turns:
        usage.add(turn)
    return usage.to_dict()


def main() -> None:
    args = parser(__doc__).parse_args()
    turns = 2 if args.quick else 10
    print(f"# Cost ({machine()}; scripted policies priced as {DEFAULT_MODEL}: $1 / $5 per MTok in / out, "
          "cache write 1.25x, cache read 0.1x; not a real cost)\n")
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        table(["policy", "outcome", "turns", "input", "cache write", "cache read", "output", "cost"],
              policy_rows(tmp, args.quick))
        settings = {
            f"cache_control, minimum {HAIKU_45_MIN_CACHEABLE_TOKENS} (Haiku 4.5: applies)":
                conversation(tmp, turns, HAIKU_45_MIN_CACHEABLE_TOKENS, True),
            f"cache_control, minimum {LOWER_MINIMUM} (e.g. Sonnet 4.5; at Haiku prices)":
                conversation(tmp, turns, LOWER_MINIMUM, True),
            "no cache_control": conversation(tmp, turns, HAIKU_45_MIN_CACHEABLE_TOKENS, False),
        }
    uncached = cost_usd(Usage(**totals(settings["no cache_control"])), DEFAULT_MODEL)
    rows = []
    for name, per_turn in settings.items():
        u = totals(per_turn)
        cost = cost_usd(Usage(**u), DEFAULT_MODEL)
        rows.append([name, f"{u['input_tokens']:,}", f"{u['cache_creation_input_tokens']:,}",
                     f"{u['cache_read_input_tokens']:,}", f"{u['output_tokens']:,}", f"${cost:.4f}",
                     f"{1 - cost / uncached:.0%}"])
    print(f"Prompt caching on a {turns}-turn conversation (policy {CONVERSATION_POLICY}):\n")
    table(["requests", "input", "cache write", "cache read", "output", "cost", "saving"], rows)
    at_minimum, at_lower, plain = settings.values()
    written = [i + 1 for i, turn in enumerate(at_minimum) if turn["cache_creation_input_tokens"]]
    print(f"Which minimum applies: {DEFAULT_MODEL} caches no prefix shorter than "
          f"{HAIKU_45_MIN_CACHEABLE_TOKENS:,} tokens, so its first cache write here is at turn "
          f"{written[0] if written else '(none)'}; with a {LOWER_MINIMUM:,}-token minimum every turn's "
          "prefix is cached.\n")
    print("Per turn: the prompt's size, and how each minimum splits it (input / cache write / cache read):\n")
    table(["turn", "prompt tokens", f"minimum {HAIKU_45_MIN_CACHEABLE_TOKENS}", f"minimum {LOWER_MINIMUM}"],
          [[i + 1, f"{whole['input_tokens']:,}", split(a), split(b)]
           for i, (whole, a, b) in enumerate(zip(plain, at_minimum, at_lower, strict=True))])


def split(turn: dict[str, int]) -> str:
    return (f"{turn['input_tokens']:,} / {turn['cache_creation_input_tokens']:,} / "
            f"{turn['cache_read_input_tokens']:,}")


if __name__ == "__main__":
    main()
