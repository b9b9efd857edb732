"""Write the JSON Schema files under ``schemas/json/``: ``python -m schemas.generate``.

The files are committed; ``tests/unit/test_schemas.py`` fails when they drift from the models.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from pydantic import BaseModel, TypeAdapter

from schemas import events, wire

OUT = Path(__file__).with_name("json")

MODELS: dict[str, type[BaseModel] | TypeAdapter] = {
    "sync-request": wire.SyncRequest,
    "append-results-request": wire.AppendResultsRequest,
    "create-run-request": wire.CreateRunRequest,
    "sync-response": wire.SyncResponse,
    "run-response": wire.RunResponse,
    "test-case-result": wire.TestCaseResult,
    "rescore-request": wire.RescoreRequest,
    "rescore-job": wire.RescoreJob,
    "trace-event": wire.TraceEvent,
    "event-envelope": events.EventEnvelope,
    "event": events.EVENT_ADAPTER,
}


def render() -> dict[str, str]:
    out = {}
    for name, model in MODELS.items():
        schema = model.json_schema() if isinstance(model, TypeAdapter) else model.model_json_schema()
        out[f"{name}.schema.json"] = json.dumps(schema, indent=2, sort_keys=True) + "\n"
    return out


def main() -> int:
    OUT.mkdir(exist_ok=True)
    for fname, text in render().items():
        (OUT / fname).write_text(text)
    print(f"wrote {len(MODELS)} schemas to {OUT}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
