"""AWS::CloudTrail::Trail, through the CloudTrail API: CreateTrail, PutEventSelectors, StartLogging."""

from __future__ import annotations

from typing import Any

from .base import ProviderContext, ProviderError, as_bool, call, check_properties, ignore_not_found, tag_list


def _event_selectors(selectors: list[dict[str, Any]]) -> list[dict[str, Any]]:
    out = []
    for s in selectors:
        item: dict[str, Any] = {}
        if "ReadWriteType" in s:
            item["ReadWriteType"] = s["ReadWriteType"]
        if "IncludeManagementEvents" in s:
            item["IncludeManagementEvents"] = as_bool(s["IncludeManagementEvents"])
        if "DataResources" in s:
            item["DataResources"] = [{"Type": d["Type"], "Values": [str(v) for v in d.get("Values") or []]}
                                     for d in s["DataResources"]]
        if "ExcludeManagementEventSources" in s:
            item["ExcludeManagementEventSources"] = list(s["ExcludeManagementEventSources"])
        out.append(item)
    return out


def _advanced(selectors: list[dict[str, Any]]) -> list[dict[str, Any]]:
    out = []
    for s in selectors:
        fields = []
        for f in s.get("FieldSelectors") or []:
            fields.append({k: (v if k == "Field" else [str(x) for x in v]) for k, v in f.items()})
        out.append({**({"Name": s["Name"]} if "Name" in s else {}), "FieldSelectors": fields})
    return out


class TrailProvider:
    type = "AWS::CloudTrail::Trail"
    supported = {"S3BucketName", "IsLogging", "TrailName", "S3KeyPrefix", "SnsTopicName",
                 "IncludeGlobalServiceEvents", "IsMultiRegionTrail", "IsOrganizationTrail", "EnableLogFileValidation",
                 "CloudWatchLogsLogGroupArn", "CloudWatchLogsRoleArn", "KMSKeyId", "EventSelectors",
                 "AdvancedEventSelectors", "Tags"}

    def create(self, ctx: ProviderContext, props: dict[str, Any]) -> tuple[str, dict[str, Any]]:
        check_properties(self.type, props, self.supported, {"S3BucketName", "IsLogging"})
        name = str(props.get("TrailName") or ctx.generated_name(128))
        flags = {k: as_bool(props[k]) for k in ("IncludeGlobalServiceEvents", "IsMultiRegionTrail",
                                                 "IsOrganizationTrail", "EnableLogFileValidation") if k in props}
        try:
            out = call(ctx, "cloudtrail", "create_trail", Name=name, S3BucketName=str(props["S3BucketName"]),
                       S3KeyPrefix=props.get("S3KeyPrefix"), SnsTopicName=props.get("SnsTopicName"),
                       CloudWatchLogsLogGroupArn=props.get("CloudWatchLogsLogGroupArn"),
                       CloudWatchLogsRoleArn=props.get("CloudWatchLogsRoleArn"), KmsKeyId=props.get("KMSKeyId"),
                       TagsList=tag_list(ctx, props), **flags)
        except ProviderError as e:
            if e.code == "TrailAlreadyExistsException":
                raise ProviderError(f"{name} already exists", e.code) from None
            raise
        ctx.initiated(name)
        if props.get("EventSelectors"):
            call(ctx, "cloudtrail", "put_event_selectors", TrailName=name,
                 EventSelectors=_event_selectors(props["EventSelectors"]))
        elif props.get("AdvancedEventSelectors"):
            call(ctx, "cloudtrail", "put_event_selectors", TrailName=name,
                 AdvancedEventSelectors=_advanced(props["AdvancedEventSelectors"]))
        if as_bool(props["IsLogging"]):
            call(ctx, "cloudtrail", "start_logging", Name=name)
        arn = out.get("TrailARN") or f"arn:aws:cloudtrail:{ctx.region}:{ctx.account_id}:trail/{name}"
        return name, {"Arn": arn, "SnsTopicArn": out.get("SnsTopicARN", "")}

    def delete(self, ctx: ProviderContext, physical_id: str, props: dict[str, Any], attrs: dict[str, Any]) -> None:
        # stop delivery first, so the trail stops writing into the logging bucket about to be deleted
        ignore_not_found(lambda: call(ctx, "cloudtrail", "stop_logging", Name=physical_id))
        ignore_not_found(lambda: call(ctx, "cloudtrail", "delete_trail", Name=physical_id))



