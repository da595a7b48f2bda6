"""The price table and the usage accumulator."""

import pytest

from task_lib.agent.pricing import Usage, cost_usd, price_model, price_note


def test_haiku_prices_input_output_cache_writes_and_reads():
    million = 1_000_000
    assert cost_usd(Usage(input_tokens=million), "claude-haiku-4-5") == pytest.approx(1.0)
    assert cost_usd(Usage(output_tokens=million), "claude-haiku-4-5") == pytest.approx(5.0)
    assert cost_usd(Usage(cache_creation_input_tokens=million), "claude-haiku-4-5") == pytest.approx(1.25)
    assert cost_usd(Usage(cache_read_input_tokens=million), "claude-haiku-4-5") == pytest.approx(0.10)


def test_dated_ids_and_scripted_models_are_priced_and_say_how():
    assert price_model("claude-haiku-4-5-20251001") == "claude-haiku-4-5"
    assert price_model("scripted:near_miss") == "claude-haiku-4-5"
    note = price_note("scripted:mix")
    assert "priced as claude-haiku-4-5" in note and "not a real cost" in note


def test_unknown_models_have_no_cost():
    assert price_model("claude-haiku-4-50") is None and cost_usd(Usage(input_tokens=10), "gpt-4o") is None


def test_usage_adds_sdk_objects_and_dicts_treating_missing_counts_as_zero():
    class SdkUsage:
        input_tokens, output_tokens = 10, 5
        cache_creation_input_tokens, cache_read_input_tokens = None, 7

    usage = Usage()
    usage.add(SdkUsage())
    usage.add({"input_tokens": 1, "output_tokens": 2})
    assert usage.to_dict() == {"input_tokens": 11, "output_tokens": 7, "cache_creation_input_tokens": 0,
                               "cache_read_input_tokens": 7}
    assert usage.total == 25
