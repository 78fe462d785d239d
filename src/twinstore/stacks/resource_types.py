"""What the engine knows about each supported resource type before any provider runs: the attributes
`Fn::GetAtt` may ask for, the property naming the resource, and whether it needs an IAM capability."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class TypeSpec:
    attributes: frozenset[str]
    name_property: str | None = None
    iam: bool = False


def _spec(attrs: str, name: str | None = None, iam: bool = False) -> TypeSpec:
    return TypeSpec(frozenset(attrs.split()), name, iam)


SPECS: dict[str, TypeSpec] = {
    "AWS::S3::Bucket": _spec("Arn DomainName RegionalDomainName DualStackDomainName WebsiteURL", "BucketName"),
    "AWS::S3::BucketPolicy": _spec(""),
    "AWS::IAM::Role": _spec("Arn RoleId", "RoleName", iam=True),
    "AWS::IAM::ManagedPolicy": _spec("PolicyArn PolicyId DefaultVersionId AttachmentCount IsAttachable "
                                     "CreateDate UpdateDate PermissionsBoundaryUsageCount",
                                     "ManagedPolicyName", iam=True),
    "AWS::IAM::Policy": _spec("Id", iam=True),
    "AWS::IAM::User": _spec("Arn", "UserName", iam=True),
    "AWS::IAM::AccessKey": _spec("SecretAccessKey", iam=True),
    "AWS::CloudTrail::Trail": _spec("Arn SnsTopicArn", "TrailName"),
    "AWS::Logs::LogGroup": _spec("Arn", "LogGroupName"),
    "AWS::KMS::Key": _spec("Arn KeyId"),
    "AWS::KMS::Alias": _spec(""),
}

# IAM types this engine does not provide still need the capability (the stack fails at them later).
IAM_TYPES = {t for t, s in SPECS.items() if s.iam} | {"AWS::IAM::Group", "AWS::IAM::InstanceProfile",
                                                       "AWS::IAM::UserToGroupAddition"}
# the property that names an IAM resource (set: the stack needs CAPABILITY_NAMED_IAM)
IAM_NAME_PROPERTY = {"AWS::IAM::Role": "RoleName", "AWS::IAM::ManagedPolicy": "ManagedPolicyName",
                     "AWS::IAM::User": "UserName", "AWS::IAM::Group": "GroupName",
                     "AWS::IAM::InstanceProfile": "InstanceProfileName"}
