"""Choosing a backend and a model: defaults, validation, and the offline calibration mix."""

import asyncio

import pytest
from tasks.variance_dropout.task_files import CALIBRATION_MIX

from task_lib.agent.backends import BackendError, check_choice, default_backend_name, open_backend
from task_lib.offline import OFFLINE_LABEL


def test_default_backend_follows_the_api_key(monkeypatch):
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-ant-test")
    assert default_backend_name() == "anthropic"
    monkeypatch.delenv("ANTHROPIC_API_KEY")
    assert default_backend_name() == "offline"


@pytest.mark.parametrize(
    ("backend", "model", "message"),
    [
        ("openai", "gpt-4o", "choose one of anthropic, offline"),
        ("offline", "claude-haiku-4-5", "scripted:mix"),
        ("offline", "scripted:unknown", "scripted:fix_math_sqrt"),
        ("anthropic", "scripted:mix", "--backend offline"),
        ("anthropic", "claude-9", "claude-haiku-4-5"),
        ("anthropic", "claude-haiku-4-5", "ANTHROPIC_API_KEY"),
    ],
)
def test_bad_choices_name_what_to_use_instead(monkeypatch, backend, model, message):
    monkeypatch.delenv("ANTHROPIC_API_KEY", raising=False)
    with pytest.raises(BackendError, match=message.replace(".", r"\.")):
        check_choice(backend, model)


def test_good_choices_pass(monkeypatch):
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-ant-test")
    check_choice("anthropic", "claude-haiku-4-5-20251001")
    check_choice("offline", "scripted:mix")
    check_choice("offline", "scripted:ramble")


def test_offline_backend_is_labelled_and_plays_the_mix_in_turn():
    async def open_and_resolve():
        async with open_backend("offline") as backend:
            assert backend.server is not None and str(backend.client.base_url).startswith("http://127.0.0.1:")
            return backend.label, [backend.resolve_model("scripted:mix", i) for i in range(12)]

    label, models = asyncio.run(open_and_resolve())
    assert label == OFFLINE_LABEL
    assert models == [f"scripted:{CALIBRATION_MIX[i % len(CALIBRATION_MIX)]}" for i in range(12)]


def test_anthropic_backend_honours_anthropic_base_url(monkeypatch):
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-ant-test")
    monkeypatch.setenv("ANTHROPIC_BASE_URL", "http://127.0.0.1:9/")

    async def base_url():
        async with open_backend("anthropic") as backend:
            return str(backend.client.base_url), backend.label

    url, label = asyncio.run(base_url())
    assert url.startswith("http://127.0.0.1:9") and "offline" not in label
