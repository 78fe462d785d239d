"""IAM records and the in-memory snapshot every request reads (rebuilt when the store changes)."""

from __future__ import annotations

import json
import secrets
from dataclasses import dataclass, field
from typing import Any

USER, ROLE, GROUP = "user", "role", "group"
ID_PREFIX = {USER: "AIDA", ROLE: "AROA", GROUP: "AGPA", "policy": "ANPA", "key": "AKIA", "session": "ASIA"}
_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"


def new_id(kind: str, length: int = 21) -> str:
    prefix = ID_PREFIX[kind]
    return prefix + "".join(secrets.choice(_ALPHABET) for _ in range(length - len(prefix)))


def new_secret() -> str:
    return secrets.token_urlsafe(30)[:40]


@dataclass(slots=True)
class Entity:
    """A user, role or group."""

    kind: str
    name: str
    id: str
    path: str
    arn: str
    created_us: int
    trust: str = ""  # roles: the assume-role (trust) policy document
    description: str = ""
    max_session: int = 3600
    tags: list[dict[str, str]] = field(default_factory=list)
    boundary: str = ""  # permissions boundary: a managed policy ARN
    trust_ids: dict[str, str] = field(default_factory=dict)  # roles: principal ARN -> unique id the trust binds


@dataclass(slots=True)
class AccessKey:
    access_key_id: str
    user: str
    secret: str
    status: str  # Active | Inactive
    created_us: int


@dataclass(slots=True)
class PolicyVersion:
    version_id: str
    document: str
    created_us: int


@dataclass(slots=True)
class ManagedPolicy:
    arn: str
    name: str
    id: str
    path: str
    description: str
    default_version: str
    created_us: int
    updated_us: int
    versions: dict[str, PolicyVersion] = field(default_factory=dict)

    @property
    def document(self) -> str:
        return self.versions[self.default_version].document


@dataclass
class IamState:
    entities: dict[tuple[str, str], Entity] = field(default_factory=dict)  # (kind, lower name)
    keys: dict[str, AccessKey] = field(default_factory=dict)
    inline: dict[tuple[str, str], dict[str, str]] = field(default_factory=dict)  # -> policy name -> document
    attached: dict[tuple[str, str], list[str]] = field(default_factory=dict)  # -> policy ARNs
    policies: dict[str, ManagedPolicy] = field(default_factory=dict)
    members: dict[str, list[str]] = field(default_factory=dict)  # lower group name -> user names

    def entity(self, kind: str, name: str) -> Entity | None:
        return self.entities.get((kind, name.lower()))

    def groups_of(self, user: str) -> list[str]:
        low = user.lower()
        return [g for g, users in self.members.items() if any(u.lower() == low for u in users)]

    def attachment_count(self, arn: str) -> int:
        return sum(1 for arns in self.attached.values() if arn in arns)


def aws_managed_policies() -> dict[str, ManagedPolicy]:
    """A few AWS-managed policies users attach by ARN."""
    docs: dict[str, Any] = {
        "AdministratorAccess": [{"Effect": "Allow", "Action": "*", "Resource": "*"}],
        "AmazonS3FullAccess": [{"Effect": "Allow", "Action": ["s3:*", "s3-object-lambda:*"], "Resource": "*"}],
        "AmazonS3ReadOnlyAccess": [{"Effect": "Allow", "Action": ["s3:Get*", "s3:List*", "s3:Describe*"],
                                    "Resource": "*"}],
        "IAMFullAccess": [{"Effect": "Allow", "Action": "iam:*", "Resource": "*"}],
        "ReadOnlyAccess": [{"Effect": "Allow", "Action": ["s3:Get*", "s3:List*", "iam:Get*", "iam:List*"],
                            "Resource": "*"}],
    }
    out = {}
    for name, stmts in docs.items():
        arn = f"arn:aws:iam::aws:policy/{name}"
        doc = json.dumps({"Version": "2012-10-17", "Statement": stmts})
        out[arn] = ManagedPolicy(arn, name, "ANPA" + name.upper()[:17].ljust(17, "X"), "/", "", "v1", 0, 0,
                                 {"v1": PolicyVersion("v1", doc, 0)})
    return out
