"""The CloudFormation query API of one region (service "cloudformation"), on top of the stack engine."""

from __future__ import annotations

import asyncio
import contextvars
import re
import uuid
from datetime import datetime, timezone
from typing import Any, Awaitable, Callable
from urllib.parse import unquote, urlsplit

from ..auth.principal import Principal
from ..auth.request import ApiRequest
from ..protocol.errors import AWSError
from ..protocol.timefmt import now_us
from .caller import record
from .engine import USER_INITIATED, StackEngine, pseudo_parameters
from .errors import validation
from .parameters import NO_ECHO_MASK
from .store import STACK_TYPE, Event, NameTaken, Resource, Stack, StackStore, new_event_id
from .template import MAX_BODY, Template

_STACK_NAME = re.compile(r"[a-zA-Z][-a-zA-Z0-9]*")
MAX_TEMPLATE_URL_BYTES = 1 << 20
PAGE = 100

# (bucket, key) -> template text; raises AWSError when the object cannot be read
TemplateFetcher = Callable[[str, str], Awaitable[str]]
# may this principal read the template object (bucket, key)? The fetch itself uses the root credentials.
TemplateAccess = Callable[[Principal, str, str], Awaitable[bool]]
_caller: contextvars.ContextVar[Principal | None] = contextvars.ContextVar("cloudformation_caller", default=None)


async def root_only(principal: Principal, bucket: str, key: str) -> bool:
    """Until an IAM-backed check is wired in, only the account root may have templates read from S3."""
    return principal.is_root


def _ts(us: int | None) -> datetime | None:
    return datetime.fromtimestamp(us / 1e6, tz=timezone.utc) if us is not None else None


def _drop_none(d: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in d.items() if v is not None}


def _page(items: list[Any], params: dict[str, Any]) -> tuple[list[Any], str | None]:
    """One page of `items` from the NextToken offset, and the token of the next page (None: last page)."""
    try:
        start = int(params.get("NextToken") or 0)
    except ValueError:
        start = -1
    if start < 0:
        raise validation("Invalid NextToken")
    end = start + PAGE
    return items[start:end], (str(end) if end < len(items) else None)


def template_location(url: str) -> tuple[str, str]:
    """(bucket, key) of a TemplateURL: virtual-hosted (`b.s3[.region].amazonaws.com/key`) or path-style
    (`s3[.region].amazonaws.com/b/key`, or a twinstore endpoint `http://host:port/b/key`)."""
    u = urlsplit(url)
    if u.scheme not in ("http", "https") or not u.hostname:
        raise validation("TemplateURL must be a supported URL.")
    host = u.hostname
    m = re.match(r"(.+)\.s3[.-]", host)
    if m and host.endswith(".amazonaws.com"):
        bucket, key = m.group(1), u.path.lstrip("/")
    else:
        bucket, _, key = u.path.lstrip("/").partition("/")
    if not bucket or not key:
        raise validation("TemplateURL must reference a valid S3 object to which you have access.")
    return unquote(bucket), unquote(key)


class CloudFormationService:
    service = "cloudformation"

    def __init__(self, region: str, account_id: str, store: StackStore, engine: StackEngine,
                 fetch_template: TemplateFetcher, template_access: TemplateAccess = root_only) -> None:
        self.region = region
        self.account_id = account_id
        self.store = store
        self.engine = engine
        self.fetch_template = fetch_template
        self.template_access = template_access

    def resource_arn(self, req: ApiRequest) -> str:
        """What IAM authorizes a call on: the stack (`stack/<name>/*` as AWS scopes it), else `*`."""
        name = req.params.get("StackName")
        if not name:
            return "*"
        if str(name).startswith("arn:"):
            return str(name)
        return f"arn:aws:cloudformation:{self.region}:{self.account_id}:stack/{name}/*"

    async def call(self, req: ApiRequest) -> dict[str, Any]:
        handler = getattr(self, "op_" + req.operation, None)
        if handler is None:
            raise AWSError("InvalidAction", f"The action {req.operation} is not valid for this web service.",
                           status=400)
        _caller.set(req.principal)
        return await handler(req.params)

    # ---- helpers ------------------------------------------------------------------------------------------
    async def _template(self, params: dict[str, Any]) -> tuple[str, Template]:
        body = await self._template_body(params)
        limit = None if params.get("TemplateURL") is not None else MAX_BODY
        return body, Template.parse(body, max_bytes=limit)

    async def _template_body(self, params: dict[str, Any]) -> str:
        body, url = params.get("TemplateBody"), params.get("TemplateURL")
        if (body is None) == (url is None):
            raise validation("Exactly one of TemplateBody or TemplateUrl must be specified.")
        if body is not None:
            return str(body)
        bucket, key = template_location(str(url))
        caller = _caller.get()
        if caller is None or not await self.template_access(caller, bucket, key):
            raise validation("TemplateURL must reference a valid S3 object to which you have access.")
        return await self.fetch_template(bucket, key)

    async def _stack(self, name: Any) -> Stack:
        if not name:
            raise validation("1 validation error detected: Value null at 'stackName' failed to satisfy "
                             "constraint: Member must not be null")
        stack = await self.store.get_stack(str(name))
        if stack is None:
            raise validation(f"Stack with id {name} does not exist")
        return stack

    @staticmethod
    def _caller_record() -> dict[str, Any]:
        """The principal of the call being served, as the stack operation it starts records it."""
        caller = _caller.get()
        return record(caller) if caller is not None else {}

    def _event(self, stack: Stack, status: str, reason: str) -> Event:
        return Event(stack.id, new_event_id(), stack.name, stack.id, STACK_TYPE, now_us(), status, reason, None,
                     stack.client_token)

    # ---- operations ---------------------------------------------------------------------------------------
    async def op_ValidateTemplate(self, params: dict[str, Any]) -> dict[str, Any]:
        _, template = await self._template(params)
        caps, reason = template.required_capabilities()
        out: dict[str, Any] = {
            "Parameters": [_drop_none({"ParameterKey": p.name, "DefaultValue": p.default, "NoEcho": p.no_echo,
                                       "Description": p.description or None})
                           for p in template.parameters.values()],
            "Capabilities": caps, "DeclaredTransforms": []}
        if template.description is not None:
            out["Description"] = template.description
        if reason:
            out["CapabilitiesReason"] = reason
        return out

    async def op_CreateStack(self, params: dict[str, Any]) -> dict[str, Any]:
        name = str(params.get("StackName") or "")
        if not _STACK_NAME.fullmatch(name) or len(name) > 128:
            raise validation(f"1 validation error detected: Value '{name}' at 'stackName' failed to satisfy "
                             f"constraint: Member must satisfy regular expression pattern: "
                             f"[a-zA-Z][-a-zA-Z0-9]*|arn:[-a-zA-Z0-9:/._+]*")
        if params.get("OnFailure") is not None and params.get("DisableRollback") is not None:
            raise validation("You may not specify both OnFailure and DisableRollback")
        on_failure = str(params.get("OnFailure") or ("DO_NOTHING" if params.get("DisableRollback") else "ROLLBACK"))
        if on_failure not in ("ROLLBACK", "DO_NOTHING", "DELETE"):
            raise validation(f"Invalid OnFailure value: {on_failure}")
        tags = [{"Key": str(t.get("Key", "")), "Value": str(t.get("Value", ""))} for t in params.get("Tags") or []]
        if len(tags) > 50:
            raise validation("Number of tags exceeds the limit of 50")
        body, template = await self._template(params)
        given: dict[str, str] = {}
        for p in params.get("Parameters") or []:
            if p.get("UsePreviousValue"):
                raise validation("UsePreviousValue can only be used when updating a stack")
            given[str(p.get("ParameterKey"))] = str(p.get("ParameterValue", ""))
        existing = await self.store.get_stack(name)
        if existing is not None:
            token = params.get("ClientRequestToken")
            if token and existing.client_token == token:  # a retry of the request that created it
                return {"StackId": existing.id}
            raise AWSError("AlreadyExistsException", f"Stack [{name}] already exists", status=400)
        stack = Stack(id=f"arn:aws:cloudformation:{self.region}:{self.account_id}:stack/{name}/{uuid.uuid4()}",
                      name=name, status="CREATE_IN_PROGRESS", template=body, parameters=[],
                      capabilities=[str(c) for c in params.get("Capabilities") or []], tags=tags,
                      on_failure=on_failure, created_us=now_us(), reason=USER_INITIATED,
                      description=template.description, client_token=params.get("ClientRequestToken"),
                      caller=self._caller_record())
        ctx = template.context(given, pseudo_parameters(stack, self.region, self.account_id))
        template.graph(ctx.conditions)
        template.check_capabilities(stack.capabilities)
        stack.parameters = [{"ParameterKey": n, "ParameterValue": given.get(n, d.default or "")}
                            for n, d in template.parameters.items()]
        stack.no_echo = [n for n, d in template.parameters.items() if d.no_echo]
        try:
            await self.store.create_stack(stack, self._event(stack, "CREATE_IN_PROGRESS", USER_INITIATED))
        except NameTaken:
            raise AWSError("AlreadyExistsException", f"Stack [{name}] already exists", status=400) from None
        self.engine.begin_create(stack)
        return {"StackId": stack.id}

    async def op_DeleteStack(self, params: dict[str, Any]) -> dict[str, Any]:
        name = params.get("StackName")
        stack = await self.store.get_stack(str(name)) if name else None
        if name is None:
            raise validation("1 validation error detected: Value null at 'stackName' failed to satisfy "
                             "constraint: Member must not be null")
        if stack is None or stack.status in ("DELETE_COMPLETE", "DELETE_IN_PROGRESS"):
            return {}
        retain = [str(r) for r in params.get("RetainResources") or []]
        if retain and stack.status != "DELETE_FAILED":
            raise validation(f"Invalid operation on stack [{stack.id}]: RetainResources can only be specified "
                             f"when the stack is in the DELETE_FAILED state")
        if retain:
            known = {r.logical_id for r in await self.store.resources(stack.id)}
            unknown = [r for r in retain if r not in known]
            if unknown:
                raise validation(f"The specified resources to retain do not exist in the stack: "
                                 f"[{', '.join(unknown)}]")
        caller = self._caller_record()
        if self.engine.busy(stack.id):
            if self.engine.request_delete(stack, retain, caller):
                return {}
            await self.engine.wait_idle(stack.id)  # a rollback about to settle
            stack = await self._stack(stack.id)
            if stack.status == "DELETE_COMPLETE":
                return {}
        stack.status, stack.reason, stack.retain, stack.caller = "DELETE_IN_PROGRESS", USER_INITIATED, retain, caller
        await self.store.set_stack_status(stack.id, stack.status, stack.reason,
                                          self._event(stack, stack.status, USER_INITIATED), retain=retain,
                                          caller=caller)
        self.engine.begin_delete(stack, retain)
        return {}

    async def op_DescribeStacks(self, params: dict[str, Any]) -> dict[str, Any]:
        name = params.get("StackName")
        stacks = [await self._stack(name)] if name else await self.store.list_stacks(include_deleted=False)
        page, token = _page(stacks, params)
        return _drop_none({"Stacks": [self._describe(s) for s in page], "NextToken": token})

    def _describe(self, s: Stack) -> dict[str, Any]:
        params = [{"ParameterKey": p["ParameterKey"],
                   "ParameterValue": NO_ECHO_MASK if p["ParameterKey"] in s.no_echo else p["ParameterValue"]}
                  for p in s.parameters]
        return _drop_none({
            "StackId": s.id, "StackName": s.name, "Description": s.description, "Parameters": params,
            "CreationTime": _ts(s.created_us), "DeletionTime": _ts(s.deleted_us),
            "LastUpdatedTime": None, "StackStatus": s.status, "StackStatusReason": s.reason or None,
            "DisableRollback": s.on_failure == "DO_NOTHING", "NotificationARNs": [],
            "Capabilities": s.capabilities, "Outputs": s.outputs or None, "Tags": s.tags,
            "EnableTerminationProtection": False, "DriftInformation": {"StackDriftStatus": "NOT_CHECKED"},
            "RollbackConfiguration": {}})

    async def op_DescribeStackEvents(self, params: dict[str, Any]) -> dict[str, Any]:
        stack = await self._stack(params.get("StackName"))
        page, token = _page(await self.store.events(stack.id), params)
        out: dict[str, Any] = {"StackEvents": [_drop_none({
            "StackId": e.stack_id, "EventId": e.event_id, "StackName": stack.name, "LogicalResourceId": e.logical_id,
            "PhysicalResourceId": e.physical_id or "", "ResourceType": e.type, "Timestamp": _ts(e.ts_us),
            "ResourceStatus": e.status, "ResourceStatusReason": e.reason, "ResourceProperties": e.properties,
            "ClientRequestToken": e.client_token}) for e in page]}
        if token:
            out["NextToken"] = token
        return out

    def _resource(self, stack: Stack, r: Resource, time_key: str = "Timestamp") -> dict[str, Any]:
        return _drop_none({
            "StackName": stack.name, "StackId": stack.id, "LogicalResourceId": r.logical_id,
            "PhysicalResourceId": r.physical_id or "", "ResourceType": r.type, time_key: _ts(r.updated_us),
            "ResourceStatus": r.status, "ResourceStatusReason": r.reason or None,
            "DriftInformation": {"StackResourceDriftStatus": "NOT_CHECKED"}})

    async def op_DescribeStackResource(self, params: dict[str, Any]) -> dict[str, Any]:
        stack = await self._stack(params.get("StackName"))
        lid = params.get("LogicalResourceId")
        for r in await self.store.resources(stack.id):
            if r.logical_id == lid:
                detail = self._resource(stack, r, "LastUpdatedTimestamp")
                detail["Metadata"] = "{}"
                return {"StackResourceDetail": detail}
        raise validation(f"Resource {lid} does not exist for stack {stack.name}")

    async def op_DescribeStackResources(self, params: dict[str, Any]) -> dict[str, Any]:
        name, physical = params.get("StackName"), params.get("PhysicalResourceId")
        if name is None and physical is None:
            raise validation("Either StackName or PhysicalResourceId must be specified")
        if name is not None:
            stack = await self._stack(name)
        else:
            owners = [r for r in await self.store.resources_by_physical_id(str(physical))]
            live = [await self.store.get_stack(r.stack_id) for r in owners]
            found = [s for s in live if s is not None and s.deleted_us is None]
            if not found:
                raise validation(f"Stack for {physical} does not exist")
            stack = found[0]
        lid = params.get("LogicalResourceId")
        rows = [r for r in await self.store.resources(stack.id) if lid is None or r.logical_id == lid]
        return {"StackResources": [self._resource(stack, r) for r in rows]}

    async def op_ListStackResources(self, params: dict[str, Any]) -> dict[str, Any]:
        stack = await self._stack(params.get("StackName"))
        out = []
        for r in await self.store.resources(stack.id):
            d = self._resource(stack, r, "LastUpdatedTimestamp")
            d.pop("StackName")
            d.pop("StackId")
            out.append(d)
        page, token = _page(out, params)
        return _drop_none({"StackResourceSummaries": page, "NextToken": token})

    async def op_ListStacks(self, params: dict[str, Any]) -> dict[str, Any]:
        wanted = set(params.get("StackStatusFilter") or [])
        stacks = [s for s in await self.store.list_stacks(include_deleted=True) if not wanted or s.status in wanted]
        page, token = _page(stacks, params)
        return _drop_none({"StackSummaries": [_drop_none({
            "StackId": s.id, "StackName": s.name, "TemplateDescription": s.description,
            "CreationTime": _ts(s.created_us), "DeletionTime": _ts(s.deleted_us), "StackStatus": s.status,
            "StackStatusReason": s.reason or None, "DriftInformation": {"StackDriftStatus": "NOT_CHECKED"}})
            for s in page], "NextToken": token})

    async def op_GetTemplate(self, params: dict[str, Any]) -> dict[str, Any]:
        stack = await self._stack(params.get("StackName"))
        return {"TemplateBody": stack.template, "StagesAvailable": ["Original", "Processed"]}

    async def op_ListExports(self, params: dict[str, Any]) -> dict[str, Any]:
        page, token = _page(await self.store.exports(), params)
        return _drop_none({"Exports": [{"ExportingStackId": sid, "Name": n, "Value": v} for n, v, sid in page],
                           "NextToken": token})


async def to_thread_fetch(client_for: Callable[[], Any], bucket: str, key: str) -> str:
    """Reads a template object with a botocore S3 client on a worker thread."""
    def fetch() -> str:
        from botocore.exceptions import BotoCoreError, ClientError
        try:
            obj = client_for().get_object(Bucket=bucket, Key=key)
            data = obj["Body"].read(MAX_TEMPLATE_URL_BYTES + 1)
        except (ClientError, BotoCoreError):
            raise validation("TemplateURL must reference a valid S3 object to which you have access.") from None
        if len(data) > MAX_TEMPLATE_URL_BYTES:
            raise validation("Template may not exceed 1048576 bytes in size.")
        try:
            return data.decode("utf-8")
        except UnicodeDecodeError:
            raise validation("Template format error: the template is not valid UTF-8") from None
    return await asyncio.to_thread(fetch)
