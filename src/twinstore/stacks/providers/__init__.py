"""Resource providers by type."""

from __future__ import annotations

from .base import Provider
from .cloudtrail import TrailProvider
from .iam import AccessKeyProvider, ManagedPolicyProvider, PolicyProvider, RoleProvider, UserProvider
from .kms import AliasProvider, KeyProvider
from .logs import LogGroupProvider
from .s3 import BucketPolicyProvider, BucketProvider

PROVIDERS: dict[str, Provider] = {p.type: p for p in (
    BucketProvider(), BucketPolicyProvider(), RoleProvider(), ManagedPolicyProvider(), PolicyProvider(),
    UserProvider(), AccessKeyProvider(), TrailProvider(), LogGroupProvider(), KeyProvider(), AliasProvider())}
