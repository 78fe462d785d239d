"""Intrinsic functions: evaluation against a stack's values, and the references a value makes.

Values are the long JSON form (the YAML loader converts short tags). `AWS::NoValue` evaluates to `NO_VALUE`,
which removes the enclosing property or list item.
"""

from __future__ import annotations

import base64
import json
import re
from dataclasses import dataclass, field
from typing import Any, Callable, Iterator

from .errors import template_error, template_format

NO_VALUE: Any = type("NoValue", (), {"__repr__": lambda self: "AWS::NoValue"})()

FUNCTIONS = {"Ref", "Fn::GetAtt", "Fn::Sub", "Fn::Join", "Fn::Select", "Fn::Split", "Fn::If", "Fn::Equals",
             "Fn::Not", "Fn::And", "Fn::Or", "Fn::FindInMap", "Fn::GetAZs", "Fn::ImportValue", "Fn::Base64",
             "Condition"}
UNSUPPORTED = {"Fn::Cidr", "Fn::Length", "Fn::ToJsonString", "Fn::Transform", "Fn::ForEach",
               "Fn::GetStackOutput"}
CONDITION_FUNCTIONS = {"Fn::Equals", "Fn::Not", "Fn::And", "Fn::Or", "Condition"}
PSEUDO = {"AWS::AccountId", "AWS::Region", "AWS::StackId", "AWS::StackName", "AWS::Partition", "AWS::URLSuffix",
          "AWS::NoValue", "AWS::NotificationARNs"}
_SUB_VAR = re.compile(r"\$\{([^}]*)\}")


def function_of(value: Any) -> tuple[str, Any] | None:
    """(name, argument) when `value` is an intrinsic function call."""
    if isinstance(value, dict) and len(value) == 1:
        name, arg = next(iter(value.items()))
        if name in FUNCTIONS or name in UNSUPPORTED:
            return name, arg
    return None


def sub_parts(template: str) -> Iterator[tuple[str, str | None]]:
    """Splits a Fn::Sub string into (literal, variable-or-None) pieces; `${!X}` is the literal `${X}`."""
    pos = 0
    for m in _SUB_VAR.finditer(template):
        inner = m.group(1)
        if inner.startswith("!"):
            yield template[pos:m.start()] + "${" + inner[1:] + "}", None
        else:
            yield template[pos:m.start()], inner.strip()
        pos = m.end()
    yield template[pos:], None


def _sub_args(arg: Any) -> tuple[str, dict[str, Any]]:
    if isinstance(arg, str):
        return arg, {}
    if isinstance(arg, list) and len(arg) == 2 and isinstance(arg[0], str) and isinstance(arg[1], dict):
        return arg[0], arg[1]
    raise template_error("One or more Fn::Sub intrinsic functions don't specify expected arguments. Specify a "
                         "string as first argument, and an optional second argument to specify a mapping of "
                         "values to replace in the string")


def _getatt_args(arg: Any) -> tuple[str, str]:
    if isinstance(arg, str):
        res, _, attr = arg.partition(".")
        arg = [res, attr]
    if (isinstance(arg, list) and len(arg) == 2 and isinstance(arg[0], str) and isinstance(arg[1], str)
            and arg[0] and arg[1]):
        return arg[0], arg[1]
    raise template_error("every Fn::GetAtt object requires two non-empty parameters, the resource name and the "
                         "resource attribute")


@dataclass
class References:
    refs: set[str] = field(default_factory=set)  # Ref targets and ${Name} of Fn::Sub
    getatts: set[tuple[str, str]] = field(default_factory=set)  # (resource, attribute)
    conditions: set[str] = field(default_factory=set)  # condition names (Fn::If, Condition)
    functions: set[str] = field(default_factory=set)

    def names(self) -> set[str]:
        return self.refs | {r for r, _ in self.getatts}


def references(value: Any, out: References | None = None) -> References:
    """Every name `value` refers to (through every Fn::If branch)."""
    out = out if out is not None else References()
    fn = function_of(value)
    if fn is not None:
        name, arg = fn
        out.functions.add(name)
        if name == "Ref":
            if isinstance(arg, str):
                out.refs.add(arg)
            return out
        if name == "Condition":
            if isinstance(arg, str):
                out.conditions.add(arg)
            return out
        if name == "Fn::GetAtt":
            out.getatts.add(_getatt_args(arg))
            return out
        if name == "Fn::Sub":
            text, variables = _sub_args(arg)
            for _, var in sub_parts(text):
                if var is None or var in variables:
                    continue
                res, dot, attr = var.partition(".")
                if dot and not var.startswith("AWS::"):
                    out.getatts.add((res, attr))
                else:
                    out.refs.add(var)
            for v in variables.values():
                references(v, out)
            return out
        if name == "Fn::If" and isinstance(arg, list) and arg and isinstance(arg[0], str):
            out.conditions.add(arg[0])
            for v in arg[1:]:
                references(v, out)
            return out
        references(arg, out)
        return out
    if isinstance(value, dict):
        for v in value.values():
            references(v, out)
    elif isinstance(value, list):
        for v in value:
            references(v, out)
    return out


def prune(value: Any, conditions: dict[str, bool]) -> Any:
    """`value` with every Fn::If replaced by its taken branch (so references follow only live paths)."""
    fn = function_of(value)
    if fn is not None and fn[0] == "Fn::If":
        cond, yes, no = _if_args(fn[1])
        if cond not in conditions:
            raise template_error(f"unresolved condition dependency {cond} in Fn::If")
        return prune(yes if conditions[cond] else no, conditions)
    if isinstance(value, dict):
        return {k: prune(v, conditions) for k, v in value.items()}
    if isinstance(value, list):
        return [prune(v, conditions) for v in value]
    return value


def _if_args(arg: Any) -> tuple[str, Any, Any]:
    if isinstance(arg, list) and len(arg) == 3 and isinstance(arg[0], str):
        return arg[0], arg[1], arg[2]
    raise template_error("Fn::If requires a list argument with three elements")


def to_str(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value == int(value):
        return str(int(value))
    if isinstance(value, (str, int, float)):
        return str(value)
    raise template_error(f"expected a string, got {json.dumps(value, default=str)[:100]}")


@dataclass
class Context:
    """What intrinsic functions of one stack evaluate against."""

    params: dict[str, str | list[str]]
    pseudo: dict[str, Any]
    mappings: dict[str, Any]
    conditions: dict[str, bool] = field(default_factory=dict)
    refs: dict[str, str] = field(default_factory=dict)  # logical id -> physical id (Ref value)
    attrs: dict[str, dict[str, Any]] = field(default_factory=dict)
    import_value: Callable[[str], str] | None = None
    azs: Callable[[str], list[str]] = lambda region: [f"{region}{z}" for z in "abc"]

    def ref(self, name: str) -> Any:
        if name in self.params:
            return self.params[name]
        if name in self.pseudo:
            return self.pseudo[name]
        if name == "AWS::NoValue":
            return NO_VALUE
        if name in self.refs:
            return self.refs[name]
        raise template_format(f"Unresolved resource dependencies [{name}] in the Resources block of the template")

    def getatt(self, res: str, attr: str) -> Any:
        if res not in self.attrs:
            raise template_error(f"instance of Fn::GetAtt references undefined resource {res}")
        values = self.attrs[res]
        if attr not in values:
            raise template_error(f"resource {res} does not support attribute type {attr} in Fn::GetAtt")
        return values[attr]

    # ---- evaluation ---------------------------------------------------------------------------------------
    def resolve(self, value: Any) -> Any:
        fn = function_of(value)
        if fn is not None:
            return self._call(*fn)
        if isinstance(value, dict):
            out = {}
            for k, v in value.items():
                r = self.resolve(v)
                if r is not NO_VALUE:
                    out[k] = r
            return out
        if isinstance(value, list):
            return [r for r in (self.resolve(v) for v in value) if r is not NO_VALUE]
        return value

    def condition(self, value: Any) -> bool:
        """A condition expression's truth value."""
        fn = function_of(value)
        if fn is None or fn[0] not in CONDITION_FUNCTIONS:
            raise template_error("Conditions can only be boolean operations on parameters and other conditions")
        return bool(self._call(*fn))

    def _call(self, name: str, arg: Any) -> Any:
        if name in UNSUPPORTED:
            raise template_format(f"{name} is not supported")
        if name == "Ref":
            if not isinstance(arg, str):
                raise template_error("every Ref object must have a single String value")
            return self.ref(arg)
        if name == "Condition":
            if not isinstance(arg, str) or arg not in self.conditions:
                raise template_error(f"unresolved condition dependency {arg}")
            return self.conditions[arg]
        if name == "Fn::GetAtt":
            return self.getatt(*_getatt_args(arg))
        if name == "Fn::Sub":
            return self._sub(arg)
        if name == "Fn::Join":
            if not (isinstance(arg, list) and len(arg) == 2 and isinstance(arg[0], str)):
                raise template_error("every Fn::Join object requires two parameters, (1) a string delimiter and "
                                     "(2) a list of strings to be joined or a function that returns a list of "
                                     "strings (such as Fn::GetAZs) to be joined.")
            items = self.resolve(arg[1])
            if not isinstance(items, list):
                raise template_error("Fn::Join requires a list of strings")
            return arg[0].join(to_str(i) for i in items)
        if name == "Fn::Select":
            if not (isinstance(arg, list) and len(arg) == 2):
                raise template_error("Fn::Select requires a list argument with two elements: an integer index "
                                     "and a list")
            index, items = self.resolve(arg[0]), self.resolve(arg[1])
            try:
                i = int(to_str(index))
            except ValueError:
                raise template_error("Fn::Select requires an integer index") from None
            if not isinstance(items, list):
                raise template_error("Fn::Select requires a list as its second argument")
            if i < 0 or i >= len(items):
                raise template_error(f"Fn::Select cannot select nonexistent value at index {i}")
            return items[i]
        if name == "Fn::Split":
            if not (isinstance(arg, list) and len(arg) == 2 and isinstance(arg[0], str)):
                raise template_error("Fn::Split requires a list argument with two elements: a delimiter and a "
                                     "string")
            if arg[0] == "":
                raise template_error("Fn::Split requires a non-empty delimiter")
            return to_str(self.resolve(arg[1])).split(arg[0])
        if name == "Fn::If":
            cond, yes, no = _if_args(arg)
            if cond not in self.conditions:
                raise template_error(f"unresolved condition dependency {cond} in Fn::If")
            return self.resolve(yes if self.conditions[cond] else no)
        if name == "Fn::Equals":
            if not (isinstance(arg, list) and len(arg) == 2):
                raise template_error("Fn::Equals requires a list argument with two elements")
            a, b = self.resolve(arg[0]), self.resolve(arg[1])
            return _comparable(a) == _comparable(b)
        if name == "Fn::Not":
            if not (isinstance(arg, list) and len(arg) == 1):
                raise template_error("Fn::Not requires a list argument with one function token")
            return not self.condition(arg[0])
        if name in ("Fn::And", "Fn::Or"):
            if not (isinstance(arg, list) and 2 <= len(arg) <= 10):
                raise template_error(f"{name} requires a list argument with between 2 and 10 elements")
            values = [self.condition(c) for c in arg]
            return all(values) if name == "Fn::And" else any(values)
        if name == "Fn::FindInMap":
            if not (isinstance(arg, list) and len(arg) == 3):
                raise template_error("Fn::FindInMap requires a list argument with three elements")
            map_name, top, second = (to_str(self.resolve(a)) for a in arg)
            mapping = self.mappings.get(map_name)
            if not isinstance(mapping, dict):
                raise template_error(f"Unable to get mapping for {map_name}::{top}::{second}")
            level = mapping.get(top)
            if not isinstance(level, dict) or second not in level:
                raise template_error(f"Unable to get mapping for {map_name}::{top}::{second}")
            return level[second]
        if name == "Fn::GetAZs":
            region = to_str(self.resolve(arg)) if arg not in (None, "") else ""
            return self.azs(region or self.pseudo["AWS::Region"])
        if name == "Fn::ImportValue":
            export = to_str(self.resolve(arg))
            if self.import_value is None:
                raise template_error("Fn::ImportValue is not available here")
            return self.import_value(export)
        if name == "Fn::Base64":
            return base64.b64encode(to_str(self.resolve(arg)).encode()).decode()
        raise template_format(f"Unsupported function {name}")  # pragma: no cover - FUNCTIONS is exhaustive

    def _sub(self, arg: Any) -> str:
        text, variables = _sub_args(arg)
        values = {k: self.resolve(v) for k, v in variables.items()}
        out = []
        for literal, var in sub_parts(text):
            out.append(literal)
            if var is None:
                continue
            if var in values:
                out.append(to_str(values[var]))
                continue
            res, dot, attr = var.partition(".")
            if dot and not var.startswith("AWS::"):
                out.append(to_str(self.getatt(res, attr)))
            else:
                v = self.ref(var)
                if isinstance(v, list):
                    v = ",".join(v)
                out.append(to_str(v))
        return "".join(out)


def _comparable(v: Any) -> Any:
    if isinstance(v, list):
        return [_comparable(i) for i in v]
    try:
        return to_str(v)
    except Exception:  # noqa: BLE001 - objects compare structurally
        return v


def evaluate_conditions(decls: dict[str, Any], ctx: Context) -> dict[str, bool]:
    """Evaluates every named condition (they may refer to each other; cycles are template errors)."""
    done: dict[str, bool] = {}
    active: set[str] = set()

    def ev(name: str) -> bool:
        if name in done:
            return done[name]
        if name not in decls:
            raise template_error(f"unresolved condition dependency {name}")
        if name in active:
            raise template_format(f"Circular dependency between conditions: [{', '.join(sorted(active))}]")
        active.add(name)
        for dep in references(decls[name]).conditions:
            ev(dep)
        ctx.conditions = {**done}
        done[name] = ctx.condition(decls[name])
        active.discard(name)
        return done[name]

    for name in decls:
        ev(name)
    ctx.conditions = done
    return done
