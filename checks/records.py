"""Plain, strict JSON data from the checks' records (the report's JSON files and ``--json``)."""

from __future__ import annotations

import enum
import math
from typing import Any

import numpy as np

# Suffix of the key that explains a non-finite number replaced by null (see json_data).
NONFINITE_SUFFIX = "_nonfinite"


def json_data(value: Any) -> Any:
    """``value`` as strict JSON data: dicts, lists, str, int, finite float, bool, None.

    NumPy scalars and arrays become Python numbers and lists, enums their values. JSON has no
    NaN or infinity, so a non-finite float becomes ``null`` and the dict that holds it gains a key
    ``<key>_nonfinite`` saying what it was: ``"inf"``, ``"-inf"`` or ``"nan"`` for a scalar, or a
    map from positions (``"3"``, ``"1.0"`` for nested lists) to those words for a list. The result
    always passes ``json.dumps(..., allow_nan=False)``.
    """
    data, notes = _json_walk(value)
    if notes:  # a bare non-finite value or list at the top level: nothing to attach the note to
        raise ValueError(f"cannot express {value!r} as strict JSON at the top level (non-finite: {notes})")
    return data


def _nonfinite_word(x: float) -> str:
    return "nan" if math.isnan(x) else ("inf" if x > 0 else "-inf")


def _json_walk(value: Any) -> tuple[Any, dict[str, str]]:
    """(converted value, {position: word} of non-finite numbers not yet attached to a dict key)."""
    if isinstance(value, dict):
        out: dict[str, Any] = {}
        for key, item in value.items():
            data, notes = _json_walk(item)
            out[str(key)] = data
            if notes:
                out[f"{key}{NONFINITE_SUFFIX}"] = notes.get("", None) if set(notes) == {""} else notes
        return out, {}
    if isinstance(value, np.ndarray):
        value = value.tolist()
    if isinstance(value, (list, tuple)):
        items, notes = [], {}
        for i, item in enumerate(value):
            data, inner = _json_walk(item)
            items.append(data)
            notes.update({(f"{i}.{pos}" if pos else str(i)): word for pos, word in inner.items()})
        return items, notes
    if isinstance(value, enum.Enum):
        return _json_walk(value.value)
    if isinstance(value, (bool, np.bool_)):
        return bool(value), {}
    if isinstance(value, (np.integer, int)):
        return int(value), {}
    if isinstance(value, (np.floating, float)):
        x = float(value)
        return (x, {}) if math.isfinite(x) else (None, {"": _nonfinite_word(x)})
    return value, {}


# The keys the report writer reads from a claim's record, and from each of its cases and decisions.
RECORD_KEYS = ("claim", "title", "statement", "verdict", "cases")
CASE_KEYS = ("name", "control", "verdict", "decisions")
DECISION_KEYS = ("test", "statistic", "expected", "measured", "verdict")


def record_problem(record: Any) -> str | None:
    """None if ``record`` (a claim's JSON record, e.g. kept from an earlier report) has the shape the
    report writer reads, else what is missing: a record written by an older version of the tool."""
    if not isinstance(record, dict):
        return f"not a JSON object but {type(record).__name__}"
    missing = [k for k in RECORD_KEYS if k not in record]
    if missing:
        return f"no {', '.join(missing)}"
    if not isinstance(record["cases"], list):
        return "cases is not a list"
    for case in record["cases"]:
        if not isinstance(case, dict) or any(k not in case for k in CASE_KEYS):
            return f"a case without {', '.join(k for k in CASE_KEYS if not isinstance(case, dict) or k not in case)}"
        for d in case["decisions"]:
            if not isinstance(d, dict) or any(k not in d for k in DECISION_KEYS):
                return f"a decision of case {case['name']!r} without the keys {', '.join(DECISION_KEYS)}"
    return None
