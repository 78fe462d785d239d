"""Template engine through the CloudFormation API of a real region: YAML traps, intrinsics, parameters,
conditions, and the ValidationErrors invalid templates get."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest
from stackutil import create_error, deploy, outputs, unique, validation_error

LAB_PATTERN = ("(?=^.{5,40}$)(?!^(\\d+\\.)+\\d+$)(^(([a-z0-9]|[a-z0-9][a-z0-9\\-]*[a-z0-9])\\.)*"
               "([a-z0-9]|[a-z0-9][a-z0-9\\-]*[a-z0-9])$)")
# one cheap resource; many tests only look at outputs
BUCKET = """
  Bucket:
    Type: AWS::S3::Bucket
"""


@pytest.fixture(scope="module")
def cf(east: Any) -> Any:
    return east.client("cloudformation")


def test_yaml_dates_and_booleans_stay_as_cloudformation_reads_them(cf: Any) -> None:
    body = f"""AWSTemplateFormatVersion: 2010-09-09
Description: dates stay strings
Resources:{BUCKET}
Outputs:
  Date:
    Value: 2012-10-17
  Yes:
    Value: yes
  Number:
    Value: 42
"""
    s = deploy(cf, body)
    assert s["StackStatus"] == "CREATE_COMPLETE"
    assert outputs(s) == {"Date": "2012-10-17", "Yes": "true", "Number": "42"}
    assert cf.get_template(StackName=s["StackName"])["TemplateBody"] == body
    assert cf.validate_template(TemplateBody=body)["Description"] == "dates stay strings"


@pytest.mark.parametrize("body, message", [
    ("Resources:\n  A: &x\n    Type: AWS::S3::Bucket\n  B: *x\n", "YAML aliases are not allowed"),
    ("Resources:\n  A:\n    <<: {Type: AWS::S3::Bucket}\n", "YAML aliases are not allowed"),
    ("Resources:\n  A:\n    Type: AWS::S3::Bucket\n    Properties:\n      BucketName: !Base64 !Sub x\n",
     "YAML not well-formed. (line 5"),
    ("Resources:\n  A:\n    Type: AWS::S3::Bucket\n   bad indent: [\n", "YAML not well-formed."),
    ('{"Resources": {"A": {"Type": "AWS::S3::Bucket"}}', "JSON not well-formed."),
    ("Resources:\n  A:\n    Properties: {}\n", "Every Resources object must contain a Type member."),
    ("Description: x\n", "At least one Resources member must be defined."),
    ("AWSTemplateFormatVersion: 2011-01-01\nResources:" + BUCKET, "Unsupported template version"),
    ("Transform: AWS::Serverless-2016-10-31\nResources:" + BUCKET,
     "Transform AWS::Serverless-2016-10-31 is not supported"),
    ("Foo: 1\nResources:" + BUCKET, "Invalid template property or properties [Foo]"),
    ("Resources:\n  A:\n    Type: NotAType\n", "Unrecognized resource types: [NotAType]"),
    ("Resources:\n  A-1:\n    Type: AWS::S3::Bucket\n", "non alphanumeric"),
    ("Resources:\n  A:\n    Type: AWS::S3::Bucket\n    Properties:\n      BucketName: !Ref Nope\n",
     "Unresolved resource dependencies [Nope] in the Resources block of the template"),
    ("Resources:\n  A:\n    Type: AWS::S3::Bucket\n    DependsOn: Nope\n",
     "Unresolved resource dependencies [Nope]"),
    ("Resources:\n  A:\n    Type: AWS::S3::Bucket\n    Properties:\n      BucketName: !GetAtt Nope.Arn\n",
     "Fn::GetAtt references undefined resource Nope"),
    ("Resources:\n  A:\n    Type: AWS::S3::Bucket\n    Properties:\n      BucketName: !GetAtt B.Nope\n"
     "  B:\n    Type: AWS::S3::Bucket\n", "resource B does not support attribute type Nope in Fn::GetAtt"),
    ("Resources:\n  A:\n    Type: AWS::S3::Bucket\n    Properties:\n      BucketName: !Sub '${B.Nope}'\n"
     "  B:\n    Type: AWS::S3::Bucket\n", "resource B does not support attribute type Nope"),
    ("Resources:\n  A:\n    Type: AWS::S3::Bucket\n    Properties:\n      BucketName: !Sub '${Missing}'\n",
     "Unresolved resource dependencies [Missing]"),
    ("Parameters:\n  P: {Type: String}\nConditions:\n  C: !If [D, !Equals [a, a], !Equals [a, b]]\n"
     "  D: !Equals [!Ref P, x]\nResources:" + BUCKET, "Conditions can only be boolean operations"),
    ("Conditions:\n  C: !Equals [!Ref Bucket, x]\nResources:" + BUCKET, "Cannot reference resources in the "
     "Conditions block"),
    ("Resources:\n  A:\n    Type: AWS::S3::Bucket\n    Condition: Nope\n", "Unresolved condition dependency Nope"),
    ("Parameters:\n  P: {Type: Strin}\nResources:" + BUCKET, "Unrecognized parameter type: Strin"),
    ("Resources:\n  A:\n    Type: AWS::S3::Bucket\n    Properties:\n      BucketName: !Cidr [x, 1, 1]\n",
     "Fn::Cidr is not supported"),
    ("Resources:" + BUCKET + "Outputs:\n  O:\n    Description: x\n", "Every Outputs member must contain a Value"),
    ("Resources:" + BUCKET + "Outputs:\n  O: {Value: !Ref Nope}\n",
     "Unresolved resource dependencies [Nope] in the Outputs block of the template"),
])
def test_invalid_templates_are_validation_errors(cf: Any, body: str, message: str) -> None:
    assert message in validation_error(cf, TemplateBody=body)
    code, create_message = create_error(cf, StackName=unique(), TemplateBody=body)
    assert code == "ValidationError" and message in create_message


def test_cycles_are_detected(cf: Any) -> None:
    body = """Resources:
  A:
    Type: AWS::S3::Bucket
    Properties:
      BucketName: !Ref B
  B:
    Type: AWS::S3::Bucket
    DependsOn: C
  C:
    Type: AWS::S3::BucketPolicy
    Properties:
      Bucket: !Ref A
      PolicyDocument: {}
"""
    assert validation_error(cf, TemplateBody=body) == "Circular dependency between resources: [A, B, C]"
    self_ref = "Resources:\n  A:\n    Type: AWS::S3::Bucket\n    Properties:\n      BucketName: !Ref A\n"
    assert validation_error(cf, TemplateBody=self_ref) == "Circular dependency between resources: [A]"


def test_json_template_is_equivalent(cf: Any) -> None:
    body = json.dumps({
        "AWSTemplateFormatVersion": "2010-09-09",
        "Parameters": {"Name": {"Type": "String", "Default": "abc"}},
        "Resources": {"Bucket": {"Type": "AWS::S3::Bucket"}},
        "Outputs": {"Sub": {"Value": {"Fn::Sub": "${Name}-${AWS::Region}"}},
                    "Arn": {"Value": {"Fn::GetAtt": ["Bucket", "Arn"]}}}})
    s = deploy(cf, body)
    assert s["StackStatus"] == "CREATE_COMPLETE"
    out = outputs(s)
    assert out["Sub"] == "abc-us-east-2"
    bucket = cf.describe_stack_resource(StackName=s["StackId"], LogicalResourceId="Bucket")
    assert out["Arn"] == "arn:aws:s3:::" + bucket["StackResourceDetail"]["PhysicalResourceId"]


INTRINSICS = """
Parameters:
  Env:
    Type: String
    AllowedValues: [prod, dev]
  Names:
    Type: CommaDelimitedList
    Default: "a, b ,c"
  Count:
    Type: Number
    Default: 3
  Ports:
    Type: List<Number>
    Default: 80,443
Mappings:
  Sizes:
    prod: {Size: large}
    dev: {Size: small}
Conditions:
  IsProd: !Equals [!Ref Env, prod]
  NotProd: !Not [!Condition IsProd]
  Both: !And [!Condition IsProd, !Equals [!Ref Count, "3"]]
  Either: !Or [!Condition NotProd, !Equals [!Select [1, !Ref Names], b]]
Resources:
  Bucket:
    Type: AWS::S3::Bucket
  ProdOnly:
    Type: AWS::S3::Bucket
    Condition: IsProd
  Named:
    Type: AWS::S3::Bucket
    Properties:
      BucketName: !If [IsProd, !Sub '${AWS::StackName}-named', !Ref AWS::NoValue]
Outputs:
  Region: {Value: !Sub '${AWS::Region}'}
  Param: {Value: !Sub 'env=${Env}'}
  Res: {Value: !Sub '${Bucket}'}
  ResAttr: {Value: !Sub '${Bucket.RegionalDomainName}'}
  Literal: {Value: !Sub '${!Literal}-${AWS::Partition}'}
  Vars: {Value: !Sub ['${A}/${B}', {A: !Ref Env, B: !GetAtt Bucket.DomainName}]}
  Join: {Value: !Join ['+', !Ref Names]}
  JoinMixed: {Value: !Join ['', [x, !Ref Count, !Select [0, !Ref Ports]]]}
  Select: {Value: !Select [2, !Split [',', 'p,q,r']]}
  If: {Value: !If [IsProd, big, small]}
  Map: {Value: !FindInMap [Sizes, !Ref Env, Size]}
  AZs: {Value: !Join [',', !GetAZs '']}
  OtherAZ: {Value: !Select [0, !GetAZs us-west-2]}
  B64: {Value: !Base64 hello}
  Pseudo: {Value: !Join ['|', [!Ref 'AWS::AccountId', !Ref 'AWS::StackName', !Ref 'AWS::URLSuffix']]}
  StackId: {Value: !Ref 'AWS::StackId'}
  Both: {Value: !If [Both, yes-both, no-both]}
  Either: {Value: !If [Either, yes-either, no-either]}
  ProdOut:
    Condition: IsProd
    Value: !Ref ProdOnly
  NamedOut: {Value: !Ref Named}
"""


def test_intrinsic_functions_and_conditions(cf: Any) -> None:
    s = deploy(cf, INTRINSICS, {"Env": "prod"})
    assert s["StackStatus"] == "CREATE_COMPLETE", s
    out = outputs(s)
    name = s["StackName"]
    bucket = cf.describe_stack_resource(StackName=name, LogicalResourceId="Bucket")[
        "StackResourceDetail"]["PhysicalResourceId"]
    assert bucket.startswith(f"{name}-bucket-".lower())
    assert out["Region"] == "us-east-2"
    assert out["Param"] == "env=prod"
    assert out["Res"] == bucket
    assert out["ResAttr"] == f"{bucket}.s3.us-east-2.amazonaws.com"
    assert out["Literal"] == "${Literal}-aws"
    assert out["Vars"] == f"prod/{bucket}.s3.amazonaws.com"
    assert out["Join"] == "a+b+c"
    assert out["JoinMixed"] == "x380"
    assert out["Select"] == "r"
    assert out["If"] == "big"
    assert out["Map"] == "large"
    assert out["AZs"] == "us-east-2a,us-east-2b,us-east-2c"
    assert out["OtherAZ"] == "us-west-2a"
    assert base64.b64decode(out["B64"]) == b"hello"
    assert out["Pseudo"] == f"123456789012|{name}|amazonaws.com"
    assert out["StackId"] == s["StackId"]
    assert out["Both"] == "yes-both" and out["Either"] == "yes-either"
    assert out["NamedOut"] == f"{name}-named"
    assert "ProdOut" in out
    logical = {r["LogicalResourceId"] for r in cf.list_stack_resources(StackName=name)["StackResourceSummaries"]}
    assert logical == {"Bucket", "ProdOnly", "Named"}

    dev = deploy(cf, INTRINSICS, {"Env": "dev"})
    out = outputs(dev)
    assert out["If"] == "small" and out["Map"] == "small" and out["Both"] == "no-both"
    assert "ProdOut" not in out
    # AWS::NoValue removed BucketName: the bucket got a generated name
    assert out["NamedOut"].startswith(f"{dev['StackName']}-named-".lower())
    logical = {r["LogicalResourceId"] for r in cf.list_stack_resources(StackName=dev["StackName"])[
        "StackResourceSummaries"]}
    assert logical == {"Bucket", "Named"}


def test_select_out_of_range_fails_the_output(cf: Any) -> None:
    body = "Resources:" + BUCKET + "Outputs:\n  O: {Value: !Select [5, [a, b]]}\n"
    s = deploy(cf, body)
    assert s["StackStatus"] == "ROLLBACK_COMPLETE"
    assert "Fn::Select cannot select nonexistent value at index 5" in s["StackStatusReason"]


def test_import_value_and_list_exports(cf: Any) -> None:
    export = unique("exp")
    exporter = deploy(cf, "Resources:" + BUCKET + f"Outputs:\n  Name:\n    Value: !Ref Bucket\n"
                                                  f"    Export: {{Name: {export}}}\n")
    assert exporter["Outputs"][0]["ExportName"] == export
    value = outputs(exporter)["Name"]
    exports = {e["Name"]: e for e in cf.list_exports()["Exports"]}
    assert exports[export]["Value"] == value and exports[export]["ExportingStackId"] == exporter["StackId"]
    importer = deploy(cf, "Resources:" + BUCKET + f"Outputs:\n  Imported: {{Value: !ImportValue {export}}}\n")
    assert outputs(importer)["Imported"] == value
    # the exporting stack cannot go while its export is imported
    cf.delete_stack(StackName=exporter["StackId"])
    from stackutil import wait_settled
    s = wait_settled(cf, exporter["StackId"])
    assert s["StackStatus"] == "DELETE_FAILED"
    assert s["StackStatusReason"] == f"Export {export} cannot be deleted as it is in use by {importer['StackName']}"
    cf.delete_stack(StackName=importer["StackId"])
    assert wait_settled(cf, importer["StackId"])["StackStatus"] == "DELETE_COMPLETE"
    cf.delete_stack(StackName=exporter["StackId"])
    assert wait_settled(cf, exporter["StackId"])["StackStatus"] == "DELETE_COMPLETE"
    assert export not in {e["Name"] for e in cf.list_exports()["Exports"]}
    missing = deploy(cf, "Resources:" + BUCKET + "Outputs:\n  I: {Value: !ImportValue no-such-export}\n")
    assert missing["StackStatus"] == "ROLLBACK_COMPLETE"
    assert "No export named no-such-export found." in missing["StackStatusReason"]


PARAMS = f"""
Parameters:
  NamingPrefix:
    Type: String
    AllowedPattern: '{LAB_PATTERN}'
  Described:
    Type: String
    Default: ok
    AllowedPattern: '[a-z]+'
    ConstraintDescription: must be lowercase letters
  Size:
    Type: Number
    Default: 5
    MinValue: 1
    MaxValue: 10
  Short:
    Type: String
    Default: abc
    MinLength: 2
    MaxLength: 4
  Choice:
    Type: String
    Default: 'Yes'
    AllowedValues: ['Yes', 'No']
  Secret:
    Type: String
    Default: hunter2
    NoEcho: true
Resources:
  Bucket:
    Type: AWS::S3::Bucket
    Properties:
      Tags: [{{Key: secret, Value: !Ref Secret}}]
Outputs:
  Prefix: {{Value: !Ref NamingPrefix}}
"""


@pytest.mark.parametrize("prefix", ["myprefix", "my.prefix", "a1-b2", "x" * 40])
def test_lab_pattern_accepts(cf: Any, prefix: str) -> None:
    s = deploy(cf, PARAMS, {"NamingPrefix": prefix})
    assert s["StackStatus"] == "CREATE_COMPLETE"
    assert outputs(s)["Prefix"] == prefix
    shown = {p["ParameterKey"]: p["ParameterValue"] for p in s["Parameters"]}
    assert shown["Secret"] == "****" and shown["Choice"] == "Yes" and shown["Size"] == "5"
    props = [e["ResourceProperties"] for e in cf.describe_stack_events(StackName=s["StackId"])["StackEvents"]
             if "ResourceProperties" in e]
    assert props and all("hunter2" not in p for p in props)
    assert any('"Value": "****"' in p for p in props)


@pytest.mark.parametrize("prefix", ["ab", "MyPrefix", "1.2.3", "abc-", "x" * 41, "-abc", "a..bcd"])
def test_lab_pattern_rejects(cf: Any, prefix: str) -> None:
    code, message = create_error(cf, StackName=unique(), TemplateBody=PARAMS, Parameters=[
        {"ParameterKey": "NamingPrefix", "ParameterValue": prefix}])
    assert code == "ValidationError"
    assert message == f"Parameter 'NamingPrefix' must match pattern {LAB_PATTERN}"


@pytest.mark.parametrize("key, value, message", [
    ("Described", "ABC", "Parameter 'Described' failed to satisfy constraint: must be lowercase letters"),
    ("Size", "11", "Parameter 'Size' must be a number not greater than 10"),
    ("Size", "0", "Parameter 'Size' must be a number not less than 1"),
    ("Size", "many", "Parameter 'Size' must be a number."),
    ("Short", "a", "Parameter 'Short' must contain at least 2 characters"),
    ("Short", "abcde", "Parameter 'Short' must contain at most 4 characters"),
    ("Choice", "yes", "Parameter 'Choice' must be one of AllowedValues"),
    ("Unknown", "x", "Parameters: [Unknown] do not exist in the template"),
])
def test_parameter_constraints(cf: Any, key: str, value: str, message: str) -> None:
    name = unique()
    code, got = create_error(cf, StackName=name, TemplateBody=PARAMS, Parameters=[
        {"ParameterKey": "NamingPrefix", "ParameterValue": "myprefix"},
        {"ParameterKey": key, "ParameterValue": value}])
    assert (code, got) == ("ValidationError", message)
    assert name not in {s["StackName"] for s in cf.list_stacks()["StackSummaries"]}


def test_missing_parameter_and_validate_template_parameters(cf: Any) -> None:
    code, message = create_error(cf, StackName=unique(), TemplateBody=PARAMS)
    assert (code, message) == ("ValidationError", "Parameters: [NamingPrefix] must have values")
    params = {p["ParameterKey"]: p for p in cf.validate_template(TemplateBody=PARAMS)["Parameters"]}
    assert params["Secret"]["NoEcho"] is True and params["Size"]["DefaultValue"] == "5"
    assert "DefaultValue" not in params["NamingPrefix"]
