"""The spec's building blocks, shared by the ladder's half (schema) and the follow-ups' half
(automations): keys, bounded texts, durations, and the strict base model."""

import datetime as dt
import difflib
import re
from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, PlainSerializer, model_validator
from pydantic_core import PydanticCustomError

KEY_PATTERN = r"^[a-z0-9][a-z0-9-]*$"
Key = Annotated[str, Field(pattern=KEY_PATTERN, max_length=64)]
# Profile field names follow the identifier style of the tracking API's traits (first_name).
FieldKey = Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]*$", max_length=64)]
Text = Annotated[str, Field(min_length=1, max_length=500)]
LongText = Annotated[str, Field(min_length=1, max_length=200_000)]


class Strict(BaseModel):
    """Base of every spec model: unknown keys are errors, with a suggestion for typos."""

    model_config = ConfigDict(frozen=True, populate_by_name=True)

    @model_validator(mode="before")
    @classmethod
    def _no_unknown_keys(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            return data
        allowed = set(cls.model_fields) | {f.alias for f in cls.model_fields.values() if f.alias}
        for key in data:
            if str(key) not in allowed:
                close = difflib.get_close_matches(str(key), sorted(allowed), n=1)
                hint = f"; did you mean '{close[0]}'?" if close else ""
                if " " in str(key):
                    hint = "; is there a comma inside a {...} value? quote that text"
                raise PydanticCustomError(
                    "unknown_field",
                    "unknown field '{field}'{hint} (allowed here: {allowed})",
                    {"field": str(key), "hint": hint, "allowed": ", ".join(sorted(allowed))},
                )
        return data


# --- durations -------------------------------------------------------------------------------

DURATION_UNITS = {"m": 60, "min": 60, "h": 3600, "d": 86400, "w": 604800}
DURATION_RE = re.compile(r"^\s*(\d+)\s*(m|min|h|d|w)\s*$")


def _duration(value: Any) -> dt.timedelta:
    if isinstance(value, dt.timedelta):
        return value
    match = DURATION_RE.match(str(value)) if isinstance(value, str) else None
    if not match:
        raise PydanticCustomError(
            "duration",
            "expected a duration such as 30m, 48h, 14d or 2w, got '{value}'",
            {"value": value},
        )
    return dt.timedelta(seconds=int(match[1]) * DURATION_UNITS[match[2]])


Duration = Annotated[
    dt.timedelta,
    BeforeValidator(_duration),
    PlainSerializer(lambda d: f"{int(d.total_seconds()) // 60}m", return_type=str),
]
