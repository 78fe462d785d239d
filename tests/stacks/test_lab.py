"""Acceptance: templates of the reference lab's shape deployed in us-east-2 and us-west-2 with one prefix, used
(replication with the stack-made roles, trail events in the log group) and torn down leaving nothing.

Parts needing services that are not on this build (IAM, CloudWatch Logs, CloudTrail, bucket encryption and
replication live on other branches until integrated) skip with the reason the service gives; the S3 part of
the lab runs regardless."""

from __future__ import annotations

import json
import time
import uuid
from typing import Any, Iterator

import pytest
from botocore.exceptions import ClientError
from labtemplate import HEADER, LAB, S3_PART
from stackutil import create_error, events, outputs, unique, wait_settled

REGIONS = ("us-east-2", "us-west-2")
POLL_LIMIT_S = 120


def _prefix() -> str:
    return "lab-" + uuid.uuid4().hex[:10]


def empty_bucket(s3: Any, bucket: str) -> None:
    """Every version and delete marker (the lab's "Empty" step)."""
    try:
        pages = list(s3.get_paginator("list_object_versions").paginate(Bucket=bucket))
    except ClientError as e:
        if e.response["Error"]["Code"] == "NoSuchBucket":
            return
        raise
    for page in pages:
        for v in page.get("Versions", []) + page.get("DeleteMarkers", []):
            s3.delete_object(Bucket=bucket, Key=v["Key"], VersionId=v["VersionId"])


def failures(region: Any, stack: dict[str, Any]) -> list[tuple[str, str, str]]:
    return [e for e in events(region.client("cloudformation"), stack["StackId"]) if "FAILED" in e[1]]


def bucket_names(region: Any) -> set[str]:
    return {b["Name"] for b in region.client().list_buckets()["Buckets"]}


def deploy_both(deployment: Any, body: str, prefix: str, **kwargs: Any) -> dict[str, dict[str, Any]]:
    ids = {}
    for region in REGIONS:
        cf = deployment[region].client("cloudformation")
        ids[region] = cf.create_stack(StackName=unique("S3-CRR-lab"), TemplateBody=body, Parameters=[
            {"ParameterKey": "NamingPrefix", "ParameterValue": prefix}], **kwargs)["StackId"]
    return {r: wait_settled(deployment[r].client("cloudformation"), sid) for r, sid in ids.items()}


def teardown(deployment: Any, stacks: dict[str, dict[str, Any]], buckets: dict[str, list[str]]) -> None:
    """Empty the buckets, delete the stacks; a logging bucket refilled meanwhile is emptied again and the
    deletion retried, as the lab instructs."""
    for region, stack in stacks.items():
        cf = deployment[region].client("cloudformation")
        s3 = deployment[region].client()
        for attempt in range(3):
            for b in buckets[region]:
                empty_bucket(s3, b)
            cf.delete_stack(StackName=stack["StackId"])
            final = wait_settled(cf, stack["StackId"])
            if final["StackStatus"] == "DELETE_COMPLETE":
                break
        assert final["StackStatus"] == "DELETE_COMPLETE", events(cf, stack["StackId"])


def test_s3_part_of_the_lab_in_both_regions(deployment: Any) -> None:
    """Runs on every build: the lab's buckets, public access block, logging bucket with LogDeliveryWrite and
    the CloudTrail bucket policy, same prefix in both regions, then teardown."""
    prefix = _prefix()
    stacks = deploy_both(deployment, S3_PART, prefix)
    for region, s in stacks.items():
        assert s["StackStatus"] == "CREATE_COMPLETE", failures(deployment[region], s)
        assert outputs(s) == {"S3BucketName": f"{prefix}-crrlab-{region}"}
        s3 = deployment[region].client()
        data, logging = f"{prefix}-crrlab-{region}", f"logging-{prefix}-{region}"
        assert s3.get_bucket_versioning(Bucket=data)["Status"] == "Enabled"
        assert s3.get_public_access_block(Bucket=data)["PublicAccessBlockConfiguration"] == {
            "BlockPublicAcls": True, "IgnorePublicAcls": True, "BlockPublicPolicy": True,
            "RestrictPublicBuckets": True}
        # LogDeliveryWrite: the bucket keeps ACLs enabled (documented choice), so the template deploys
        assert s3.get_bucket_ownership_controls(Bucket=logging)["OwnershipControls"]["Rules"] == [
            {"ObjectOwnership": "ObjectWriter"}]
        policy = json.loads(s3.get_bucket_policy(Bucket=logging)["Policy"])
        assert policy["Statement"][1]["Resource"] == f"arn:aws:s3:::{logging}/AWSLogs/123456789012/*"
        resources = {r["LogicalResourceId"]: r["PhysicalResourceId"] for r in deployment[region].client(
            "cloudformation").describe_stack_resources(StackName=s["StackId"])["StackResources"]}
        assert resources == {"S3BucketWithEncryption": data, "LoggingBucket": logging,
                             "CloudTrailWriteToS3Policy": logging}
        s3.put_object(Bucket=data, Key="hello.txt", Body=b"hi")
    teardown(deployment, stacks, {r: [f"{prefix}-crrlab-{r}", f"logging-{prefix}-{r}"] for r in REGIONS})
    for region in REGIONS:
        assert not {b for b in bucket_names(deployment[region]) if prefix in b}


# ---- the whole lab (needs IAM, CloudWatch Logs, CloudTrail and bucket encryption) ----------------------------

@pytest.fixture(scope="module")
def lab(deployment: Any) -> Iterator[tuple[str, dict[str, dict[str, Any]]]]:
    prefix = _prefix()
    stacks = deploy_both(deployment, LAB, prefix, Capabilities=["CAPABILITY_NAMED_IAM"])
    state = {"torn_down": False}
    yield prefix, stacks
    if not state["torn_down"]:  # a failed test left them: clean up anyway
        try:
            teardown(deployment, stacks, {r: [f"{prefix}-crrlab-{r}", f"logging-{prefix}-{r}"] for r in REGIONS})
        except Exception:  # noqa: BLE001 - best effort; the failing test already reports
            pass


def test_lab_deploys_with_the_resolved_values(deployment: Any, lab: tuple[str, dict[str, Any]]) -> None:
    prefix, stacks = lab
    for region, s in stacks.items():
        cf = deployment[region].client("cloudformation")
        assert s["StackStatus"] == "CREATE_COMPLETE", failures(deployment[region], s)
        assert outputs(s) == {"S3BucketName": f"{prefix}-crrlab-{region}"}
        res = {r["LogicalResourceId"]: r["PhysicalResourceId"] for r in
               cf.describe_stack_resources(StackName=s["StackId"])["StackResources"]}
        assert res["S3BucketWithEncryption"] == f"{prefix}-crrlab-{region}"
        assert res["S3ReplicationPolicy"] == \
            f"arn:aws:iam::123456789012:policy/{prefix}-S3-Replication-Policy-{region}"
        assert res["S3ReplicationRole"] == f"{prefix}-S3-Replication-Role-{region}"
        assert res["LoggingBucket"] == res["CloudTrailWriteToS3Policy"] == f"logging-{prefix}-{region}"
        assert res["CloudWatchLogGroup"] == f"CloudTrail/logs/{prefix}"
        assert res["CloudTrailWriteToLogGroupRole"] == f"{prefix}-CloudTrailWriteToLogGroupRole-{region}"
        assert res["CloudTrailForLogs"].startswith(f"{s['StackName']}-CloudTrailForLogs-")
        s3 = deployment[region].client()
        enc = s3.get_bucket_encryption(Bucket=f"{prefix}-crrlab-{region}")["ServerSideEncryptionConfiguration"]
        assert enc["Rules"][0]["ApplyServerSideEncryptionByDefault"]["SSEAlgorithm"] == "AES256"
        iam = deployment[region].client("iam")
        attached = iam.list_attached_role_policies(RoleName=res["S3ReplicationRole"])["AttachedPolicies"]
        assert [p["PolicyArn"] for p in attached] == [res["S3ReplicationPolicy"]]
        assert iam.get_role_policy(RoleName=res["CloudTrailWriteToLogGroupRole"], PolicyName="writeToLogGroup")
        trail = deployment[region].client("cloudtrail")
        info = trail.get_trail(Name=res["CloudTrailForLogs"])["Trail"]
        assert info["CloudWatchLogsLogGroupArn"] == \
            f"arn:aws:logs:{region}:123456789012:log-group:CloudTrail/logs/{prefix}:*"
        assert info["CloudWatchLogsRoleArn"] == \
            f"arn:aws:iam::123456789012:role/{prefix}-CloudTrailWriteToLogGroupRole-{region}"
        assert trail.get_trail_status(Name=res["CloudTrailForLogs"])["IsLogging"] is True
        groups = deployment[region].client("logs").describe_log_groups(
            logGroupNamePrefix=f"CloudTrail/logs/{prefix}")["logGroups"]
        assert [(g["logGroupName"], g.get("retentionInDays")) for g in groups] == [(f"CloudTrail/logs/{prefix}", 30)]


def test_replication_with_the_stack_made_roles(deployment: Any, lab: tuple[str, dict[str, Any]]) -> None:
    prefix, _ = lab
    for src, dst in (REGIONS, REGIONS[::-1]):
        config = {"Role": f"arn:aws:iam::123456789012:role/{prefix}-S3-Replication-Role-{src}",
                  "Rules": [{"ID": f"to-{dst}", "Priority": 1, "Status": "Enabled", "Filter": {"Prefix": ""},
                             "DeleteMarkerReplication": {"Status": "Enabled"},
                             "Destination": {"Bucket": f"arn:aws:s3:::{prefix}-crrlab-{dst}"}}]}
        deployment[src].aws("s3api", "put-bucket-replication", "--bucket", f"{prefix}-crrlab-{src}",
                            "--replication-configuration", json.dumps(config))
    east, west = deployment["us-east-2"].client(), deployment["us-west-2"].client()
    east.put_object(Bucket=f"{prefix}-crrlab-us-east-2", Key="from-east.txt", Body=b"east")
    deadline = time.monotonic() + POLL_LIMIT_S
    while True:
        try:
            got = west.get_object(Bucket=f"{prefix}-crrlab-us-west-2", Key="from-east.txt")
            break
        except ClientError:
            assert time.monotonic() < deadline, "object never replicated"
            time.sleep(0.5)
    assert got["Body"].read() == b"east" and got.get("ReplicationStatus") == "REPLICA"


def test_trail_events_reach_the_log_group(deployment: Any, lab: tuple[str, dict[str, Any]]) -> None:
    prefix, _ = lab
    region = deployment["us-east-2"]
    region.client().put_object(Bucket=f"{prefix}-crrlab-us-east-2", Key="audited.txt", Body=b"x")
    logs = region.client("logs")
    deadline = time.monotonic() + POLL_LIMIT_S
    while True:
        found = logs.filter_log_events(logGroupName=f"CloudTrail/logs/{prefix}", filterPattern='"audited.txt"')
        if found.get("events"):
            break
        assert time.monotonic() < deadline, "no trail event reached the log group"
        time.sleep(1)
    record = json.loads(found["events"][0]["message"])
    assert record["eventName"] == "PutObject" and record["eventSource"] == "s3.amazonaws.com"


def test_teardown_leaves_nothing_behind(deployment: Any, lab: tuple[str, dict[str, Any]]) -> None:
    prefix, stacks = lab
    teardown(deployment, stacks, {r: [f"{prefix}-crrlab-{r}", f"logging-{prefix}-{r}"] for r in REGIONS})
    iam = deployment["us-east-2"].client("iam")
    assert not [r for r in iam.list_roles()["Roles"] if r["RoleName"].startswith(prefix)]
    assert not [p for p in iam.list_policies(Scope="Local")["Policies"] if p["PolicyName"].startswith(prefix)]
    for region in REGIONS:
        assert not {b for b in bucket_names(deployment[region]) if prefix in b}
        assert not deployment[region].client("logs").describe_log_groups(
            logGroupNamePrefix=f"CloudTrail/logs/{prefix}")["logGroups"]
        trails = deployment[region].client("cloudtrail").describe_trails()["trailList"]
        assert not [t for t in trails if t["Name"].startswith("S3-CRR-lab") and t["S3BucketName"].endswith(
            f"{prefix}-{region}")]


# ---- IAM behaviours the lab meets --------------------------------------------------------------------------

def _one_role_template() -> str:
    return HEADER + """
  Bucket:
    Type: AWS::S3::Bucket
  CloudTrailWriteToLogGroupRole:
    Type: AWS::IAM::Role
    DependsOn: Bucket
    Properties:
      RoleName: !Sub '${NamingPrefix}-CloudTrailWriteToLogGroupRole-${AWS::Region}'
      AssumeRolePolicyDocument:
        Version: 2012-10-17
        Statement: [{Effect: Allow, Principal: {Service: cloudtrail.amazonaws.com}, Action: 'sts:AssumeRole'}]
"""


def test_prefix_too_long_for_iam_fails_at_the_role_and_rolls_back(deployment: Any) -> None:
    east = deployment["us-east-2"]
    cf = east.client("cloudformation")
    prefix = ("long-" + uuid.uuid4().hex)[:30]  # valid for the pattern, too long for the role name
    sid = cf.create_stack(StackName=unique(), TemplateBody=_one_role_template(), Capabilities=[
        "CAPABILITY_NAMED_IAM"], Parameters=[{"ParameterKey": "NamingPrefix", "ParameterValue": prefix}])["StackId"]
    s = wait_settled(cf, sid)
    assert s["StackStatus"] == "ROLLBACK_COMPLETE"
    failed = {e[0]: e[2] for e in events(cf, sid) if e[1] == "CREATE_FAILED"}
    assert "64" in failed["CloudTrailWriteToLogGroupRole"], failed
    assert ("Bucket", "DELETE_COMPLETE", "") in events(cf, sid)


def test_role_with_a_hand_attached_policy_fails_delete_with_delete_conflict(deployment: Any) -> None:
    east = deployment["us-east-2"]
    cf, iam = east.client("cloudformation"), east.client("iam")
    prefix = _prefix()
    sid = cf.create_stack(StackName=unique(), TemplateBody=_one_role_template(), Capabilities=[
        "CAPABILITY_NAMED_IAM"], Parameters=[{"ParameterKey": "NamingPrefix", "ParameterValue": prefix}])["StackId"]
    assert wait_settled(cf, sid)["StackStatus"] == "CREATE_COMPLETE"
    role = f"{prefix}-CloudTrailWriteToLogGroupRole-us-east-2"
    arn = iam.create_policy(PolicyName=f"{prefix}-by-hand", PolicyDocument=json.dumps({
        "Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:ListBucket", "Resource": "*"}]}))[
        "Policy"]["Arn"]
    iam.attach_role_policy(RoleName=role, PolicyArn=arn)
    cf.delete_stack(StackName=sid)
    s = wait_settled(cf, sid)
    assert s["StackStatus"] == "DELETE_FAILED"
    reason = next(e[2] for e in events(cf, sid) if e[:2] == ("CloudTrailWriteToLogGroupRole", "DELETE_FAILED"))
    assert "Cannot delete entity, must detach all policies first." in reason, reason
    iam.detach_role_policy(RoleName=role, PolicyArn=arn)
    iam.delete_policy(PolicyArn=arn)
    cf.delete_stack(StackName=sid)
    assert wait_settled(cf, sid)["StackStatus"] == "DELETE_COMPLETE"


def test_iam_resource_types_and_their_attributes(deployment: Any) -> None:
    east = deployment["us-east-2"]
    cf, iam = east.client("cloudformation"), east.client("iam")
    body = """
Resources:
  Role:
    Type: AWS::IAM::Role
    Properties:
      AssumeRolePolicyDocument:
        Version: 2012-10-17
        Statement: [{Effect: Allow, Principal: {Service: s3.amazonaws.com}, Action: 'sts:AssumeRole'}]
  User:
    Type: AWS::IAM::User
  Managed:
    Type: AWS::IAM::ManagedPolicy
    Properties:
      Roles: [!Ref Role]
      Users: [!Ref User]
      PolicyDocument:
        Version: 2012-10-17
        Statement: [{Effect: Allow, Action: 's3:GetObject', Resource: '*'}]
  Inline:
    Type: AWS::IAM::Policy
    Properties:
      PolicyName: inline
      Roles: [!Ref Role]
      PolicyDocument:
        Version: 2012-10-17
        Statement: [{Effect: Allow, Action: 's3:PutObject', Resource: '*'}]
  Key:
    Type: AWS::IAM::AccessKey
    Properties: {UserName: !Ref User}
Outputs:
  RoleArn: {Value: !GetAtt Role.Arn}
  RoleId: {Value: !GetAtt Role.RoleId}
  UserArn: {Value: !GetAtt User.Arn}
  PolicyArn: {Value: !Ref Managed}
  KeyId: {Value: !Ref Key}
  SecretLength: {Value: !Join ['', [!Select [0, !Split ['x', !Sub 'n${Key.SecretAccessKey}x']]]]}
"""
    sid = cf.create_stack(StackName=unique(), TemplateBody=body, Capabilities=["CAPABILITY_IAM"])["StackId"]
    s = wait_settled(cf, sid)
    assert s["StackStatus"] == "CREATE_COMPLETE", events(cf, sid)
    out = outputs(s)
    role = out["RoleArn"].rsplit("/", 1)[1]
    assert role.startswith(s["StackName"] + "-Role-") and len(role) <= 64
    assert iam.get_role(RoleName=role)["Role"]["RoleId"] == out["RoleId"]
    assert out["PolicyArn"].startswith("arn:aws:iam::123456789012:policy/")
    assert [p["PolicyArn"] for p in iam.list_attached_role_policies(RoleName=role)["AttachedPolicies"]] == [
        out["PolicyArn"]]
    assert iam.list_role_policies(RoleName=role)["PolicyNames"] == ["inline"]
    user = out["UserArn"].rsplit("/", 1)[1]
    assert [k["AccessKeyId"] for k in iam.list_access_keys(UserName=user)["AccessKeyMetadata"]] == [out["KeyId"]]
    cf.delete_stack(StackName=sid)
    assert wait_settled(cf, sid)["StackStatus"] == "DELETE_COMPLETE", events(cf, sid)
    with pytest.raises(ClientError):
        iam.get_role(RoleName=role)
    with pytest.raises(ClientError):
        iam.get_user(UserName=user)


def test_kms_key_and_alias(deployment: Any) -> None:
    east = deployment["us-east-2"]
    cf, kms = east.client("cloudformation"), east.client("kms")
    alias = f"alias/{unique('k')}"
    body = f"""
Resources:
  Key:
    Type: AWS::KMS::Key
    Properties: {{Description: stack key, PendingWindowInDays: 7}}
  Alias:
    Type: AWS::KMS::Alias
    Properties: {{AliasName: {alias}, TargetKeyId: !Ref Key}}
Outputs:
  KeyId: {{Value: !Ref Key}}
  Arn: {{Value: !GetAtt Key.Arn}}
"""
    sid = cf.create_stack(StackName=unique(), TemplateBody=body)["StackId"]
    s = wait_settled(cf, sid)
    assert s["StackStatus"] == "CREATE_COMPLETE", events(cf, sid)
    out = outputs(s)
    assert out["Arn"] == f"arn:aws:kms:us-east-2:123456789012:key/{out['KeyId']}"
    assert kms.describe_key(KeyId=alias)["KeyMetadata"]["KeyId"] == out["KeyId"]
    cf.delete_stack(StackName=sid)
    assert wait_settled(cf, sid)["StackStatus"] == "DELETE_COMPLETE"
    assert kms.describe_key(KeyId=out["KeyId"])["KeyMetadata"]["KeyState"] == "PendingDeletion"


def test_log_group_arn_has_the_star_suffix(deployment: Any) -> None:
    east = deployment["us-east-2"]
    cf = east.client("cloudformation")
    body = "Resources:\n  Group:\n    Type: AWS::Logs::LogGroup\n    Properties: {RetentionInDays: 7}\n" \
           "Outputs:\n  Arn: {Value: !Sub '${Group.Arn}'}\n  Name: {Value: !Ref Group}\n"
    sid = cf.create_stack(StackName=unique(), TemplateBody=body)["StackId"]
    s = wait_settled(cf, sid)
    assert s["StackStatus"] == "CREATE_COMPLETE", events(cf, sid)
    out = outputs(s)
    assert out["Arn"] == f"arn:aws:logs:us-east-2:123456789012:log-group:{out['Name']}:*"
    cf.delete_stack(StackName=sid)
    assert wait_settled(cf, sid)["StackStatus"] == "DELETE_COMPLETE"


def test_bucket_replication_configuration_property(deployment: Any) -> None:
    """ReplicationConfiguration in CloudFormation's spelling (Id, TagFilter) reaches S3 in the API's."""
    east = deployment["us-east-2"]
    dest = f"{_prefix()}-dest"
    west_s3 = deployment["us-west-2"].client()
    west_s3.create_bucket(Bucket=dest, CreateBucketConfiguration={"LocationConstraint": "us-west-2"})
    west_s3.put_bucket_versioning(Bucket=dest, VersioningConfiguration={"Status": "Enabled"})
    body = f"""
Resources:
  Source:
    Type: AWS::S3::Bucket
    Properties:
      VersioningConfiguration: {{Status: Enabled}}
      ReplicationConfiguration:
        Role: arn:aws:iam::123456789012:role/replication
        Rules:
          - Id: tagged
            Status: Enabled
            Priority: 1
            Filter:
              And:
                Prefix: docs/
                TagFilters: [{{Key: copy, Value: 'yes'}}]
            DeleteMarkerReplication: {{Status: Disabled}}
            Destination: {{Bucket: 'arn:aws:s3:::{dest}', StorageClass: STANDARD}}
"""
    cf = east.client("cloudformation")
    sid = cf.create_stack(StackName=unique(), TemplateBody=body)["StackId"]
    s = wait_settled(cf, sid)
    assert s["StackStatus"] == "CREATE_COMPLETE", failures(east, s)
    source = cf.describe_stack_resource(StackName=sid, LogicalResourceId="Source")["StackResourceDetail"][
        "PhysicalResourceId"]
    rule = east.client().get_bucket_replication(Bucket=source)["ReplicationConfiguration"]["Rules"][0]
    assert rule["ID"] == "tagged" and rule["Priority"] == 1
    assert rule["Filter"] == {"And": {"Prefix": "docs/", "Tags": [{"Key": "copy", "Value": "yes"}]}}
    assert rule["Destination"]["Bucket"] == f"arn:aws:s3:::{dest}"
    cf.delete_stack(StackName=sid)
    assert wait_settled(cf, sid)["StackStatus"] == "DELETE_COMPLETE"


def test_validate_template_of_the_lab(east: Any) -> None:
    v = east.client("cloudformation").validate_template(TemplateBody=LAB)
    assert [p["ParameterKey"] for p in v["Parameters"]] == ["NamingPrefix"]
    assert v["Parameters"][0]["Description"].startswith("Prefix of the bucket and IAM names")
    assert v["Capabilities"] == ["CAPABILITY_NAMED_IAM"]
    assert v["CapabilitiesReason"] == ("The following resource(s) require capabilities: [AWS::IAM::ManagedPolicy, "
                                       "AWS::IAM::Role]")
    assert v["Description"].startswith("Replication lab infrastructure for one region")
    code, message = create_error(east.client("cloudformation"), StackName=unique(), TemplateBody=LAB,
                                 Parameters=[{"ParameterKey": "NamingPrefix", "ParameterValue": "Bad_Prefix"}],
                                 Capabilities=["CAPABILITY_NAMED_IAM"])
    assert (code, message) == ("ValidationError", "Parameter 'NamingPrefix' failed to satisfy constraint: 5 to 40 "
                                                  "lowercase letters, digits, periods and dashes")
