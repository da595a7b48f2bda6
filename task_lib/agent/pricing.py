"""Token usage of an attempt and what it costs: a usage accumulator and a price table in code.

Prices are US dollars per million tokens (Anthropic's public price list). A cache write costs 1.25x
the input price (5-minute cache) and a cache read 0.1x. Scripted (offline) models are priced as
claude-haiku-4-5, and every cost computed for them says so.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

CACHE_WRITE_FACTOR = 1.25
CACHE_READ_FACTOR = 0.10
DEFAULT_MODEL = "claude-haiku-4-5"
SCRIPTED_PREFIX = "scripted:"


@dataclass(frozen=True)
class Price:
    """Dollars per million tokens of each kind."""

    input: float
    output: float

    @property
    def cache_write(self) -> float:
        return self.input * CACHE_WRITE_FACTOR

    @property
    def cache_read(self) -> float:
        return self.input * CACHE_READ_FACTOR


PRICES: dict[str, Price] = {
    "claude-haiku-4-5": Price(1.0, 5.0),
    "claude-sonnet-4-5": Price(3.0, 15.0),
    "claude-opus-4-5": Price(5.0, 25.0),
    "claude-opus-4-1": Price(15.0, 75.0),
}
"""Model aliases; a dated model id such as claude-haiku-4-5-20251001 is priced as its alias."""


@dataclass
class Usage:
    """Token counts summed over the responses of an attempt (or of a whole run)."""

    input_tokens: int = 0
    output_tokens: int = 0
    cache_creation_input_tokens: int = 0
    cache_read_input_tokens: int = 0

    def add(self, usage: Any) -> None:
        """Add one response's `usage` (an SDK object or a dict; missing counts are zero)."""
        for name in asdict(self):
            value = usage.get(name) if isinstance(usage, dict) else getattr(usage, name, None)
            setattr(self, name, getattr(self, name) + int(value or 0))

    @property
    def total(self) -> int:
        """Every token processed: uncached input, cache writes, cache reads and output."""
        return sum(asdict(self).values())

    def to_dict(self) -> dict[str, int]:
        return asdict(self)


def price_model(model: str) -> str | None:
    """The price-table entry `model` is priced as (scripted models: claude-haiku-4-5), or None."""
    if model.startswith(SCRIPTED_PREFIX):
        return DEFAULT_MODEL
    return next((name for name in PRICES if model == name or model.startswith(name + "-")), None)


def price_note(model: str) -> str:
    """One line saying which prices a model's cost uses."""
    priced_as = price_model(model)
    if priced_as is None:
        return f"no price known for {model}: cost not computed"
    if model.startswith(SCRIPTED_PREFIX):
        return f"scripted models are priced as {priced_as}; not a real cost"
    return f"priced as {priced_as}"


def cost_usd(usage: Usage, model: str) -> float | None:
    """Dollar cost of `usage` on `model`, or None when the model has no price."""
    priced_as = price_model(model)
    if priced_as is None:
        return None
    price = PRICES[priced_as]
    dollars = (
        usage.input_tokens * price.input
        + usage.output_tokens * price.output
        + usage.cache_creation_input_tokens * price.cache_write
        + usage.cache_read_input_tokens * price.cache_read
    )
    return dollars / 1_000_000
