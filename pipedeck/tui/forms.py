"""Form fields generated from a job type's params model (defaults, bounds, inline errors).

Pure functions, no Textual: the JSON schema of the pydantic model says each
field's kind, default and bounds; validation uses the same model, so the form
accepts exactly what the worker will.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from pydantic import ValidationError

from pipedeck.handlers.registry import JobType


@dataclass
class FieldSpec:
    name: str
    kind: str  # integer, number, boolean, string, array, enum, json
    required: bool
    default: Any = None
    description: str = ""
    minimum: float | None = None
    maximum: float | None = None
    max_length: int | None = None
    choices: list = field(default_factory=list)
    # Filled in by the screen (a competitor job's competitor_id): validated, never shown.
    hidden: bool = False

    @property
    def words(self) -> str:
        """The field's name as a person says it: days back."""
        return self.name.replace("_", " ")

    @property
    def expects(self) -> str:
        """What the field takes, in words: 'a whole number from 1 to 1125'."""
        low, high = self.minimum, self.maximum
        if self.kind in ("integer", "number"):
            what = "a whole number" if self.kind == "integer" else "a number"
            if low is not None and high is not None:
                return f"{what} from {_num(low)} to {_num(high)}"
            if low is not None:
                return f"{what} of at least {_num(low)}"
            if high is not None:
                return f"{what} of at most {_num(high)}"
            return what
        if self.kind == "boolean":
            return "yes or no"
        if self.kind == "enum":
            return "one of " + ", ".join(str(c) for c in self.choices)
        if self.kind == "array":
            return "a comma-separated list"
        if self.max_length is not None:
            return f"text of at most {self.max_length} characters"
        return "text"

    def placeholder(self, prefilled: bool = False) -> str:
        """Shown in an empty field: what an empty field means."""
        if prefilled:
            return "taken from the record unless you type one"
        if self.default is not None and self.default != []:
            return f"default {display_value(self, self.default)}"
        return "required" if self.required else (self.description or "optional")

    @property
    def hint(self) -> str:
        parts = []
        if self.minimum is not None and self.maximum is not None:
            parts.append(f"{_num(self.minimum)}–{_num(self.maximum)}")
        elif self.minimum is not None:
            parts.append(f"≥ {_num(self.minimum)}")
        elif self.maximum is not None:
            parts.append(f"≤ {_num(self.maximum)}")
        if self.max_length is not None:
            parts.append(f"≤ {self.max_length} chars")
        if self.kind == "array":
            parts.append("comma-separated")
        if self.required:
            parts.append("required")
        return ", ".join(parts)


def _num(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else str(value)


def _resolve(prop: dict, defs: dict) -> dict:
    if "$ref" in prop:
        return defs.get(prop["$ref"].rsplit("/", 1)[-1], {})
    return prop


def field_specs(job_type: JobType, hidden: tuple[str, ...] = ()) -> list[FieldSpec]:
    schema = job_type.params_model.model_json_schema()
    defs = schema.get("$defs", {})
    required = set(schema.get("required", ()))
    specs = []
    for name, prop in schema.get("properties", {}).items():
        prop = _resolve(prop, defs)
        options = [_resolve(p, defs) for p in prop.get("anyOf", [prop])]
        concrete = [p for p in options if p.get("type") != "null"] or [{}]
        main = {**concrete[0], **{k: v for k, v in prop.items() if k not in ("anyOf", "type")}}
        if "enum" in main:
            kind = "enum"
        else:
            kind = main.get("type") or "json"
            if kind not in ("integer", "number", "boolean", "string", "array"):
                kind = "json"
        specs.append(FieldSpec(
            name=name, kind=kind, required=name in required, default=prop.get("default"),
            description=main.get("description", ""),
            minimum=main.get("minimum", main.get("exclusiveMinimum")),
            maximum=main.get("maximum", main.get("exclusiveMaximum")),
            max_length=main.get("maxLength"), choices=list(main.get("enum", [])),
            hidden=name in hidden))
    return specs


def display_value(spec: FieldSpec, value: Any) -> str:
    """How a stored param value appears in a text input."""
    if value is None:
        return ""
    if spec.kind == "array" and isinstance(value, list):
        return ", ".join(str(v) for v in value)
    if spec.kind == "json":
        return json.dumps(value)
    if isinstance(value, float) and value.is_integer() and spec.kind == "number":
        return str(value)
    return str(value)


def initial_values(job_type: JobType, specs: list[FieldSpec], prefilled: dict, given: dict | None) -> dict:
    """Defaults, then what the brand/competitor implies, then the given (e.g. a run's) params."""
    values = {s.name: s.default for s in specs}
    values.update(prefilled)
    values.update(given or {})
    return values


def parse_input(spec: FieldSpec, raw: Any) -> Any:
    """Turn what the user typed into a value for the model (the model does the checking)."""
    if spec.kind == "boolean" or not isinstance(raw, str):
        return raw
    text = raw.strip()
    if text == "":
        return _MISSING
    if spec.kind == "json":
        try:
            return json.loads(text)
        except ValueError:
            return text
    return text


class _Missing:
    def __repr__(self) -> str:
        return "<missing>"


_MISSING = _Missing()


def collect(specs: list[FieldSpec], raw: dict[str, Any]) -> dict:
    """Params to send: empty optional fields are left out so the model's default applies."""
    out = {}
    for spec in specs:
        value = parse_input(spec, raw.get(spec.name))
        if value is not _MISSING:  # left out: the default (or the brand's prefill) applies
            out[spec.name] = value
    return out


# Pydantic error types that mean "not what this field takes": said as what it does take.
_EXPECTS = {"int_parsing", "int_type", "int_from_float", "float_parsing", "float_type", "finite_number",
            "greater_than", "greater_than_equal", "less_than", "less_than_equal", "multiple_of",
            "string_too_long", "string_too_short", "string_type", "bool_parsing", "bool_type", "enum",
            "literal_error", "list_type", "too_long", "too_short"}


def person_message(spec: FieldSpec | None, err: dict) -> str:
    """One validation error as a person would say it: 'days back: a whole number from 1 to 1125'."""
    kind = err.get("type", "")
    if kind == "missing":
        message = "required"
    elif kind == "extra_forbidden":
        message = "not a parameter of this job"
    elif spec is not None and kind in _EXPECTS:
        message = spec.expects
    else:  # our own validators' words (an Ad Library URL on the wrong origin ...)
        message = err.get("msg", "invalid").removeprefix("Value error, ").removeprefix("Assertion failed, ")
    name = spec.words if spec is not None else str((err.get("loc") or ("",))[0]).replace("_", " ")
    return f"{name}: {message}" if name else message


def validate(job_type: JobType, params: dict, *, ad_library_origin: str,
             prefilled: dict | None = None, specs: list[FieldSpec] | None = None) -> dict[str, str]:
    """Errors by field name ("" for errors not tied to one field), in a person's words; empty when valid."""
    merged = {**(prefilled or {}), **params}
    by_name = {s.name: s for s in (specs if specs is not None else field_specs(job_type))}
    try:
        job_type.params_model.model_validate(merged, context={"ad_library_origin": ad_library_origin})
    except ValidationError as exc:
        errors: dict[str, str] = {}
        for err in exc.errors(include_url=False):
            name = str((err.get("loc") or ("",))[0])
            errors.setdefault(name, person_message(by_name.get(name), err))
        return errors
    return {}
