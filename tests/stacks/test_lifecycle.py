"""Stack lifecycle against real regions: create, events, failure and rollback, OnFailure, deletion (also of
non-empty buckets), DeletionPolicy, RetainResources, capabilities, TemplateURL, and the AWS CLI's waiters."""

from __future__ import annotations

import json
import os
import tempfile
from typing import Any

import boto3
import pytest
from harness import ACCESS_KEY, SECRET_KEY, create_bucket, unique_bucket
from stackutil import create_error, delete, deploy, events, outputs, unique, wait_settled


@pytest.fixture(scope="module")
def cf(east: Any) -> Any:
    return east.client("cloudformation")


def two_buckets(first: str, second: str) -> str:
    return f"""
Resources:
  First:
    Type: AWS::S3::Bucket
    Properties:
      BucketName: {first}
      VersioningConfiguration: {{Status: Enabled}}
  Second:
    Type: AWS::S3::Bucket
    DependsOn: First
    Properties:
      BucketName: {second}
      Tags: [{{Key: team, Value: storage}}]
Outputs:
  FirstArn: {{Value: !GetAtt First.Arn}}
"""


def test_create_describe_and_delete(cf: Any, s3: Any) -> None:
    a, b = unique_bucket(), unique_bucket()
    name = unique()
    stack_id = cf.create_stack(StackName=name, TemplateBody=two_buckets(a, b), ClientRequestToken="tok-1",
                               Tags=[{"Key": "owner", "Value": "me"}])["StackId"]
    # a retry with the same token is the same request; another token is another stack with a taken name
    assert cf.create_stack(StackName=name, TemplateBody=two_buckets(a, b), ClientRequestToken="tok-1")[
        "StackId"] == stack_id
    assert stack_id.startswith(f"arn:aws:cloudformation:us-east-2:123456789012:stack/{name}/")
    s = wait_settled(cf, name)
    assert s["StackStatus"] == "CREATE_COMPLETE"
    assert s["Tags"] == [{"Key": "owner", "Value": "me"}]
    assert outputs(s) == {"FirstArn": f"arn:aws:s3:::{a}"}
    assert events(cf, name) == [
        (name, "CREATE_IN_PROGRESS", "User Initiated"),
        ("First", "CREATE_IN_PROGRESS", ""), ("First", "CREATE_IN_PROGRESS", "Resource creation Initiated"),
        ("First", "CREATE_COMPLETE", ""),
        ("Second", "CREATE_IN_PROGRESS", ""), ("Second", "CREATE_IN_PROGRESS", "Resource creation Initiated"),
        ("Second", "CREATE_COMPLETE", ""),
        (name, "CREATE_COMPLETE", "")]
    # the resources exist, configured
    assert s3.get_bucket_versioning(Bucket=a)["Status"] == "Enabled"
    # stack tags propagate to the resources, next to their own
    assert sorted(s3.get_bucket_tagging(Bucket=b)["TagSet"], key=lambda t: t["Key"]) == [
        {"Key": "owner", "Value": "me"}, {"Key": "team", "Value": "storage"}]
    assert s3.get_bucket_tagging(Bucket=a)["TagSet"] == [{"Key": "owner", "Value": "me"}]
    resources = cf.describe_stack_resources(StackName=name)["StackResources"]
    assert {(r["LogicalResourceId"], r["PhysicalResourceId"], r["ResourceType"], r["ResourceStatus"])
            for r in resources} == {("First", a, "AWS::S3::Bucket", "CREATE_COMPLETE"),
                                    ("Second", b, "AWS::S3::Bucket", "CREATE_COMPLETE")}
    by_physical = cf.describe_stack_resources(PhysicalResourceId=b)["StackResources"]
    assert {r["StackName"] for r in by_physical} == {name}
    detail = cf.describe_stack_resource(StackName=name, LogicalResourceId="First")["StackResourceDetail"]
    assert detail["PhysicalResourceId"] == a and detail["StackId"] == stack_id
    code, message = create_error(cf, StackName=name, TemplateBody=two_buckets(a, b))
    assert (code, message) == ("AlreadyExistsException", f"Stack [{name}] already exists")

    assert delete(cf, stack_id)["StackStatus"] == "DELETE_COMPLETE"
    gone = {bk["Name"] for bk in s3.list_buckets()["Buckets"]}
    assert a not in gone and b not in gone
    deletion = [e for e in events(cf, stack_id) if e[1].startswith("DELETE")]
    assert [e[:2] for e in deletion] == [
        (name, "DELETE_IN_PROGRESS"), ("Second", "DELETE_IN_PROGRESS"), ("Second", "DELETE_COMPLETE"),
        ("First", "DELETE_IN_PROGRESS"), ("First", "DELETE_COMPLETE"), (name, "DELETE_COMPLETE")]
    # deleted stacks: by id yes, by name no; ListStacks keeps them
    with pytest.raises(Exception) as e:
        cf.describe_stacks(StackName=name)
    assert f"Stack with id {name} does not exist" in str(e.value)
    summaries = {x["StackId"]: x for page in cf.get_paginator("list_stacks").paginate(
        StackStatusFilter=["DELETE_COMPLETE"]) for x in page["StackSummaries"]}
    assert stack_id in summaries and "DeletionTime" in summaries[stack_id]
    # deleting again (by name: no such stack) succeeds
    cf.delete_stack(StackName=name)


def test_independent_resources_are_created_concurrently(cf: Any) -> None:
    body = "Resources:\n" + "".join(f"  B{i}:\n    Type: AWS::S3::Bucket\n" for i in range(6)) + \
           "  After:\n    Type: AWS::S3::Bucket\n    DependsOn: [B0, B1, B2, B3, B4, B5]\n"
    s = deploy(cf, body)
    assert s["StackStatus"] == "CREATE_COMPLETE"
    evs = [e for e in events(cf, s["StackId"]) if e[0] != s["StackName"]]
    first_complete = next(i for i, e in enumerate(evs) if e[1] == "CREATE_COMPLETE")
    started = {e[0] for e in evs[:first_complete] if e[1] == "CREATE_IN_PROGRESS"}
    assert started == {f"B{i}" for i in range(6)}  # all six began before any finished
    after_start = next(i for i, e in enumerate(evs) if e[0] == "After")
    assert {e[0] for e in evs[:after_start] if e[1] == "CREATE_COMPLETE"} == {f"B{i}" for i in range(6)}
    delete(cf, s["StackId"])


def test_name_conflict_fails_and_rolls_back(cf: Any, s3: Any, west: Any) -> None:
    taken = create_bucket(west.client(), "us-west-2")  # the global namespace: taken in another region
    ok = unique_bucket()
    body = f"""
Resources:
  Fine:
    Type: AWS::S3::Bucket
    Properties: {{BucketName: {ok}}}
  Clash:
    Type: AWS::S3::Bucket
    DependsOn: Fine
    Properties: {{BucketName: {taken}}}
"""
    s = deploy(cf, body)
    assert s["StackStatus"] == "ROLLBACK_COMPLETE"
    evs = events(cf, s["StackId"])
    assert ("Clash", "CREATE_FAILED", f"{taken} already exists") in evs
    reason = "The following resource(s) failed to create: [Clash]. Rollback requested by user."
    assert (s["StackName"], "ROLLBACK_IN_PROGRESS", reason) in evs
    assert ("Fine", "DELETE_COMPLETE", "") in evs
    assert evs[-1][:2] == (s["StackName"], "ROLLBACK_COMPLETE")
    assert ok not in {b["Name"] for b in s3.list_buckets()["Buckets"]}
    assert west.client().head_bucket(Bucket=taken)  # the other bucket is untouched
    # a rolled-back stack keeps its name until deleted
    code, _ = create_error(cf, StackName=s["StackName"], TemplateBody=body)
    assert code == "AlreadyExistsException"
    assert delete(cf, s["StackId"])["StackStatus"] == "DELETE_COMPLETE"


def test_on_failure_do_nothing_and_delete(cf: Any, s3: Any, east: Any) -> None:
    taken = create_bucket(s3, "us-east-2")
    ok = unique_bucket()
    body = two_buckets(ok, taken)
    kept = deploy(cf, body, OnFailure="DO_NOTHING")
    assert kept["StackStatus"] == "CREATE_FAILED"
    assert kept["DisableRollback"] is True
    assert s3.head_bucket(Bucket=ok)  # nothing rolled back
    assert delete(cf, kept["StackId"])["StackStatus"] == "DELETE_COMPLETE"
    assert ok not in {b["Name"] for b in s3.list_buckets()["Buckets"]}

    gone = deploy(cf, body, OnFailure="DELETE")
    assert gone["StackStatus"] == "DELETE_COMPLETE"
    statuses = [e[1] for e in events(cf, gone["StackId"]) if e[0] == gone["StackName"]]
    assert statuses == ["CREATE_IN_PROGRESS", "ROLLBACK_IN_PROGRESS", "ROLLBACK_COMPLETE", "DELETE_IN_PROGRESS",
                        "DELETE_COMPLETE"]


def test_unsupported_type_fails_with_a_clear_event(cf: Any) -> None:
    body = "Resources:\n  Vpc:\n    Type: AWS::EC2::VPC\n    Properties: {CidrBlock: 10.0.0.0/16}\n" \
           "  Bucket:\n    Type: AWS::S3::Bucket\n    Properties:\n      Unknown: 1\n"
    s = deploy(cf, body)
    assert s["StackStatus"] == "ROLLBACK_COMPLETE"
    failed = {e[0]: e[2] for e in events(cf, s["StackId"]) if e[1] == "CREATE_FAILED"}
    assert failed["Vpc"].startswith("Resource type AWS::EC2::VPC is not supported by twinstore")
    assert "property Unknown is not supported by twinstore" in failed["Bucket"]
    delete(cf, s["StackId"])


def test_non_empty_bucket_fails_delete_until_emptied(cf: Any, s3: Any) -> None:
    a, b = unique_bucket(), unique_bucket()
    s = deploy(cf, two_buckets(a, b))
    s3.put_object(Bucket=a, Key="k", Body=b"x")
    failed = delete(cf, s["StackId"])
    assert failed["StackStatus"] == "DELETE_FAILED"
    assert failed["StackStatusReason"] == "The following resource(s) failed to delete: [First]. "
    reason = next(e[2] for e in events(cf, s["StackId"]) if e[:2] == ("First", "DELETE_FAILED"))
    assert "The bucket you tried to delete is not empty" in reason and "Status Code: 409" in reason
    assert b not in {x["Name"] for x in s3.list_buckets()["Buckets"]}  # the dependent went first
    # empty it (every version), delete again: completes
    for v in s3.list_object_versions(Bucket=a).get("Versions", []):
        s3.delete_object(Bucket=a, Key=v["Key"], VersionId=v["VersionId"])
    for m in s3.list_object_versions(Bucket=a).get("DeleteMarkers", []):
        s3.delete_object(Bucket=a, Key=m["Key"], VersionId=m["VersionId"])
    assert delete(cf, s["StackId"])["StackStatus"] == "DELETE_COMPLETE"
    assert a not in {x["Name"] for x in s3.list_buckets()["Buckets"]}


def test_retain_resources_after_delete_failed(cf: Any, s3: Any) -> None:
    a, b = unique_bucket(), unique_bucket()
    s = deploy(cf, two_buckets(a, b))
    with pytest.raises(Exception) as e:
        cf.delete_stack(StackName=s["StackId"], RetainResources=["First"])
    assert "DELETE_FAILED" in str(e.value)
    s3.put_object(Bucket=a, Key="k", Body=b"x")
    assert delete(cf, s["StackId"])["StackStatus"] == "DELETE_FAILED"
    done = delete(cf, s["StackId"], RetainResources=["First"])
    assert done["StackStatus"] == "DELETE_COMPLETE"
    assert ("First", "DELETE_SKIPPED", "") in events(cf, s["StackId"])
    assert s3.get_object(Bucket=a, Key="k")["Body"].read() == b"x"  # kept, with its data


def test_deletion_policy_retain(cf: Any, s3: Any) -> None:
    kept, dropped = unique_bucket(), unique_bucket()
    body = f"""
Resources:
  Kept:
    Type: AWS::S3::Bucket
    DeletionPolicy: Retain
    Properties: {{BucketName: {kept}}}
  Dropped:
    Type: AWS::S3::Bucket
    DeletionPolicy: Delete
    Properties: {{BucketName: {dropped}}}
"""
    s = deploy(cf, body)
    assert delete(cf, s["StackId"])["StackStatus"] == "DELETE_COMPLETE"
    names = {x["Name"] for x in s3.list_buckets()["Buckets"]}
    assert kept in names and dropped not in names
    assert ("Kept", "DELETE_SKIPPED", "") in events(cf, s["StackId"])


NAMED_ROLE = """
Resources:
  Bucket:
    Type: AWS::S3::Bucket
  Role:
    Type: AWS::IAM::Role
    Properties:
      RoleName: !Sub '${AWS::StackName}-role'
      AssumeRolePolicyDocument:
        Version: 2012-10-17
        Statement: [{Effect: Allow, Principal: {Service: s3.amazonaws.com}, Action: 'sts:AssumeRole'}]
"""


def test_capabilities_are_checked_before_anything_is_created(cf: Any, s3: Any) -> None:
    before = {x["Name"] for x in s3.list_buckets()["Buckets"]}
    for caps in ([], ["CAPABILITY_IAM"]):
        name = unique()
        code, message = create_error(cf, StackName=name, TemplateBody=NAMED_ROLE, Capabilities=caps)
        assert (code, message) == ("InsufficientCapabilitiesException", "Requires capabilities : "
                                                                          "[CAPABILITY_NAMED_IAM]")
        assert name not in {x["StackName"] for x in cf.list_stacks()["StackSummaries"]}
    unnamed = NAMED_ROLE.replace("      RoleName: !Sub '${AWS::StackName}-role'\n", "")
    code, message = create_error(cf, StackName=unique(), TemplateBody=unnamed)
    assert (code, message) == ("InsufficientCapabilitiesException", "Requires capabilities : [CAPABILITY_IAM]")
    assert {x["Name"] for x in s3.list_buckets()["Buckets"]} == before
    v = cf.validate_template(TemplateBody=NAMED_ROLE)
    assert v["Capabilities"] == ["CAPABILITY_NAMED_IAM"]
    assert v["CapabilitiesReason"] == "The following resource(s) require capabilities: [AWS::IAM::Role]"


def test_template_url_from_one_of_our_buckets(cf: Any, s3: Any, east: Any) -> None:
    holder = create_bucket(s3, "us-east-2")
    a, b = unique_bucket(), unique_bucket()
    s3.put_object(Bucket=holder, Key="tpl/stack.yaml", Body=two_buckets(a, b).encode())
    for url in (f"{east.endpoint}/{holder}/tpl/stack.yaml",
                f"https://{holder}.s3.us-east-2.amazonaws.com/tpl/stack.yaml",
                f"https://s3.amazonaws.com/{holder}/tpl/stack.yaml"):
        assert cf.validate_template(TemplateURL=url)["Parameters"] == []
    name = unique()
    sid = cf.create_stack(StackName=name, TemplateURL=f"https://{holder}.s3.amazonaws.com/tpl/stack.yaml")["StackId"]
    assert wait_settled(cf, name)["StackStatus"] == "CREATE_COMPLETE"
    assert cf.get_template(StackName=name)["TemplateBody"] == two_buckets(a, b)
    delete(cf, sid)
    code, message = create_error(cf, StackName=unique(), TemplateURL=f"https://{holder}.s3.amazonaws.com/nope")
    assert (code, message) == ("ValidationError", "TemplateURL must reference a valid S3 object to which you "
                                                  "have access.")
    code, _ = create_error(cf, StackName=unique(), TemplateURL="x", TemplateBody="y")
    assert code == "ValidationError"


def test_aws_cli_create_wait_describe_delete(east: Any, s3: Any) -> None:
    a, b = unique_bucket(), unique_bucket()
    name = unique()
    with tempfile.NamedTemporaryFile("w", suffix=".yaml", delete=False) as f:
        f.write(two_buckets(a, b))
    try:
        east.aws("cloudformation", "create-stack", "--stack-name", name, "--template-body", f"file://{f.name}")
        east.aws("cloudformation", "wait", "stack-create-complete", "--stack-name", name)
        described = json.loads(east.aws("cloudformation", "describe-stacks", "--stack-name", name).stdout)
        assert described["Stacks"][0]["StackStatus"] == "CREATE_COMPLETE"
        evs = json.loads(east.aws("cloudformation", "describe-stack-events", "--stack-name", name).stdout)
        assert evs["StackEvents"][0]["ResourceStatus"] == "CREATE_COMPLETE"
        listed = json.loads(east.aws("cloudformation", "list-stack-resources", "--stack-name", name).stdout)
        assert {r["PhysicalResourceId"] for r in listed["StackResourceSummaries"]} == {a, b}
        east.aws("cloudformation", "delete-stack", "--stack-name", name)
        east.aws("cloudformation", "wait", "stack-delete-complete", "--stack-name", name)
        # the waiter fails on a rollback
        taken = create_bucket(s3, "us-east-2")
        with open(f.name, "w") as g:
            g.write(two_buckets(unique_bucket(), taken))
        failing = unique()
        east.aws("cloudformation", "create-stack", "--stack-name", failing, "--template-body", f"file://{f.name}")
        res = east.aws("cloudformation", "wait", "stack-create-complete", "--stack-name", failing, check=False)
        assert res.returncode != 0 and "ROLLBACK_COMPLETE" in res.stderr
        bad = east.aws("cloudformation", "validate-template", "--template-body", "Resources: [", check=False)
        assert bad.returncode != 0 and "ValidationError" in bad.stderr and "YAML not well-formed" in bad.stderr
    finally:
        os.unlink(f.name)


def test_unnamed_iam_resources_need_only_capability_iam(cf: Any) -> None:
    body = """
Resources:
  User:
    Type: AWS::IAM::User
  Key:
    Type: AWS::IAM::AccessKey
    Properties: {UserName: !Ref User}
"""
    v = cf.validate_template(TemplateBody=body)
    assert v["Capabilities"] == ["CAPABILITY_IAM"]
    assert v["CapabilitiesReason"] == ("The following resource(s) require capabilities: [AWS::IAM::AccessKey, "
                                       "AWS::IAM::User]")


def test_delete_during_creation_deletes_once_creation_settles(cf: Any, s3: Any) -> None:
    prefix = unique("dc")
    body = "Resources:\n" + "".join(
        f"  B{i}:\n    Type: AWS::S3::Bucket\n    Properties: {{BucketName: {prefix}-{i}}}\n"
        + (f"    DependsOn: B{i - 1}\n" if i else "") for i in range(8))
    sid = cf.create_stack(StackName=unique(), TemplateBody=body)["StackId"]
    cf.delete_stack(StackName=sid)
    assert wait_settled(cf, sid)["StackStatus"] == "DELETE_COMPLETE"
    assert not [b for b in s3.list_buckets()["Buckets"] if b["Name"].startswith(prefix)]


def test_many_events_and_resources_are_paginated(cf: Any) -> None:
    body = "Resources:\n" + "".join(f"  B{i}:\n    Type: AWS::S3::Bucket\n" for i in range(40))
    s = deploy(cf, body)
    assert s["StackStatus"] == "CREATE_COMPLETE"
    first = cf.describe_stack_events(StackName=s["StackId"])
    assert len(first["StackEvents"]) == 100 and "NextToken" in first
    assert len(events(cf, s["StackId"])) == 2 + 40 * 3
    ids = [e["EventId"] for p in cf.get_paginator("describe_stack_events").paginate(StackName=s["StackId"])
           for e in p["StackEvents"]]
    assert len(set(ids)) == len(ids)
    listed = [r for p in cf.get_paginator("list_stack_resources").paginate(StackName=s["StackId"])
              for r in p["StackResourceSummaries"]]
    assert len(listed) == 40
    delete(cf, s["StackId"])


def test_stacks_belong_to_their_region(cf: Any, east: Any, west: Any) -> None:
    s = deploy(cf, "Resources:\n  B:\n    Type: AWS::S3::Bucket\n")
    west_cf = west.client("cloudformation")
    with pytest.raises(Exception) as e:
        west_cf.describe_stacks(StackName=s["StackName"])
    assert "does not exist" in str(e.value)
    # a call signed for us-west-2 but sent to the us-east-2 endpoint is served by us-west-2
    via_east = boto3.client("cloudformation", endpoint_url=east.endpoint, region_name="us-west-2",
                            aws_access_key_id=ACCESS_KEY, aws_secret_access_key=SECRET_KEY)
    w = deploy(via_east, "Resources:\n  B:\n    Type: AWS::S3::Bucket\n")
    assert w["StackId"].startswith("arn:aws:cloudformation:us-west-2:")
    assert west_cf.describe_stacks(StackName=w["StackName"])["Stacks"][0]["StackStatus"] == "CREATE_COMPLETE"
    bucket = west_cf.describe_stack_resource(StackName=w["StackName"], LogicalResourceId="B")[
        "StackResourceDetail"]["PhysicalResourceId"]
    assert west.client().get_bucket_location(Bucket=bucket)["LocationConstraint"] == "us-west-2"
    delete(west_cf, w["StackId"])
    delete(cf, s["StackId"])


def test_retain_except_on_create(cf: Any, s3: Any, west: Any) -> None:
    kept, taken = unique_bucket(), create_bucket(west.client(), "us-west-2")
    body = f"""
Parameters:
  Second: {{Type: String}}
Resources:
  Kept:
    Type: AWS::S3::Bucket
    DeletionPolicy: RetainExceptOnCreate
    Properties: {{BucketName: {kept}}}
  Other:
    Type: AWS::S3::Bucket
    DependsOn: Kept
    Properties: {{BucketName: !Ref Second}}
"""
    failed = deploy(cf, body, {"Second": taken})  # the creation fails: the bucket is deleted on rollback
    assert failed["StackStatus"] == "ROLLBACK_COMPLETE"
    assert kept not in {x["Name"] for x in s3.list_buckets()["Buckets"]}
    delete(cf, failed["StackId"])
    ok = deploy(cf, body, {"Second": unique_bucket()})
    assert ok["StackStatus"] == "CREATE_COMPLETE"
    assert delete(cf, ok["StackId"])["StackStatus"] == "DELETE_COMPLETE"
    assert kept in {x["Name"] for x in s3.list_buckets()["Buckets"]}  # kept when the stack is deleted


def test_reference_to_a_resource_whose_condition_is_false(cf: Any) -> None:
    body = """
Parameters:
  Make: {Type: String, AllowedValues: ['yes', 'no']}
Conditions:
  Making: !Equals [!Ref Make, 'yes']
Resources:
  Maybe:
    Type: AWS::S3::Bucket
    Condition: Making
  User:
    Type: AWS::S3::BucketPolicy
    Properties:
      Bucket: !Ref Maybe
      PolicyDocument: {}
  Guarded:
    Type: AWS::S3::Bucket
    Properties:
      BucketName: !If [Making, !Sub '${Maybe}-x', !Ref 'AWS::NoValue']
"""
    code, message = create_error(cf, StackName=unique(), TemplateBody=body, Parameters=[
        {"ParameterKey": "Make", "ParameterValue": "no"}])
    assert (code, message) == ("ValidationError", "Template format error: Unresolved resource dependencies "
                                                  "[Maybe] in the Resources block of the template")
    guarded_only = body.replace("  User:\n    Type: AWS::S3::BucketPolicy\n    Properties:\n      Bucket: !Ref Maybe\n"
                                "      PolicyDocument: {}\n", "")
    s = deploy(cf, guarded_only, {"Make": "no"})
    assert s["StackStatus"] == "CREATE_COMPLETE"
    assert {r["LogicalResourceId"] for r in cf.list_stack_resources(StackName=s["StackId"])[
        "StackResourceSummaries"]} == {"Guarded"}
    delete(cf, s["StackId"])
