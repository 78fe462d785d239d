"""Trail event selectors, basic and advanced: validation (AWS's errors) and matching."""

from __future__ import annotations

from typing import Any

from ..protocol.errors import AWSError
from .events import EventClass

DEFAULT_SELECTORS: list[dict[str, Any]] = [
    {"ReadWriteType": "All", "IncludeManagementEvents": True, "DataResources": [],
     "ExcludeManagementEventSources": []}]
_RW = ("ReadOnly", "WriteOnly", "All")
_DATA_TYPES = ("AWS::S3::Object",)
_FIELDS = ("eventCategory", "resources.type", "resources.ARN", "readOnly", "eventName", "eventSource",
           "eventType", "userIdentity.arn", "errorCode", "sessionCredentialFromConsole", "eventTypeName")
_OPS = ("Equals", "StartsWith", "EndsWith", "NotEquals", "NotStartsWith", "NotEndsWith")
MAX_DATA_RESOURCES = 250
MAX_ADVANCED_VALUES = 500


def _invalid(msg: str) -> AWSError:
    return AWSError("InvalidEventSelectorsException", msg, status=400)


def validate_basic(selectors: Any) -> list[dict[str, Any]]:
    if not isinstance(selectors, list) or not 1 <= len(selectors) <= 5:
        raise _invalid("The number of event selectors must be between 1 and 5.")
    out = []
    total = 0
    for s in selectors:
        rw = s.get("ReadWriteType", "All")
        if rw not in _RW:
            raise _invalid(f"Invalid ReadWriteType: {rw}")
        resources = []
        for r in s.get("DataResources") or []:
            if r.get("Type") not in _DATA_TYPES:
                raise _invalid(f"Value {r.get('Type')} for parameter DataResources.Type is invalid.")
            values = list(r.get("Values") or [])
            for v in values:
                if not isinstance(v, str) or not (v == "arn:aws:s3" or v.startswith("arn:aws:s3:::") and "/" in v
                                                  or v == "arn:aws:s3:::"):
                    raise _invalid(f"Value {v} for parameter DataResources.Values is invalid.")
            total += len(values)
            resources.append({"Type": r["Type"], "Values": values})
        if total > MAX_DATA_RESOURCES:
            raise _invalid(f"A trail can have at most {MAX_DATA_RESOURCES} data resources.")
        out.append({"ReadWriteType": rw, "IncludeManagementEvents": bool(s.get("IncludeManagementEvents", True)),
                    "DataResources": resources,
                    "ExcludeManagementEventSources": list(s.get("ExcludeManagementEventSources") or [])})
    return out


def validate_advanced(selectors: Any) -> list[dict[str, Any]]:
    if not isinstance(selectors, list) or not 1 <= len(selectors) <= 500:
        raise _invalid("The number of advanced event selectors must be between 1 and 500.")
    total = 0
    out = []
    for s in selectors:
        fields = s.get("FieldSelectors") or []
        if not fields:
            raise _invalid("Each advanced event selector needs at least one field selector.")
        names = [f.get("Field") for f in fields]
        if "eventCategory" not in names:
            raise _invalid("You must specify eventCategory in each advanced event selector.")
        clean = []
        for f in fields:
            name = f.get("Field")
            if name not in _FIELDS:
                raise _invalid(f"Invalid field name: {name}")
            ops = {op: list(f[op]) for op in _OPS if f.get(op)}
            if not ops:
                raise _invalid(f"Field selector for {name} has no operator.")
            if name == "resources.type" and set(ops) != {"Equals"}:
                raise _invalid("resources.type supports only the Equals operator.")
            if name == "eventCategory":
                for v in ops.get("Equals", []) + ops.get("NotEquals", []):
                    if v not in ("Management", "Data", "NetworkActivity", "ConfigurationItem"):
                        raise _invalid(f"Invalid value {v} for eventCategory.")
            if name == "readOnly":
                for vs in ops.values():
                    for v in vs:
                        if v not in ("true", "false"):
                            raise _invalid(f"Invalid value {v} for readOnly.")
            total += sum(len(v) for v in ops.values())
            clean.append({"Field": name, **ops})
        if total > MAX_ADVANCED_VALUES:
            raise _invalid(f"Advanced event selectors can have at most {MAX_ADVANCED_VALUES} values.")
        out.append({"Name": s["Name"], "FieldSelectors": clean} if s.get("Name") else {"FieldSelectors": clean})
    return out


def _rw_ok(rw: str, read_only: bool) -> bool:
    return rw == "All" or (rw == "ReadOnly") == read_only


def basic_matches(selectors: list[dict[str, Any]], ec: EventClass, source: str) -> bool:
    for s in selectors:
        if not _rw_ok(s["ReadWriteType"], ec.read_only):
            continue
        if ec.management:
            if s["IncludeManagementEvents"] and source not in s["ExcludeManagementEventSources"]:
                return True
            continue
        for r in s["DataResources"]:
            if r["Type"] != ec.resource_type:
                continue
            for v in r["Values"]:
                if v in ("arn:aws:s3", "arn:aws:s3:::") or ec.resource_arn.startswith(v):
                    return True
    return False


def _field_value(name: str, ec: EventClass, attrs: dict[str, str]) -> str | None:
    if name == "eventCategory":
        return ec.category
    if name == "readOnly":
        return "true" if ec.read_only else "false"
    if name == "resources.type":
        return ec.resource_type or None
    if name == "resources.ARN":
        return ec.resource_arn or None
    return attrs.get(name)


def _op_matches(op: str, value: str | None, wanted: list[str]) -> bool:
    if op.startswith("Not"):
        if value is None:
            return True
        base = op[3:]
        return not any(_positive(base, value, w) for w in wanted)
    if value is None:
        return False
    return any(_positive(op, value, w) for w in wanted)


def _positive(op: str, value: str, w: str) -> bool:
    if op == "Equals":
        return value == w
    if op == "StartsWith":
        return value.startswith(w)
    return value.endswith(w)


def advanced_matches(selectors: list[dict[str, Any]], ec: EventClass, attrs: dict[str, str]) -> bool:
    """Selectors OR-ed; field selectors AND-ed; values OR-ed within a positive operator and AND-ed (none may
    match) within a negative one. `attrs` holds eventName, eventSource, eventType, userIdentity.arn, errorCode."""
    for s in selectors:
        ok = True
        for f in s["FieldSelectors"]:
            value = _field_value(f["Field"], ec, attrs)
            for op in _OPS:
                if op in f and not _op_matches(op, value, f[op]):
                    ok = False
                    break
            if not ok:
                break
        if ok:
            return True
    return False


def needs_event_attrs(selectors: list[dict[str, Any]]) -> bool:
    return any(f["Field"] not in ("eventCategory", "readOnly", "resources.type", "resources.ARN")
               for s in selectors for f in s["FieldSelectors"])
