"""Result files the CLI syncs: JSON (a list of results, or an object with ``results``), JSONL (one
result per line) and JUnit XML (pytest ``--junitxml`` and other xUnit producers). Pure: bytes in,
result dicts (the wire ``TestCaseResult`` shape) out.

JUnit mapping, one ``<testcase>`` per result:
- ``scenario_id`` = ``classname::name`` (stable across runs, so ``compare`` matches cases),
  ``result_id`` the same (re-syncing a file is deduplicated), ``description`` = ``name``;
- ``<failure>`` -> status ``failed``, ``<error>`` -> ``error``, none -> ``passed``; the element's
  ``message`` (else its first text line) is the error text;
- ``<skipped>`` cases are not synced (they have no outcome) and are counted instead;
- ``time`` (seconds) -> ``duration_ms``;
- ``<property name=... value=...>`` of a test case fill result fields (``user_message``,
  ``expected_behavior``, ``agent_response``, ``tools_called`` as comma-separated names, ...), e.g.
  from pytest's ``record_property``; ``user_message`` defaults to the test's name.

XML is parsed with the standard library (expat): it resolves no external entities, and expat
>= 2.4 refuses entity-expansion bombs.
"""

from __future__ import annotations

import hashlib
import json
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import TypeAdapter, ValidationError

from schemas.wire import TestCaseResult
from services.common.http import describe_errors

_RESULT = TypeAdapter(TestCaseResult)
_TEXT_FIELDS = ("user_message", "expected_behavior", "agent_response", "description", "scenario_id", "complexity",
                "target_failure", "failure_category")  # fmt: skip
_LIST_FIELDS = ("expected_tools", "forbidden_tools")
_ERROR_CHARS = 10_000


class ParseError(ValueError):
    """A result file that cannot be synced; the message names the file and the place."""


@dataclass
class Parsed:
    results: list[dict[str, Any]] = field(default_factory=list)
    skipped: int = 0  # JUnit test cases without an outcome (not synced)


def detect_format(path: Path, data: bytes) -> str:
    suffix = path.suffix.lower()
    if suffix == ".xml":
        return "junit"
    if suffix in (".jsonl", ".ndjson"):
        return "jsonl"
    if suffix == ".json":
        return "json"
    head = data.lstrip()[:1]
    if head == b"<":
        return "junit"
    if head == b"[":
        return "json"
    try:
        json.loads(data)
        return "json"
    except ValueError:
        return "jsonl"


def load(path: Path, data: bytes | None = None) -> Parsed:
    """Parse one file (format from its suffix, else sniffed) and validate every result."""
    data = path.read_bytes() if data is None else data
    fmt = detect_format(path, data)
    if fmt == "junit":
        parsed = parse_junit(data, str(path))
    elif fmt == "jsonl":
        parsed = Parsed(parse_jsonl(data, str(path)))
    else:
        parsed = Parsed(parse_json(data, str(path)))
    return parsed


def _check(item: Any, where: str) -> dict[str, Any]:
    if not isinstance(item, dict):
        raise ParseError(f"{where}: a result must be a JSON object")
    try:
        _RESULT.validate_python(item)
    except ValidationError as exc:
        raise ParseError(f"{where}: {describe_errors(exc.errors(include_url=False))}") from None
    return item


def parse_json(data: bytes, name: str = "<json>") -> list[dict[str, Any]]:
    try:
        doc = json.loads(data)
    except ValueError as exc:
        raise ParseError(f"{name}: not valid JSON ({exc})") from None
    items = doc.get("results") if isinstance(doc, dict) else doc
    if not isinstance(items, list):
        raise ParseError(f"{name}: expected a list of results or an object with a 'results' list")
    return [_check(item, f"{name} result {n + 1}") for n, item in enumerate(items)]


def parse_jsonl(data: bytes, name: str = "<jsonl>") -> list[dict[str, Any]]:
    out = []
    for n, line in enumerate(data.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            item = json.loads(line)
        except ValueError as exc:
            raise ParseError(f"{name} line {n}: not valid JSON ({exc})") from None
        out.append(_check(item, f"{name} line {n}"))
    return out


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]  # tolerate namespaced producers


def _child(case: ET.Element, name: str) -> ET.Element | None:
    return next((c for c in case if _local(c.tag) == name), None)


def _reason(el: ET.Element) -> str:
    message = (el.get("message") or "").strip()
    if not message:
        lines = [ln.strip() for ln in (el.text or "").splitlines() if ln.strip()]
        message = lines[0] if lines else (el.get("type") or "")
    return message[:_ERROR_CHARS] or "failed"


def _properties(case: ET.Element) -> dict[str, Any]:
    props: dict[str, Any] = {}
    box = _child(case, "properties")
    for p in box if box is not None else ():
        key, value = p.get("name"), p.get("value", p.text or "")
        if key in _TEXT_FIELDS:
            props[key] = value
        elif key in _LIST_FIELDS:
            props[key] = [v.strip() for v in value.split(",") if v.strip()]
        elif key == "tools_called":
            props[key] = [{"name": v.strip()} for v in value.split(",") if v.strip()]
    return props


def _label(value: str, limit: int) -> str:
    if len(value) <= limit:
        return value
    digest = hashlib.sha1(value.encode()).hexdigest()[:12]
    return f"{value[: limit - 14]}~{digest}"


def parse_junit(data: bytes, name: str = "<junit>") -> Parsed:
    try:
        root = ET.fromstring(data)
    except ET.ParseError as exc:
        raise ParseError(f"{name}: not valid XML ({exc})") from None
    out = Parsed()
    seen: dict[str, int] = {}
    for case in root.iter():
        if _local(case.tag) != "testcase":
            continue
        test, cls = (case.get("name") or "").strip(), (case.get("classname") or "").strip()
        if not test:
            raise ParseError(f"{name}: a <testcase> has no name")
        if _child(case, "skipped") is not None:
            out.skipped += 1
            continue
        scenario = _label(f"{cls}::{test}" if cls else test, 256)
        seen[scenario] = seen.get(scenario, 0) + 1
        rid = scenario if seen[scenario] == 1 else f"{scenario}#{seen[scenario]}"
        result: dict[str, Any] = {"result_id": _label(rid, 200), "scenario_id": scenario, "description": test,
                                  "user_message": test, "status": "passed"}  # fmt: skip
        failure, error = _child(case, "failure"), _child(case, "error")
        if failure is not None or error is not None:
            el = failure if failure is not None else error
            result["status"] = "failed" if failure is not None else "error"
            result["error"] = _reason(el)
        try:
            result["duration_ms"] = max(0.0, round(float(case.get("time", "")) * 1000, 3))
        except ValueError:
            pass
        result |= _properties(case)
        out.results.append(_check(result, f"{name} testcase {test!r}"))
    return out
