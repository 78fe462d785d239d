"""How an API call is classified for CloudTrail: data or management, read-only or not, its resources."""

from __future__ import annotations

from dataclasses import dataclass

# S3 object-level operations (CloudTrail data events for AWS::S3::Object), by read/write class.
S3_DATA_WRITE = frozenset({
    "PutObject", "CopyObject", "CreateMultipartUpload", "UploadPart", "UploadPartCopy", "CompleteMultipartUpload",
    "AbortMultipartUpload", "DeleteObject", "DeleteObjects", "PutObjectTagging", "DeleteObjectTagging",
    "PutObjectAcl", "PutObjectRetention", "PutObjectLegalHold", "RestoreObject", "WriteGetObjectResponse"})
S3_DATA_READ = frozenset({
    "GetObject", "HeadObject", "GetObjectAcl", "GetObjectTagging", "GetObjectAttributes", "GetObjectRetention",
    "GetObjectLegalHold", "ListParts", "SelectObjectContent", "GetObjectTorrent"})
# CloudWatch Logs data-plane calls: CloudTrail records them as data events (never in the event history)
LOGS_DATA = frozenset({"PutLogEvents", "GetLogEvents", "FilterLogEvents", "GetLogRecord", "StartLiveTail"})
_READ_PREFIXES = ("Get", "Head", "List", "Describe", "Lookup", "Search", "Filter", "Test", "Decrypt", "Verify")


# internal operations recorded under the S3 API name AWS shows for them (replication writes a replica through
# twinstore-internal operations; CloudTrail shows PutObject/DeleteObject/PutObjectTagging by the role session)
EVENT_NAMES = {"ReplicateObject": "PutObject", "ReplicateDelete": "DeleteObject", "ReplicateTags": "PutObjectTagging"}


@dataclass(slots=True, frozen=True)
class EventClass:
    category: str  # "Data" | "Management"
    read_only: bool
    resource_type: str  # "AWS::S3::Object" / "AWS::Logs::LogGroup" for data events, "" otherwise
    resource_arn: str  # the object ARN for data events, "" otherwise

    @property
    def management(self) -> bool:
        return self.category == "Management"


def is_read_only(service: str, operation: str) -> bool:
    if service == "s3":
        if operation in S3_DATA_WRITE:
            return False
        if operation in S3_DATA_READ:
            return True
    if service == "logs" and operation in ("StartQuery", "GetQueryResults", "FilterLogEvents"):
        return True
    return operation.startswith(_READ_PREFIXES)


def classify(service: str, operation: str, bucket: str | None, key: str | None) -> EventClass:
    read_only = is_read_only(service, operation)
    if service == "s3" and bucket and (operation in S3_DATA_WRITE or operation in S3_DATA_READ):
        return EventClass("Data", read_only, "AWS::S3::Object", f"arn:aws:s3:::{bucket}/{key or ''}")
    if service == "logs" and operation in LOGS_DATA:
        return EventClass("Data", read_only, "AWS::Logs::LogGroup", "")
    return EventClass("Management", read_only, "", "")


def event_source(service: str) -> str:
    return f"{service}.amazonaws.com"
