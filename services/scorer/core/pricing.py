"""LLM cost estimates from a dated list-price table (``prices.json``).

A model name resolves to a table entry in three steps, first hit wins:

1. exact: the name as given, then lower-cased and trimmed;
2. normalised: provider prefixes dropped ('openai/', 'models/', 'anthropic.' of Bedrock
   ids), then version and date suffixes stripped one by one ('@20241022', ':0', '-v2',
   '-2024-08-06', '-20241022', '-latest'), looking the name up after each step;
3. longest known prefix that ends at a '-' ('gemini-2.5-flash-preview-05-20' → 'gemini-2.5-flash').

An unknown model has no cost (None / NaN, ``known`` False), never 0.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

TOKENS_PER_UNIT = 1_000_000
_PROVIDER_PREFIX = re.compile(r"^(?:[a-z]{2}\.)?(?:anthropic|openai|google|amazon|meta)\.")
_SUFFIXES = (
    re.compile(r"@[\w.-]+$"),           # Vertex: claude-3-5-sonnet-v2@20241022
    re.compile(r":\d+$"),               # Bedrock: ...-v2:0
    re.compile(r"-v\d+$"),              # ...-v2
    re.compile(r"-\d{4}-\d{2}-\d{2}$"),  # gpt-4o-2024-08-06
    re.compile(r"-\d{8}$"),             # claude-3-5-sonnet-20241022
    re.compile(r"-latest$"),
)


@dataclass(frozen=True)
class ModelPrice:
    """List price of one model, in the table's currency per 1M tokens."""

    provider: str
    input_per_mtok: float
    output_per_mtok: float

    def cost(self, input_tokens: float, output_tokens: float) -> float:
        return (input_tokens * self.input_per_mtok + output_tokens * self.output_per_mtok) / TOKENS_PER_UNIT


@dataclass(frozen=True)
class PriceTable:
    """Prices keyed by lower-case model name, with the date they were taken."""

    as_of: str
    currency: str
    models: Mapping[str, ModelPrice]
    _resolved: dict[str, str | None] = field(default_factory=dict, repr=False, compare=False, hash=False)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> PriceTable:
        """Build from the parsed ``prices.json`` layout; raises ``ValueError`` on a bad entry."""
        models = {}
        for name, entry in dict(data.get("models") or {}).items():
            price = ModelPrice(str(entry.get("provider", "")), float(entry["input"]), float(entry["output"]))
            if not all(math.isfinite(p) and p >= 0 for p in (price.input_per_mtok, price.output_per_mtok)):
                raise ValueError(f"price of {name!r} must be finite and >= 0")
            models[name.strip().lower()] = price
        if not models or not data.get("as_of"):
            raise ValueError("a price table needs an 'as_of' date and at least one model")
        return cls(as_of=str(data["as_of"]), currency=str(data.get("currency", "USD")), models=models)

    @classmethod
    def load(cls, path: str | Path | None = None) -> PriceTable:
        """Read a price file; by default the ``prices.json`` shipped with this package."""
        if path is None:
            text = resources.files(__package__).joinpath("prices.json").read_text(encoding="utf-8")
        else:
            text = Path(path).read_text(encoding="utf-8")
        return cls.from_dict(json.loads(text))

    def resolve(self, model: str | None) -> str | None:
        """The table key a model name resolves to, or None when unknown (memoised per name)."""
        if not model:
            return None
        if model not in self._resolved:
            self._resolved[model] = self._resolve(model)
        return self._resolved[model]

    def _resolve(self, model: str) -> str | None:
        if model in self.models:
            return model
        name = model.strip().lower()
        name = _PROVIDER_PREFIX.sub("", name.rsplit("/", 1)[-1])
        if name in self.models:
            return name
        for suffix in _SUFFIXES:
            name = suffix.sub("", name)
            if name in self.models:
                return name
        prefixes = [key for key in self.models if name.startswith(key + "-")]
        return max(prefixes, key=len) if prefixes else None

    def price(self, model: str | None) -> ModelPrice | None:
        """The price entry of a model, or None when unknown."""
        key = self.resolve(model)
        return None if key is None else self.models[key]

    def estimate_cost(self, model: str | None, input_tokens: int, output_tokens: int) -> tuple[float | None, bool]:
        """``(cost, known)``; an unknown model gives ``(None, False)``, never a zero cost."""
        if input_tokens < 0 or output_tokens < 0:
            raise ValueError("token counts must be >= 0")
        price = self.price(model)
        return (None, False) if price is None else (price.cost(input_tokens, output_tokens), True)

    def estimate_costs(self, models: Any, input_tokens: Any, output_tokens: Any) -> tuple[np.ndarray, np.ndarray]:
        """Vectorised ``estimate_cost``: float64 costs (NaN when unknown) and a bool ``known`` array.

        ``models`` may be a list, numpy array or pyarrow array; each distinct name is resolved once.
        """
        names = models if isinstance(models, (pa.Array, pa.ChunkedArray)) else pa.array(list(models), type=pa.string())
        if isinstance(names, pa.ChunkedArray):
            names = names.combine_chunks()
        if not pa.types.is_dictionary(names.type):
            names = pc.dictionary_encode(names)
        inputs = np.asarray(input_tokens, dtype=np.float64)
        outputs = np.asarray(output_tokens, dtype=np.float64)
        if inputs.shape != (len(names),) or outputs.shape != (len(names),):
            raise ValueError("models, input_tokens and output_tokens must have the same length")
        if (inputs < 0).any() or (outputs < 0).any():
            raise ValueError("token counts must be >= 0")
        prices = [self.price(name) for name in names.dictionary.to_pylist()]
        input_price = np.array([p.input_per_mtok if p else np.nan for p in prices] + [np.nan])
        output_price = np.array([p.output_per_mtok if p else np.nan for p in prices] + [np.nan])
        index = names.indices.fill_null(len(prices)).to_numpy(zero_copy_only=False)
        costs = (inputs * input_price[index] + outputs * output_price[index]) / TOKENS_PER_UNIT
        return costs, ~np.isnan(input_price[index])


@cache
def default_price_table() -> PriceTable:
    """The packaged table, read once on first use (not at import)."""
    return PriceTable.load()


def estimate_cost(model: str | None, input_tokens: int, output_tokens: int) -> tuple[float | None, bool]:
    """``PriceTable.estimate_cost`` on the packaged table."""
    return default_price_table().estimate_cost(model, input_tokens, output_tokens)


def estimate_costs(models: Any, input_tokens: Any, output_tokens: Any) -> tuple[np.ndarray, np.ndarray]:
    """``PriceTable.estimate_costs`` on the packaged table."""
    return default_price_table().estimate_costs(models, input_tokens, output_tokens)
