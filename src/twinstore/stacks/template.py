"""A parsed, statically validated template, and the plan of one stack (parameters, conditions, graph)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from ..protocol.errors import AWSError
from .errors import template_error, template_format, validation
from .intrinsics import (CONDITION_FUNCTIONS, PSEUDO, UNSUPPORTED, Context, evaluate_conditions, function_of,
                         prune, references, to_str)
from .loader import load_template
from .parameters import ParameterDef, resolve_parameters
from .resource_types import IAM_NAME_PROPERTY, IAM_TYPES, SPECS

MAX_BODY = 51_200
SECTIONS = {"AWSTemplateFormatVersion", "Description", "Metadata", "Parameters", "Rules", "Mappings",
            "Conditions", "Transform", "Resources", "Outputs"}
RESOURCE_KEYS = {"Type", "Properties", "DependsOn", "Condition", "DeletionPolicy", "UpdateReplacePolicy",
                 "Metadata", "CreationPolicy", "UpdatePolicy"}
DELETION_POLICIES = {"Delete", "Retain", "RetainExceptOnCreate", "Snapshot"}
_LOGICAL_ID = re.compile(r"[A-Za-z0-9]+")
_TYPE_NAME = re.compile(r"[A-Za-z0-9]+::[A-Za-z0-9]+::[A-Za-z0-9]+")


@dataclass(slots=True)
class ResourceDef:
    logical_id: str
    type: str
    properties: dict[str, Any]
    depends_on: list[str]
    condition: str | None
    deletion_policy: str


@dataclass(slots=True)
class OutputDef:
    key: str
    value: Any
    description: str | None
    condition: str | None
    export_name: Any


@dataclass
class Template:
    body: str
    data: dict[str, Any]
    description: str | None
    parameters: dict[str, ParameterDef]
    mappings: dict[str, Any]
    conditions: dict[str, Any]
    resources: dict[str, ResourceDef]
    outputs: dict[str, OutputDef]

    # ---- parsing and static checks ------------------------------------------------------------------------
    @classmethod
    def parse(cls, body: str, max_bytes: int | None = MAX_BODY) -> "Template":
        if max_bytes is not None and len(body.encode()) > max_bytes:
            raise validation(f"1 validation error detected: Value '...' at 'templateBody' failed to satisfy "
                             f"constraint: Member must have length less than or equal to {max_bytes}")
        data = load_template(body)
        unknown = sorted(set(data) - SECTIONS)
        if unknown:
            raise template_format(f"Invalid template property or properties [{', '.join(unknown)}]")
        version = data.get("AWSTemplateFormatVersion")
        if version is not None and str(version) != "2010-09-09":
            raise template_format(f"Unsupported template version: {version}")
        if "Transform" in data:
            raise validation(f"Transform {_transform_names(data['Transform'])} is not supported")
        description = data.get("Description")
        if description is not None and not isinstance(description, str):
            raise template_format("Every Description member must be a string")
        if description is not None and len(description.encode()) > 1024:
            raise template_format("Description exceeds 1024 bytes")
        params = _section(data, "Parameters")
        for name in params:
            _check_logical_id(name, "Parameter")
        parameters = {name: ParameterDef.parse(name, decl) for name, decl in params.items()}
        mappings = _section(data, "Mappings")
        for name, m in mappings.items():
            if not isinstance(m, dict) or not all(isinstance(v, dict) for v in m.values()):
                raise template_format(f"Mappings attribute {name} must be a map of maps")
        conditions = _section(data, "Conditions")
        raw_resources = data.get("Resources")
        if not isinstance(raw_resources, dict) or not raw_resources:
            raise template_format("At least one Resources member must be defined.")
        resources = {lid: _resource(lid, decl, conditions) for lid, decl in raw_resources.items()}
        outputs = {key: _output(key, decl, conditions) for key, decl in _section(data, "Outputs").items()}
        t = cls(body, data, description, parameters, mappings, conditions, resources, outputs)
        t._check_references()
        t.graph(None)  # cycles
        return t

    def _check_references(self) -> None:
        known = set(self.parameters) | PSEUDO
        for name, expr in self.conditions.items():
            fn = function_of(expr)
            if fn is None or fn[0] not in CONDITION_FUNCTIONS:
                raise template_error(f"Conditions can only be boolean operations on parameters and other "
                                     f"conditions (condition {name})")
            refs = references(expr)
            bad = sorted(r for r in refs.refs if r not in known) + sorted(r for r, _ in refs.getatts)
            if bad:
                raise template_format(f"Unresolved dependencies [{', '.join(bad)}]. Cannot reference resources "
                                      f"in the Conditions block of the template")
            self._check_conditions(refs.conditions)
            _check_functions(refs.functions, allow_if=False)
        known |= set(self.resources)
        values: list[tuple[str, Any]] = [("Resources", r.properties) for r in self.resources.values()]
        values += [("Outputs", [o.value, o.export_name]) for o in self.outputs.values()]
        for block, value in values:
            refs = references(value)
            missing = sorted(r for r in refs.refs if r not in known)
            if missing:
                raise template_format(f"Unresolved resource dependencies [{', '.join(missing)}] in the {block} "
                                      f"block of the template")
            for res, attr in sorted(refs.getatts):
                if res not in self.resources:
                    raise template_error(f"instance of Fn::GetAtt references undefined resource {res}")
                spec = SPECS.get(self.resources[res].type)
                if spec is not None and attr not in spec.attributes:
                    raise template_error(f"resource {res} does not support attribute type {attr} in Fn::GetAtt")
            self._check_conditions(refs.conditions)
            _check_functions(refs.functions, allow_if=True)
        for r in self.resources.values():
            missing = sorted(d for d in r.depends_on if d not in self.resources)
            if missing:
                raise template_format(f"Unresolved resource dependencies [{', '.join(missing)}] in the Resources "
                                      f"block of the template")

    def _check_conditions(self, names: set[str]) -> None:
        for c in sorted(names):
            if c not in self.conditions:
                raise template_format(f"Unresolved condition dependency {c}")

    # ---- what a stack of this template needs --------------------------------------------------------------
    def required_capabilities(self) -> tuple[list[str], str]:
        """(capabilities, reason) as ValidateTemplate reports them."""
        iam = sorted({r.type for r in self.resources.values() if r.type in IAM_TYPES})
        if not iam:
            return [], ""
        named = any(IAM_NAME_PROPERTY.get(r.type, "") in r.properties for r in self.resources.values())
        cap = "CAPABILITY_NAMED_IAM" if named else "CAPABILITY_IAM"
        return [cap], f"The following resource(s) require capabilities: [{', '.join(iam)}]"

    def check_capabilities(self, given: list[str]) -> None:
        caps, _ = self.required_capabilities()
        if not caps:
            return
        if caps[0] == "CAPABILITY_NAMED_IAM" and "CAPABILITY_NAMED_IAM" not in given:
            raise _insufficient("CAPABILITY_NAMED_IAM")
        if caps[0] == "CAPABILITY_IAM" and not {"CAPABILITY_IAM", "CAPABILITY_NAMED_IAM"} & set(given):
            raise _insufficient("CAPABILITY_IAM")

    def context(self, given: dict[str, str], pseudo: dict[str, Any]) -> Context:
        """Checks parameter values and evaluates the conditions."""
        ctx = Context(params=resolve_parameters(self.parameters, given), pseudo=pseudo, mappings=self.mappings)
        evaluate_conditions(self.conditions, ctx)
        return ctx

    def active(self, conditions: dict[str, bool]) -> dict[str, ResourceDef]:
        """The resources a stack creates: condition true, with Fn::If branches chosen."""
        out = {}
        for lid, r in self.resources.items():
            if r.condition is None or conditions[r.condition]:
                out[lid] = ResourceDef(lid, r.type, prune(r.properties, conditions), r.depends_on, r.condition,
                                       r.deletion_policy)
        return out

    def graph(self, conditions: dict[str, bool] | None) -> dict[str, set[str]]:
        """logical id -> the resources it depends on; raises on references to absent resources and cycles."""
        resources = self.resources if conditions is None else self.active(conditions)
        deps: dict[str, set[str]] = {}
        for lid, r in resources.items():
            names = (references(r.properties).names() & set(self.resources)) | set(r.depends_on)
            missing = sorted(n for n in names if n not in resources)
            if missing:
                raise template_format(f"Unresolved resource dependencies [{', '.join(missing)}] in the Resources "
                                      f"block of the template")
            deps[lid] = names
        if conditions is not None:
            for o in self.outputs.values():
                if o.condition is None or conditions[o.condition]:
                    value = prune([o.value, o.export_name], conditions)
                    missing = sorted(n for n in references(value).names() & set(self.resources)
                                     if n not in resources)
                    if missing:
                        raise template_format(f"Unresolved resource dependencies [{', '.join(missing)}] in the "
                                              f"Outputs block of the template")
        cycle = find_cycle(deps)
        if cycle:
            raise validation(f"Circular dependency between resources: [{', '.join(sorted(cycle))}]")
        return deps

    def outputs_for(self, ctx: Context) -> list[dict[str, str]]:
        out = []
        for o in self.outputs.values():
            if o.condition is not None and not ctx.conditions[o.condition]:
                continue
            value = ctx.resolve(o.value)
            if isinstance(value, list):
                value = ",".join(to_str(v) for v in value)
            item = {"OutputKey": o.key, "OutputValue": to_str(value)}
            if o.description is not None:
                item["Description"] = o.description
            if o.export_name is not None:
                item["ExportName"] = to_str(ctx.resolve(o.export_name))
            out.append(item)
        return out


def find_cycle(deps: dict[str, set[str]]) -> list[str]:
    """The members of one dependency cycle, or [] (iterative DFS)."""
    state: dict[str, int] = {}
    for start in deps:
        if state.get(start):
            continue
        stack: list[tuple[str, list[str]]] = [(start, sorted(deps.get(start, ())))]
        path = [start]
        state[start] = 1
        while stack:
            node, todo = stack[-1]
            if not todo:
                stack.pop()
                path.pop()
                state[node] = 2
                continue
            nxt = todo.pop()
            if state.get(nxt) == 1:
                return path[path.index(nxt):]
            if not state.get(nxt):
                state[nxt] = 1
                path.append(nxt)
                stack.append((nxt, sorted(deps.get(nxt, ()))))
    return []


def _insufficient(cap: str) -> Exception:
    return AWSError("InsufficientCapabilitiesException", f"Requires capabilities : [{cap}]", status=400)


def _transform_names(value: Any) -> str:
    return ", ".join(str(v) for v in value) if isinstance(value, list) else str(value)


def _section(data: dict[str, Any], name: str) -> dict[str, Any]:
    value = data.get(name) or {}
    if not isinstance(value, dict):
        raise template_format(f"{name} must be an object")
    return value


def _check_logical_id(name: str, kind: str) -> None:
    if not _LOGICAL_ID.fullmatch(name):
        raise template_format(f"{kind} name {name} is non alphanumeric.")


def _check_functions(names: set[str], allow_if: bool) -> None:
    bad = sorted(names & UNSUPPORTED)
    if bad:
        raise template_format(f"{bad[0]} is not supported")
    if not allow_if and "Fn::If" in names:
        raise template_error("Fn::If can only be used in the Resources Properties, Metadata and Outputs sections")


def _resource(lid: str, decl: Any, conditions: dict[str, Any]) -> ResourceDef:
    _check_logical_id(lid, "Resource")
    if not isinstance(decl, dict) or "Type" not in decl:
        raise template_format("Every Resources object must contain a Type member.")
    rtype = decl["Type"]
    if not isinstance(rtype, str) or not _TYPE_NAME.fullmatch(rtype):
        raise template_format(f"Unrecognized resource types: [{rtype}]")
    unknown = sorted(set(decl) - RESOURCE_KEYS)
    if unknown:
        raise template_format(f"Invalid resource attribute {unknown[0]} in resource {lid}")
    props = decl.get("Properties") or {}
    if not isinstance(props, dict):
        raise template_format(f"[/Resources/{lid}/Properties] must be an object")
    depends = decl.get("DependsOn") or []
    if isinstance(depends, str):
        depends = [depends]
    if not isinstance(depends, list) or not all(isinstance(d, str) for d in depends):
        raise template_format(f"DependsOn of resource {lid} must be a string or a list of strings")
    condition = decl.get("Condition")
    if condition is not None and (not isinstance(condition, str) or condition not in conditions):
        raise template_format(f"Unresolved condition dependency {condition} in resource {lid}")
    policy = decl.get("DeletionPolicy", "Delete")
    if policy not in DELETION_POLICIES:
        raise template_format(f"Unrecognized DeletionPolicy {policy} for resource {lid}")
    return ResourceDef(lid, rtype, props, list(depends), condition, policy)


def _output(key: str, decl: Any, conditions: dict[str, Any]) -> OutputDef:
    _check_logical_id(key, "Output")
    if not isinstance(decl, dict) or "Value" not in decl:
        raise template_format("Every Outputs member must contain a Value object")
    condition = decl.get("Condition")
    if condition is not None and (not isinstance(condition, str) or condition not in conditions):
        raise template_format(f"Unresolved condition dependency {condition} in output {key}")
    export = decl.get("Export")
    export_name = None
    if export is not None:
        if not isinstance(export, dict) or "Name" not in export:
            raise template_format(f"Export of output {key} must contain a Name")
        export_name = export["Name"]
    description = decl.get("Description")
    return OutputDef(key, decl["Value"], str(description) if description is not None else None, condition,
                     export_name)
