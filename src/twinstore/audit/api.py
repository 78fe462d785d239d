"""The CloudTrail API of a region (JSON 1.1): trails, their selectors and logging state, and LookupEvents over
the management-event history."""

from __future__ import annotations

import datetime
import json
import re
from typing import Any, Awaitable, Callable

from ..auth.principal import Principal
from ..auth.request import ApiRequest
from ..protocol.errors import AWSError
from ..protocol.timefmt import now_us
from .auditor import Auditor, Trail
from .layout import trail_log_key
from .selectors import DEFAULT_SELECTORS, validate_advanced, validate_basic

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{1,126}[A-Za-z0-9]$")
_LOG_GROUP_ARN = re.compile(r"^arn:aws:logs:([a-z0-9-]+):(\d{12}):log-group:([\.\-_/#A-Za-z0-9]{1,512})(:\*)?$")
_ROLE_ARN = re.compile(r"^arn:aws:iam::(\d{12}):role/[\w+=,.@/-]{1,512}$")
_LOOKUP_KEYS = ("EventId", "EventName", "ReadOnly", "Username", "ResourceType", "ResourceName", "EventSource",
                "AccessKeyId")
Op = Callable[["CloudTrailService", ApiRequest], Awaitable[dict[str, Any]]]
OPS: dict[str, Op] = {}


def op(fn: Op) -> Op:
    OPS["".join(p.capitalize() for p in fn.__name__.split("_"))] = fn
    return fn


def _err(code: str, message: str) -> AWSError:
    return AWSError(code, message, status=400)


class CloudTrailService:
    service = "cloudtrail"

    def __init__(self, auditor: Auditor, log_group_exists: Callable[[str], Awaitable[bool]] | None = None,
                 pass_role: Callable[[Principal, str, str], None] | None = None) -> None:
        """`pass_role(principal, role ARN, source IP)`: the caller's iam:PassRole check for the log-group role."""
        self.auditor = auditor
        self.log_group_exists = log_group_exists
        self.pass_role = pass_role

    async def call(self, req: ApiRequest) -> dict[str, Any]:
        fn = OPS.get(req.operation)
        if fn is None:
            raise AWSError("UnsupportedOperationException",
                           f"twinstore does not implement CloudTrail {req.operation} yet", status=400)
        return await fn(self, req)

    def resource_arn(self, req: ApiRequest) -> str:
        """What `cloudtrail:<Operation>` is authorized on: the trail named in the call, else `*`."""
        p = req.params
        name = p.get("Name") or p.get("TrailName")
        if not isinstance(name, str) or not name:
            return "*"
        return name if name.startswith("arn:") else self.arn(name)

    # ---- helpers ------------------------------------------------------------------------------------------
    @property
    def region(self) -> str:
        return self.auditor.region

    @property
    def account(self) -> str:
        return self.auditor.account_id

    def arn(self, name: str) -> str:
        return f"arn:aws:cloudtrail:{self.region}:{self.account}:trail/{name}"

    def trail(self, name_or_arn: str | None) -> Trail:
        name = name_or_arn or ""
        if name.startswith("arn:"):
            m = re.match(r"^arn:aws:cloudtrail:([a-z0-9-]+):(\d{12}):trail/(.+)$", name)
            if not m:
                raise _err("InvalidTrailNameException", f"Trail name or ARN {name} is not valid.")
            if m.group(1) != self.region or m.group(2) != self.account:
                raise _err("TrailNotFoundException", f"Unknown trail: {name} for the user: {self.account}")
            name = m.group(3)
        t = self.auditor.trails.get(name)
        if t is None:
            arn = name_or_arn if (name_or_arn or "").startswith("arn:") else self.arn(name)
            raise _err("TrailNotFoundException", f"Unknown trail: {arn} for the user: {self.account}")
        return t

    def view(self, t: Trail) -> dict[str, Any]:
        c = t.config
        out = {k: c[k] for k in ("Name", "S3BucketName", "S3KeyPrefix", "CloudWatchLogsLogGroupArn",
                                 "CloudWatchLogsRoleArn") if c.get(k)}
        out.update({"IncludeGlobalServiceEvents": c.get("IncludeGlobalServiceEvents", True),
                    "IsMultiRegionTrail": False, "HomeRegion": self.region, "TrailARN": c["TrailARN"],
                    "LogFileValidationEnabled": False, "HasCustomEventSelectors": t.basic != DEFAULT_SELECTORS,
                    "HasInsightSelectors": False, "IsOrganizationTrail": False})
        return out

    async def _check_destinations(self, bucket: str, prefix: str, group_arn: str | None,
                                  role_arn: str | None, name: str) -> None:
        reg = await self.auditor.s3.global_store.lookup_bucket(bucket)
        if reg is None or reg.state != "active":
            raise _err("S3BucketDoesNotExistException", f"S3 bucket {bucket} does not exist.")
        b = self.auditor.s3.store.cached_bucket(bucket)
        key = trail_log_key(prefix, self.account, self.region, now_us(), "x")
        ctx = {"s3:x-amz-acl": "bucket-owner-full-control", "aws:SourceAccount": self.account,
               "aws:SourceArn": self.arn(name)}
        check = self.auditor.policy_check
        policy = b.configs.get("policy") if b is not None else None
        if b is None or not (check(policy, "cloudtrail.amazonaws.com", "s3:PutObject", f"arn:aws:s3:::{bucket}/{key}",
                                   ctx)
                             and check(policy, "cloudtrail.amazonaws.com", "s3:GetBucketAcl", f"arn:aws:s3:::{bucket}",
                                       ctx)):
            raise _err("InsufficientS3BucketPolicyException",
                       f"Incorrect S3 bucket policy is detected for bucket: {bucket}")
        if bool(group_arn) != bool(role_arn):
            raise _err("InvalidParameterCombinationException",
                       "You must specify both CloudWatchLogsLogGroupArn and CloudWatchLogsRoleArn, or neither.")
        if group_arn:
            m = _LOG_GROUP_ARN.match(group_arn)
            if not m or m.group(1) != self.region or m.group(2) != self.account:
                raise _err("InvalidCloudWatchLogsLogGroupArnException",
                           "CloudTrail cannot validate the specified log group ARN.")
            if self.log_group_exists is not None and not await self.log_group_exists(m.group(3)):
                raise _err("InvalidCloudWatchLogsLogGroupArnException",
                           "CloudTrail cannot validate the specified log group ARN.")
            if not _ROLE_ARN.match(role_arn or ""):
                raise _err("InvalidCloudWatchLogsRoleArnException",
                           "Access denied. Verify in IAM that the role has adequate permissions.")
            if self.auditor.role_check is not None and not await self.auditor.role_check(role_arn or "", group_arn):
                raise _err("InvalidCloudWatchLogsRoleArnException",
                           "Access denied. Verify in IAM that the role has adequate permissions.")

    @staticmethod
    def _unsupported(p: dict[str, Any]) -> None:
        if p.get("KmsKeyId"):
            raise _err("UnsupportedOperationException", "twinstore does not encrypt log files with KMS keys yet.")
        if p.get("SnsTopicName"):
            raise _err("UnsupportedOperationException", "twinstore does not send SNS notifications yet.")
        if p.get("EnableLogFileValidation"):
            raise _err("UnsupportedOperationException", "twinstore does not write digest files yet.")
        if p.get("IsMultiRegionTrail"):
            raise _err("UnsupportedOperationException",
                       "twinstore trails are single-region: create one trail in each region.")
        if p.get("IsOrganizationTrail"):
            raise _err("OrganizationsNotInUseException",
                       "This account is not a member of an organization.")


def _validate_name(name: str) -> None:
    if not _NAME.match(name) or re.search(r"[._-]{2}", name):
        raise _err("InvalidTrailNameException",
                   "Trail name must start with a letter or number, end with a letter or number, be 3 to 128 "
                   "characters, and contain only letters, numbers, periods, underscores and dashes, with no "
                   "adjacent periods, underscores or dashes.")


@op
async def create_trail(svc: CloudTrailService, req: ApiRequest) -> dict[str, Any]:
    p = req.params
    name = p.get("Name", "")
    _validate_name(name)
    if name in svc.auditor.trails:
        raise _err("TrailAlreadyExistsException", f"Trail {svc.arn(name)} already exists for customer: {svc.account}")
    svc._unsupported(p)
    bucket = p.get("S3BucketName", "")
    prefix = p.get("S3KeyPrefix") or ""
    if p.get("CloudWatchLogsRoleArn") and svc.pass_role is not None:
        svc.pass_role(req.principal, p["CloudWatchLogsRoleArn"], req.source_ip)
    await svc._check_destinations(bucket, prefix, p.get("CloudWatchLogsLogGroupArn"), p.get("CloudWatchLogsRoleArn"),
                                  name)
    config = {"Name": name, "S3BucketName": bucket, "S3KeyPrefix": prefix,
              "IncludeGlobalServiceEvents": p.get("IncludeGlobalServiceEvents", True),
              "CloudWatchLogsLogGroupArn": p.get("CloudWatchLogsLogGroupArn") or "",
              "CloudWatchLogsRoleArn": p.get("CloudWatchLogsRoleArn") or "", "TrailARN": svc.arn(name),
              "Tags": {t["Key"]: t.get("Value", "") for t in p.get("TagsList") or []}}
    trail = Trail(config, basic=[dict(s) for s in DEFAULT_SELECTORS])
    await svc.auditor.save(trail)
    return _trail_answer(svc, trail)


def _trail_answer(svc: CloudTrailService, t: Trail) -> dict[str, Any]:
    """Create/UpdateTrail answer the trail's description without the members only DescribeTrails has."""
    out = svc.view(t)
    for k in ("HomeRegion", "HasCustomEventSelectors", "HasInsightSelectors"):
        out.pop(k)
    return out


@op
async def update_trail(svc: CloudTrailService, req: ApiRequest) -> dict[str, Any]:
    p = req.params
    t = svc.trail(p.get("Name"))
    svc._unsupported(p)
    c = dict(t.config)
    for k in ("S3BucketName", "S3KeyPrefix", "IncludeGlobalServiceEvents", "CloudWatchLogsLogGroupArn",
              "CloudWatchLogsRoleArn"):
        if k in p:
            c[k] = p[k]
    if p.get("CloudWatchLogsRoleArn") and svc.pass_role is not None:
        svc.pass_role(req.principal, p["CloudWatchLogsRoleArn"], req.source_ip)
    await svc._check_destinations(c["S3BucketName"], c.get("S3KeyPrefix") or "", c.get("CloudWatchLogsLogGroupArn"),
                                  c.get("CloudWatchLogsRoleArn"), t.name)
    t.config = c
    await svc.auditor.save(t)
    return _trail_answer(svc, t)


@op
async def delete_trail(svc: CloudTrailService, req: ApiRequest) -> dict[str, Any]:
    t = svc.trail(req.params.get("Name"))
    await svc.auditor.remove(t.name)
    return {}


@op
async def get_trail(svc: CloudTrailService, req: ApiRequest) -> dict[str, Any]:
    return {"Trail": svc.view(svc.trail(req.params.get("Name")))}


@op
async def describe_trails(svc: CloudTrailService, req: ApiRequest) -> dict[str, Any]:
    names = req.params.get("trailNameList") or []
    if not names:
        return {"trailList": [svc.view(t) for t in sorted(svc.auditor.trails.values(), key=lambda t: t.name)]}
    out = []
    for n in names:
        try:
            out.append(svc.view(svc.trail(n)))
        except AWSError:
            continue  # DescribeTrails leaves unknown names out
    return {"trailList": out}


@op
async def list_trails(svc: CloudTrailService, req: ApiRequest) -> dict[str, Any]:
    return {"Trails": [{"TrailARN": t.config["TrailARN"], "Name": t.name, "HomeRegion": svc.region}
                       for t in sorted(svc.auditor.trails.values(), key=lambda t: t.name)]}


@op
async def start_logging(svc: CloudTrailService, req: ApiRequest) -> dict[str, Any]:
    t = svc.trail(req.params.get("Name"))
    if not t.logging:
        t.logging, t.start_logging_us = True, now_us()
        await svc.auditor.save(t)
    return {}


@op
async def stop_logging(svc: CloudTrailService, req: ApiRequest) -> dict[str, Any]:
    t = svc.trail(req.params.get("Name"))
    if t.logging:
        t.logging, t.stop_logging_us = False, now_us()
        await svc.auditor.save(t)
    return {}


def _fmt(us: int | None) -> str | None:
    if us is None:
        return None
    return datetime.datetime.fromtimestamp(us / 1e6, datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


@op
async def get_trail_status(svc: CloudTrailService, req: ApiRequest) -> dict[str, Any]:
    t = svc.trail(req.params.get("Name"))
    st = t.status
    out: dict[str, Any] = {"IsLogging": t.logging, "LatestDeliveryTime": st.latest_delivery_us,
                           "StartLoggingTime": t.start_logging_us, "StopLoggingTime": t.stop_logging_us,
                           "LatestCloudWatchLogsDeliveryTime": st.latest_cwl_us,
                           "TimeLoggingStarted": _fmt(t.start_logging_us), "TimeLoggingStopped": _fmt(t.stop_logging_us),
                           "LatestDeliveryAttemptTime": _fmt(st.latest_attempt_us),
                           "LatestNotificationAttemptTime": "", "LatestNotificationAttemptSucceeded": "",
                           "LatestDeliveryAttemptSucceeded": _fmt(st.latest_delivery_us) or ""}
    if st.latest_delivery_error:
        out["LatestDeliveryError"] = st.latest_delivery_error
    if st.latest_cwl_error:
        out["LatestCloudWatchLogsDeliveryError"] = st.latest_cwl_error
    return {k: v for k, v in out.items() if v is not None}


@op
async def put_event_selectors(svc: CloudTrailService, req: ApiRequest) -> dict[str, Any]:
    p = req.params
    t = svc.trail(p.get("TrailName"))
    basic, advanced = p.get("EventSelectors"), p.get("AdvancedEventSelectors")
    if (basic is None) == (advanced is None):
        raise _err("InvalidParameterCombinationException",
                   "You must specify either EventSelectors or AdvancedEventSelectors, but not both.")
    if basic is not None:
        t.basic, t.advanced = validate_basic(basic), None
    else:
        t.basic, t.advanced = None, validate_advanced(advanced)
    await svc.auditor.save(t)
    return _selectors(t)


@op
async def get_event_selectors(svc: CloudTrailService, req: ApiRequest) -> dict[str, Any]:
    return _selectors(svc.trail(req.params.get("TrailName")))


def _selectors(t: Trail) -> dict[str, Any]:
    """Put/GetEventSelectors' answer: the trail's ARN and whichever kind of selectors it has."""
    if t.advanced is not None:
        return {"TrailARN": t.config["TrailARN"], "AdvancedEventSelectors": t.advanced}
    return {"TrailARN": t.config["TrailARN"], "EventSelectors": t.basic}


@op
async def lookup_events(svc: CloudTrailService, req: ApiRequest) -> dict[str, Any]:
    """Management events of the last 90 days, newest first; data events are never in the event history."""
    p = req.params
    attrs = p.get("LookupAttributes") or []
    if len(attrs) > 1:
        raise _err("InvalidLookupAttributesException", "You cannot specify more than one lookup attribute.")
    attribute = None
    if attrs:
        k, v = attrs[0].get("AttributeKey"), attrs[0].get("AttributeValue", "")
        if k not in _LOOKUP_KEYS:
            raise _err("InvalidLookupAttributesException", f"Invalid AttributeKey: {k}")
        attribute = (k, v)
    if p.get("EventCategory") == "insight":
        return {"Events": []}
    now = now_us()
    start = p.get("StartTime") or now - 90 * 86400 * 1_000_000
    end = p.get("EndTime") or now
    if start > end:
        raise _err("InvalidTimeRangeException", "Start time must be earlier than end time.")
    limit = p.get("MaxResults") or 50
    if not 1 <= limit <= 50:
        raise _err("InvalidMaxResultsException", "MaxResults must be between 1 and 50.")
    before = None
    if p.get("NextToken"):
        try:
            before = int(p["NextToken"])
        except ValueError:
            raise _err("InvalidNextTokenException", "The NextToken is not valid.") from None
    await svc.auditor.settle()
    rows = await svc.auditor.store.lookup(attribute, start, end, before, limit + 1)
    events = []
    for _, body in rows[:limit]:
        r = json.loads(body)
        ui = r["userIdentity"]
        ev: dict[str, Any] = {"EventId": r["eventID"], "EventName": r["eventName"],
                              "ReadOnly": "true" if r["readOnly"] else "false",
                              "EventTime": _parse_time(r["eventTime"]), "EventSource": r["eventSource"],
                              "Resources": [{"ResourceType": x["type"], "ResourceName": x["ARN"].split(":::", 1)[-1]}
                                            for x in r.get("resources") or []],
                              "CloudTrailEvent": body}
        if ui.get("accessKeyId"):
            ev["AccessKeyId"] = ui["accessKeyId"]
        user = "root" if ui.get("type") == "Root" else ui.get("userName") or ui.get("arn", "").rpartition("/")[2]
        if user:
            ev["Username"] = user
        events.append(ev)
    out: dict[str, Any] = {"Events": events}
    if len(rows) > limit:
        out["NextToken"] = str(rows[limit - 1][0])
    return out


def _parse_time(s: str) -> int:
    dt = datetime.datetime.strptime(s, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=datetime.timezone.utc)
    return int(dt.timestamp()) * 1_000_000


@op
async def add_tags(svc: CloudTrailService, req: ApiRequest) -> dict[str, Any]:
    t = svc.trail(req.params.get("ResourceId"))
    tags = dict(t.config.get("Tags") or {})
    for tag in req.params.get("TagsList") or []:
        tags[tag["Key"]] = tag.get("Value", "")
    if len(tags) > 50:
        raise _err("TagsLimitExceededException", "The number of tags per trail has exceeded the permitted amount.")
    t.config["Tags"] = tags
    await svc.auditor.save(t)
    return {}


@op
async def remove_tags(svc: CloudTrailService, req: ApiRequest) -> dict[str, Any]:
    t = svc.trail(req.params.get("ResourceId"))
    tags = dict(t.config.get("Tags") or {})
    for tag in req.params.get("TagsList") or []:
        tags.pop(tag["Key"], None)
    t.config["Tags"] = tags
    await svc.auditor.save(t)
    return {}


@op
async def list_tags(svc: CloudTrailService, req: ApiRequest) -> dict[str, Any]:
    out = []
    for rid in req.params.get("ResourceIdList") or []:
        t = svc.trail(rid)
        out.append({"ResourceId": t.config["TrailARN"],
                    "TagsList": [{"Key": k, "Value": v} for k, v in sorted((t.config.get("Tags") or {}).items())]})
    return {"ResourceTagList": out}
