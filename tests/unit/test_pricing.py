"""Cost estimates: known prices, name resolution, unknown models, vectorised == scalar."""

from __future__ import annotations

import json
import math

import numpy as np
import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from services.scorer.core.pricing import PriceTable, default_price_table, estimate_cost, estimate_costs

pytestmark = pytest.mark.unit

TABLE = default_price_table()


def test_table_is_dated_and_covers_the_three_providers() -> None:
    assert TABLE.as_of == "2026-11-01" and TABLE.currency == "USD"
    providers = {price.provider for price in TABLE.models.values()}
    assert {"openai", "anthropic", "google"} <= providers
    for model in ("gpt-4o", "gpt-4.1-nano", "o4-mini", "gpt-5-nano", "claude-opus-4-1", "claude-haiku-4-5",
                  "gemini-2.5-flash-lite", "gemini-1.5-pro"):
        assert model in TABLE.models


def test_known_model_cost() -> None:
    assert estimate_cost("gpt-4o", 1_000_000, 1_000_000) == (12.5, True)
    cost, known = estimate_cost("claude-3-5-sonnet", 2_000, 500)
    assert known and cost == pytest.approx((2_000 * 3 + 500 * 15) / 1e6)
    assert estimate_cost("gpt-4o-mini", 0, 0) == (0.0, True)


@pytest.mark.parametrize(("name", "key"), [
    ("gpt-4o-2024-08-06", "gpt-4o"),
    ("gpt-4o-2024-05-13", "gpt-4o-2024-05-13"),  # an exact entry beats normalisation
    ("openai/gpt-4.1-mini-2025-04-14", "gpt-4.1-mini"),
    ("claude-3-5-sonnet-20241022", "claude-3-5-sonnet"),
    ("claude-3-5-haiku-latest", "claude-3-5-haiku"),
    ("claude-sonnet-4-5-20250929", "claude-sonnet-4-5"),
    ("anthropic.claude-3-5-sonnet-20241022-v2:0", "claude-3-5-sonnet"),
    ("us.anthropic.claude-3-7-sonnet-20250219-v1:0", "claude-3-7-sonnet"),
    ("claude-3-5-sonnet-v2@20241022", "claude-3-5-sonnet"),
    ("models/gemini-1.5-pro-002", "gemini-1.5-pro"),
    ("gemini-2.5-flash-preview-05-20", "gemini-2.5-flash"),
    ("gemini-2.5-flash-lite-preview-06-17", "gemini-2.5-flash-lite"),
    ("GPT-4o-Mini", "gpt-4o-mini"),
    ("o3-mini-2025-01-31", "o3-mini"),
])
def test_names_resolve(name: str, key: str) -> None:
    assert TABLE.resolve(name) == key


@pytest.mark.parametrize("name", ["llama-3-70b", "gpt-4oo", "", None, "my-own-model"])
def test_unknown_model_has_no_cost_not_zero(name) -> None:
    assert estimate_cost(name, 1000, 1000) == (None, False)


def test_negative_tokens_are_rejected() -> None:
    with pytest.raises(ValueError):
        estimate_cost("gpt-4o", -1, 0)
    with pytest.raises(ValueError):
        estimate_costs(["gpt-4o"], [0], [-5])


def test_vectorised_marks_unknown_with_nan() -> None:
    costs, known = estimate_costs(["gpt-4o", None, "mystery", "gpt-4o"], [1e6, 1, 1, 0], [0, 1, 1, 1e6])
    assert known.tolist() == [True, False, False, True]
    assert costs[0] == 2.5 and costs[3] == 10.0 and np.isnan(costs[1:3]).all()
    costs, known = estimate_costs(pa.array(["gpt-4o-mini", "gpt-4o-mini"]).dictionary_encode(), [1e6, 0], [0, 0])
    assert costs.tolist() == [0.15, 0.0] and known.all()


model_names = st.sampled_from([
    "gpt-4o", "gpt-4o-2024-11-20", "openai/o3", "claude-opus-4-20250514", "gemini-2.0-flash-001",
    "unknown-model", "GEMINI-2.5-PRO", "o1-mini-2024-09-12",
])


@settings(max_examples=100, deadline=None)
@given(st.lists(st.tuples(model_names, st.integers(0, 10**7), st.integers(0, 10**7)), max_size=30))
def test_vectorised_equals_scalar(calls) -> None:
    costs, known = estimate_costs([m for m, _, _ in calls], [i for _, i, _ in calls], [o for _, _, o in calls])
    for (model, inputs, outputs), cost, is_known in zip(calls, costs, known):
        want_cost, want_known = estimate_cost(model, inputs, outputs)
        assert is_known == want_known
        assert math.isnan(cost) if want_cost is None else cost == pytest.approx(want_cost, rel=1e-12)


def test_load_from_an_explicit_file(tmp_path) -> None:
    path = tmp_path / "prices.json"
    path.write_text(json.dumps({"as_of": "2030-01-01", "models": {"Tiny": {"input": 1, "output": 2}}}))
    table = PriceTable.load(path)
    assert (table.as_of, table.currency) == ("2030-01-01", "USD")
    assert table.estimate_cost("tiny-20300101", 1_000_000, 1_000_000) == (3.0, True)
    with pytest.raises(ValueError):
        PriceTable.from_dict({"as_of": "2030-01-01", "models": {"x": {"input": -1, "output": 0}}})
    with pytest.raises(ValueError):
        PriceTable.from_dict({"models": {}})
