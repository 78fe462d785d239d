"""Template text -> plain data: JSON, or YAML the way CloudFormation reads it.

CloudFormation's YAML is YAML 1.1 without timestamps (`2010-09-09` stays a string), without aliases, anchors and
merge keys, and with the short-form tags (`!Ref X`, `!GetAtt A.B`, `!Sub ...`) that load as their long JSON form
(`{"Ref": "X"}`, `{"Fn::GetAtt": ["A", "B"]}`, `{"Fn::Sub": ...}`).
"""

from __future__ import annotations

import json
from typing import Any

import yaml
from yaml import nodes

from .errors import template_format

# short tag -> long form key
_FUNCTIONS = {
    "!Ref": "Ref", "!Condition": "Condition", "!Sub": "Fn::Sub", "!GetAtt": "Fn::GetAtt", "!Join": "Fn::Join",
    "!Select": "Fn::Select", "!Split": "Fn::Split", "!If": "Fn::If", "!Equals": "Fn::Equals", "!Not": "Fn::Not",
    "!And": "Fn::And", "!Or": "Fn::Or", "!FindInMap": "Fn::FindInMap", "!GetAZs": "Fn::GetAZs",
    "!ImportValue": "Fn::ImportValue", "!Base64": "Fn::Base64", "!Cidr": "Fn::Cidr", "!Length": "Fn::Length",
    "!ToJsonString": "Fn::ToJsonString", "!Transform": "Fn::Transform",
}
_TIMESTAMP = "tag:yaml.org,2002:timestamp"
_MERGE = "tag:yaml.org,2002:merge"


class _AliasError(Exception):
    """A YAML anchor, alias or merge key, which CloudFormation templates may not use."""


class TemplateLoader(yaml.SafeLoader):
    """SafeLoader without the timestamp resolver, refusing aliases and merge keys, knowing the CFN tags."""

    yaml_implicit_resolvers = {
        first: [(tag, regexp) for tag, regexp in resolvers if tag != _TIMESTAMP]
        for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
    }

    def compose_node(self, parent: Any, index: Any) -> Any:
        if self.check_event(yaml.AliasEvent):
            raise _AliasError()
        event = self.peek_event()
        if getattr(event, "anchor", None):
            raise _AliasError()
        return super().compose_node(parent, index)

    def flatten_mapping(self, node: nodes.MappingNode) -> None:
        for key, _ in node.value:
            if key.tag == _MERGE:
                raise _AliasError()

    def construct_mapping(self, node: nodes.Node, deep: bool = False) -> dict[Any, Any]:
        if not isinstance(node, nodes.MappingNode):
            return super().construct_mapping(node, deep)
        self.flatten_mapping(node)
        out: dict[Any, Any] = {}
        for key_node, value_node in node.value:
            # a plain scalar key is its text (`Yes:` names "Yes", not True)
            key = key_node.value if isinstance(key_node, nodes.ScalarNode) else \
                str(self.construct_object(key_node, deep=True))
            if key in out:
                mark = key_node.start_mark
                raise template_format(f"YAML not well-formed. Duplicate key '{key}' "
                                      f"(line {mark.line + 1}, column {mark.column + 1})")
            out[key] = self.construct_object(value_node, deep=True)
        return out


def _construct_function(loader: TemplateLoader, tag_suffix: str, node: nodes.Node) -> dict[str, Any]:
    tag = "!" + tag_suffix
    name = _FUNCTIONS.get(tag)
    if name is None:
        mark = node.start_mark
        raise template_format(f"YAML not well-formed. Unknown tag {tag} (line {mark.line + 1}, column "
                              f"{mark.column + 1})")
    value: Any
    if isinstance(node, nodes.ScalarNode):
        value = loader.construct_scalar(node)
        if name == "Fn::GetAtt":
            res, _, attr = str(value).partition(".")
            value = [res, attr]
        elif name == "Fn::GetAZs" and value is None:
            value = ""
    elif isinstance(node, nodes.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        value = loader.construct_mapping(node, deep=True)
    return {name: value}


TemplateLoader.add_multi_constructor("!", _construct_function)


def load_template(body: str) -> dict[str, Any]:
    """Parses a template body (JSON or YAML); raises ValidationError "Template format error: ..."."""
    text = body.lstrip("\ufeff")
    if text.lstrip().startswith("{"):
        try:
            data = json.loads(text)
        except json.JSONDecodeError as e:
            raise template_format(f"JSON not well-formed. (line {e.lineno}, column {e.colno})") from None
    else:
        try:
            data = yaml.load(text, Loader=TemplateLoader)  # noqa: S506 - TemplateLoader is a SafeLoader
        except _AliasError:
            raise template_format("YAML aliases are not allowed in CloudFormation templates") from None
        except yaml.MarkedYAMLError as e:
            mark = e.problem_mark or e.context_mark
            where = f" (line {mark.line + 1}, column {mark.column + 1})" if mark else ""
            raise template_format(f"YAML not well-formed.{where}") from None
        except yaml.YAMLError:
            raise template_format("YAML not well-formed.") from None
    if not isinstance(data, dict):
        raise template_format("template must be a JSON or YAML object")
    return data
