"""Where model calls go: the Anthropic API, or the offline server playing scripted policies.

`open_backend(name)` yields a `Backend` holding one shared `anthropic.AsyncAnthropic` client. The
anthropic backend creates it without a base_url, so ANTHROPIC_BASE_URL is honoured; the offline
backend starts an `OfflineServer` on 127.0.0.1 and stops it on exit. With no name, the backend is
"anthropic" when ANTHROPIC_API_KEY is set, else "offline". Bad choices raise `BackendError` naming
the valid ones. `anthropic` is imported only when a backend is opened.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

from task_lib.agent.pricing import DEFAULT_MODEL, PRICES, price_model
from task_lib.offline.policy_kit import MODEL_PREFIX, OFFLINE_LABEL, calibration_mix, policies_for
from task_lib.registry import get_task
from task_lib.task import Task

if TYPE_CHECKING:
    from anthropic import AsyncAnthropic

    from task_lib.offline import OfflineServer

BACKENDS = ("anthropic", "offline")
API_KEY_VARIABLE = "ANTHROPIC_API_KEY"
MIX_MODEL = MODEL_PREFIX + "mix"
DEFAULT_MODELS = {"anthropic": DEFAULT_MODEL, "offline": MIX_MODEL}
ANTHROPIC_LABEL = "Anthropic API"
REQUEST_TIMEOUT_SECONDS = {"anthropic": 300.0, "offline": 30.0}
MAX_RETRIES = 2


class BackendError(ValueError):
    """A backend or model that cannot be used, or a missing API key: the message says what to change."""


@dataclass
class Backend:
    """A client and what it talks to. `label` is shown next to every result it produces; `server` is
    the offline server (its `requests` log every call), None for the anthropic backend."""

    name: str
    client: AsyncAnthropic
    label: str
    server: OfflineServer | None = None
    task: Task | None = None  # the task whose policies the offline server plays

    def resolve_model(self, model: str, index: int = 0) -> str:
        """The model attempt `index` calls: `scripted:mix` plays the task's calibration mix in turn."""
        if model == MIX_MODEL:
            mix = calibration_mix(self.task or get_task())
            return MODEL_PREFIX + mix[index % len(mix)]
        return model


def default_backend_name() -> str:
    """"anthropic" when ANTHROPIC_API_KEY is set, else "offline"."""
    return "anthropic" if os.environ.get(API_KEY_VARIABLE) else "offline"


def offline_models(task: Task | None = None) -> list[str]:
    """The model names the offline backend accepts for `task` (default: variance-dropout)."""
    return [MIX_MODEL] + [policy.model for policy in policies_for(task or get_task()).values()]


def check_choice(backend: str, model: str, task: Task | None = None) -> None:
    """Raise BackendError unless `model` can run on `backend` for `task` (and, for anthropic, a key
    is set)."""
    if backend not in BACKENDS:
        raise BackendError(f"unknown backend {backend!r}: choose one of {', '.join(BACKENDS)}")
    if backend == "offline":
        if model not in offline_models(task):
            raise BackendError(
                f"the offline backend plays scripted policies, not {model!r}: choose one of "
                + ", ".join(offline_models(task))
            )
        return
    if model.startswith(MODEL_PREFIX):
        raise BackendError(f"{model!r} is a scripted policy: use it with --backend offline")
    if price_model(model) is None:
        raise BackendError(
            f"unknown model {model!r}: choose one of {', '.join(PRICES)} (or a dated id of one)"
        )
    if not os.environ.get(API_KEY_VARIABLE):
        raise BackendError(
            f"{API_KEY_VARIABLE} is not set: export it to use the anthropic backend, "
            "or use --backend offline"
        )


@contextlib.asynccontextmanager
async def open_backend(name: str | None = None, *, max_retries: int = MAX_RETRIES,
                       task: Task | None = None) -> AsyncIterator[Backend]:
    """A ready backend (default: `default_backend_name()`) for `task` (default: variance-dropout);
    its client and server close on exit."""
    import anthropic

    name = name or default_backend_name()
    if name not in BACKENDS:
        raise BackendError(f"unknown backend {name!r}: choose one of {', '.join(BACKENDS)}")
    timeout = REQUEST_TIMEOUT_SECONDS[name]
    if name == "anthropic":
        if not os.environ.get(API_KEY_VARIABLE):
            raise BackendError(f"{API_KEY_VARIABLE} is not set: export it, or use --backend offline")
        client = anthropic.AsyncAnthropic(max_retries=max_retries, timeout=timeout)
        async with client:
            yield Backend(name, client, ANTHROPIC_LABEL, task=task)
        return
    from task_lib.offline import OfflineServer

    with OfflineServer(policies=policies_for(task or get_task())) as server:
        client = anthropic.AsyncAnthropic(
            api_key=server.api_key, base_url=server.base_url, max_retries=max_retries, timeout=timeout
        )
        async with client:
            yield Backend(name, client, OFFLINE_LABEL, server, task=task)
