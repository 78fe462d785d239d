"""The IAM authority of one region process: a snapshot of the global IAM state (reloaded when any process
commits a change, detected with a microsecond `PRAGMA data_version`), credentials for IAM users and STS
sessions, compiled and cached identity policies, and decisions."""

from __future__ import annotations

import asyncio
import time
from typing import Any, Callable, Mapping

from ..auth.principal import Credential, Principal
from ..protocol.errors import AWSError
from ..protocol.timefmt import iso8601, now_us
from .conditions import PolicyError
from .errors import access_denied
from .evaluate import ALLOW, DENY, decide
from .model import GROUP, ROLE, USER, Entity, IamState, aws_managed_policies, new_id
from .policy import IDENTITY, TRUST, Policy, compile_policy, named_principals
from .store import IamStore
from .tokens import Session, TokenCodec, TokenError

Identity = tuple[tuple[Policy, ...], Policy | None, Policy | None]  # identity policies, session policy, boundary


class RequestKeys:
    """Condition-key values of one request; principal-derived keys are computed only when a policy asks."""

    __slots__ = ("principal", "values", "now_us")

    def __init__(self, principal: Principal, values: dict[str, list[str]] | None = None,
                 now: int | None = None) -> None:
        self.principal = principal
        self.values = values or {}
        self.now_us = now

    def value(self, key: str) -> list[str] | None:
        v = self.values.get(key)
        if v is not None:
            return v
        p = self.principal
        if key == "aws:principalarn":
            if p.type == "AssumedRole":
                return [p.extra["role_arn"]]
            return [p.arn] if p.type != "Anonymous" else None
        if key == "aws:principalaccount":
            return [p.account_id] if p.account_id else None
        if key == "aws:principaltype":
            return [{"IAMUser": "User", "Root": "Account"}.get(p.type, p.type)] if p.type != "Anonymous" else None
        if key == "aws:userid":
            return [p.principal_id] if p.principal_id else None
        if key == "aws:username":
            name = p.extra.get("user_name") if p.extra else None
            return [name] if name else None
        if key in ("aws:currenttime", "aws:epochtime"):
            t = self.now_us if self.now_us is not None else now_us()
            return [iso8601(t)] if key == "aws:currenttime" else [str(t // 1_000_000)]
        if key in ("aws:sourcearn", "aws:sourceaccount") and p.extra:
            source = p.extra.get(key[4:])
            return [source] if source else None
        if key == "aws:viaawsservice":
            return ["true" if p.extra and p.extra.get("invoked_by") else "false"]
        if key in _CALLED_VIA:  # a service acting with the principal's permissions (forward session)
            via = p.extra.get("called_via") if p.extra else None
            return [via] if via else None
        if key.startswith("aws:principaltag/") and p.extra:
            tag = p.extra.get("tag:" + key[len("aws:principaltag/"):])
            return [tag] if tag is not None else None
        return None


_CALLED_VIA = frozenset({"aws:calledvia", "aws:calledviafirst", "aws:calledvialast"})


def key_values(**kw: Any) -> dict[str, list[str]]:
    """Helper: condition keys from keyword-ish pairs, dropping empty ones."""
    return {k.lower(): [str(v)] for k, v in kw.items() if v not in (None, "")}


class Iam:
    def __init__(self, store: IamStore, account_id: str, codec: TokenCodec,
                 clock: Callable[[], int] = now_us) -> None:
        self.store = store
        self.account_id = account_id
        self.codec = codec
        self.clock = clock
        self.state = IamState()
        self.builtin = aws_managed_policies()
        self._identity: dict[tuple[str, str], Identity] = {}
        self._users: dict[str, Credential] = {}  # access key id -> credential of an IAM user (this snapshot)
        self._pending: asyncio.Future[IamState] | None = None

    # ---- freshness ----------------------------------------------------------------------------------------
    async def refresh(self) -> None:
        """Reloads the snapshot when any process committed an IAM change since the last request. Requests that
        arrive while a reload runs wait for it (none may act on the snapshot from before the change)."""
        if self.store.changed():
            self._pending = asyncio.ensure_future(self.store.load())
        while self._pending is not None:
            pending = self._pending
            try:
                state = await asyncio.shield(pending)
            except asyncio.CancelledError:
                raise  # this request went away; the reload goes on for the others
            except BaseException:
                if self._pending is pending:
                    self._pending = None
                raise
            if self._pending is pending:
                self.state = state
                self._identity = {}
                self._users = {}
                self._pending = None

    def policy(self, arn: str) -> Any:
        return self.state.policies.get(arn) or self.builtin.get(arn)

    # ---- credentials --------------------------------------------------------------------------------------
    def lookup(self, access_key_id: str, session_token: str = "") -> Credential | None:
        if access_key_id.startswith("ASIA"):
            return self._session_credential(access_key_id, session_token)
        cred = self._users.get(access_key_id)
        if cred is not None:
            return cred
        key = self.state.keys.get(access_key_id)
        if key is None or key.status != "Active":
            return None
        user = self.state.entity(USER, key.user)
        if user is None:
            return None
        p = Principal(self.account_id, user.arn, "IAMUser", access_key_id, user.id,
                      extra={"user_name": user.name, **_tag_extra(user)})
        cred = self._users[access_key_id] = Credential(access_key_id, key.secret, p)
        return cred

    def _session_credential(self, access_key_id: str, token: str) -> Credential | None:
        if not token:
            return None
        try:
            s = self.codec.decode(token)
        except TokenError:
            raise AWSError("InvalidToken", "The provided token is malformed or otherwise invalid.") from None
        if s.access_key_id != access_key_id:
            raise AWSError("InvalidToken", "The provided token is malformed or otherwise invalid.")
        if self.clock() >= s.expires_us:
            raise AWSError("ExpiredToken", "The provided token has expired.")
        if s.user_arn:  # a service acting with an IAM user's permissions (forward_session)
            return Credential(access_key_id, self.codec.secret_for(access_key_id), self._forward_user(s, token),
                              token, s.expires_us)
        if not s.role_arn:  # an AWS service principal itself (service_credential)
            p = Principal("", s.source_identity, "AWSService", access_key_id, s.source_identity,
                          extra=_source_extra(s))
            return Credential(access_key_id, self.codec.secret_for(access_key_id), p, token, s.expires_us)
        p = session_principal(self.account_id, s, token)
        role = self.state.entity(ROLE, p.extra["role_name"])
        if role is not None and role.id == s.role_id:
            p.extra.update(_tag_extra(role))
        return Credential(access_key_id, self.codec.secret_for(access_key_id), p, session_token=token,
                          expires_us=s.expires_us)

    def _forward_user(self, s: Session, token: str) -> Principal:
        """The IAM user of a forward session; a user deleted (or recreated: other id) since has no permissions
        (identity_of checks the id)."""
        name = s.user_arn.rsplit("/", 1)[-1]
        user = self.state.entity(USER, name)
        extra = {"user_name": name, "invoked_by": s.via, "called_via": s.via}
        if user is not None and user.id == s.user_id:
            extra.update(_tag_extra(user))
        return Principal(self.account_id, s.user_arn, "IAMUser", s.access_key_id, s.user_id, token, extra)

    # ---- policies -----------------------------------------------------------------------------------------
    def identity_of(self, p: Principal) -> Identity:
        ck = (p.arn, p.principal_id)
        got = self._identity.get(ck)
        if got is not None:
            return got
        st = self.state
        docs: list[str] = []
        session_policy: Policy | None = None
        boundary = ""
        if p.type == "IAMUser":
            name = p.extra["user_name"]
            user = st.entity(USER, name)
            if user is not None and user.id == p.principal_id:  # not a deleted user's (forward) session
                boundary = user.boundary
                docs += self.docs_of(USER, name)
                for g in st.groups_of(name):
                    docs += self.docs_of(GROUP, g)
        elif p.type == "AssumedRole":
            role = st.entity(ROLE, p.extra["role_name"])
            if role is not None and role.id == p.extra.get("role_id"):
                docs += self.docs_of(ROLE, role.name)
                boundary = role.boundary
            if p.extra.get("policy"):
                session_policy = compile_policy(p.extra["policy"], IDENTITY)
        compiled = []
        for d in docs:
            try:
                compiled.append(compile_policy(d, IDENTITY))
            except PolicyError:
                continue  # stored documents were validated; never let one break every request
        boundary_doc = self.policy(boundary) if boundary else None
        got = (tuple(compiled), session_policy,
               compile_policy(boundary_doc.document, IDENTITY) if boundary_doc is not None else None)
        if len(self._identity) > 10000:
            self._identity = {}
        self._identity[ck] = got
        return got

    def docs_of(self, kind: str, name: str) -> list[str]:
        st = self.state
        out = list(st.inline.get((kind, name.lower()), {}).values())
        for arn in st.attached.get((kind, name.lower()), []):
            mp = self.policy(arn)
            if mp is not None:
                out.append(mp.document)
        return out

    def decide(self, p: Principal, action: str, resource: str, keys: RequestKeys,
               resource_policy: Policy | None = None, bound: Mapping[str, str] | None = None) -> str:
        """`bound`: the resource policy's principal ARNs -> unique ids when it was saved (`principal_ids`)."""
        if p.type == "Root" and resource_policy is None:
            return ALLOW
        identity, session, boundary = self.identity_of(p) if p.type in ("IAMUser", "AssumedRole") \
            else ((), None, None)
        return decide(p, action, resource, keys, identity, resource_policy, session, boundary, bound)

    def check(self, p: Principal, action: str, resource: str, keys: RequestKeys | None = None,
              resource_policy: Policy | None = None) -> None:
        """Raises AccessDenied (IAM wording) unless allowed."""
        d = self.decide(p, action, resource, keys or RequestKeys(p), resource_policy)
        if d != ALLOW:
            why = "with an explicit deny" if d == DENY else ""
            raise access_denied(p.arn, action, resource, why)

    def pass_role(self, p: Principal, role_arn: str, service: str, source_ip: str = "") -> None:
        """iam:PassRole on `role_arn` with iam:PassedToService = `service` (S3 requires it of a
        PutBucketReplication naming a role); raises AccessDenied."""
        if p.is_root:
            return
        keys = RequestKeys(p, key_values(**{"iam:PassedToService": service, "aws:SourceIp": source_ip}))
        self.check(p, "iam:PassRole", role_arn, keys)

    # ---- sessions -----------------------------------------------------------------------------------------
    def principal_id(self, arn: str) -> str | None:
        """The unique id of a user or role ARN of this account a policy names; "" for principals that cannot
        be checked here (other accounts, roots, sessions); None when it does not exist."""
        parts = arn.split(":", 5)
        if len(parts) != 6 or parts[4] != self.account_id or parts[2] != "iam":
            return ""
        resource = parts[5]
        for kind in (USER, ROLE):
            if resource.startswith(kind + "/"):
                e = self.state.entity(kind, resource.rsplit("/", 1)[-1])
                return e.id if e is not None and e.arn == arn else None
        return "" if resource == "root" else None

    def principal_ids(self, policy: Policy) -> dict[str, str]:
        """What a resource or trust policy binds at save time: named user/role ARN -> unique id. Raises
        PolicyError for a principal that does not exist."""
        out: dict[str, str] = {}
        for arn in named_principals(policy):
            pid = self.principal_id(arn)
            if pid is None:
                raise PolicyError(f'Invalid principal in policy: "AWS":"{arn}"')
            if pid:
                out[arn] = pid
        return out

    def role_by_arn(self, role_arn: str) -> Entity | None:
        parts = role_arn.split(":", 5)
        if len(parts) != 6 or parts[2] != "iam" or not parts[5].startswith("role/"):
            return None
        name = parts[5].rsplit("/", 1)[-1]
        role = self.state.entity(ROLE, name)
        return role if role is not None and role.arn == role_arn else None

    def new_session(self, role: Entity, session_name: str, duration_s: int, policy: str = "",
                    source: str = "") -> tuple[Session, Credential]:
        akid = new_id("session", 20)
        s = Session(akid, role.arn, role.id, session_name, self.clock() + duration_s * 1_000_000, source, policy)
        token = self.codec.encode(s)
        cred = Credential(akid, self.codec.secret_for(akid), session_principal(self.account_id, s, token),
                          session_token=token, expires_us=s.expires_us)
        return s, cred

    def service_credential(self, service: str, duration_s: int = 3600, source_arn: str = "",
                           source_account: str = "") -> Credential:
        """Credentials of an AWS service principal itself (e.g. `cloudtrail.amazonaws.com` delivering logs):
        no identity policies, so only resource policies naming `{"Service": service}` grant it anything.
        `source_arn`/`source_account` (e.g. the trail) become the aws:SourceArn / aws:SourceAccount keys."""
        akid = new_id("session", 20)
        s = Session(akid, "", "", service.lower(), self.clock() + duration_s * 1_000_000, service.lower(),
                    source_arn=source_arn, source_account=source_account)
        token = self.codec.encode(s)
        p = Principal("", service.lower(), "AWSService", akid, service.lower(), extra=_source_extra(s))
        return Credential(akid, self.codec.secret_for(akid), p, session_token=token, expires_us=s.expires_us)

    async def service_session(self, role_arn: str, service: str = "s3.amazonaws.com",
                              duration_s: int = 3600, session_name: str = "") -> Credential:
        """Temporary credentials for `role_arn` as assumed by an AWS service principal (the replication
        engine acts for s3.amazonaws.com, session `s3-replication`). The role's trust policy must allow that
        service; what the session may do is then decided by normal evaluation of the role's policies."""
        await self.refresh()
        role = self.role_by_arn(role_arn)
        service_principal = Principal("", service.lower(), "AWSService")
        if role is None:
            raise access_denied(service, "sts:AssumeRole", role_arn)
        trust = compile_policy(role.trust, TRUST)
        if decide(service_principal, "sts:AssumeRole", role_arn, RequestKeys(service_principal), (), trust) != ALLOW:
            raise access_denied(service, "sts:AssumeRole", role_arn)
        return self.new_session(role, session_name or f"{service.split('.')[0]}-{int(time.time())}", duration_s,
                                source=service.lower())[1]

    async def forward_session(self, p: Principal, via: str, duration_s: int = 3600) -> Credential:
        """Temporary credentials with exactly `p`'s permissions for a service acting on its behalf (AWS's
        forward access sessions: CloudFormation without a service role): the session's principal has `p`'s
        identity (ARN, unique id), hence its identity policies, boundary and session policy, and
        `extra["invoked_by"] = via`. `p` is an IAM user or a role session (the root is the caller's business);
        raises AccessDenied when it no longer exists (deleted, or recreated under its name)."""
        await self.refresh()
        akid = new_id("session", 20)
        expires = self.clock() + duration_s * 1_000_000
        if p.type == "IAMUser":
            user = self.state.entity(USER, p.extra.get("user_name", ""))
            if user is None or user.id != p.principal_id or user.arn != p.arn:
                raise _gone(p)
            s = Session(akid, "", "", "", expires, user_arn=user.arn, user_id=user.id, via=via)
            token = self.codec.encode(s)
            return Credential(akid, self.codec.secret_for(akid), self._forward_user(s, token), token, expires)
        if p.type == "AssumedRole":
            role = self.role_by_arn(p.extra.get("role_arn", ""))
            if role is None or role.id != p.extra.get("role_id"):
                raise _gone(p)
            s = Session(akid, role.arn, role.id, p.extra["session_name"], expires, via, p.extra.get("policy", ""),
                        via=via)
            token = self.codec.encode(s)
            return Credential(akid, self.codec.secret_for(akid), session_principal(self.account_id, s, token),
                              token, expires)
        raise AWSError("AccessDenied", f"{via} cannot act for the principal {p.arn or p.type}", status=403)


def _gone(p: Principal) -> AWSError:
    return AWSError("InvalidClientTokenId", f"The security token included in the request is invalid: {p.arn}, "
                                            f"the identity it was issued for, no longer exists", status=403)


def _source_extra(s: Session) -> dict[str, str]:
    return {k: v for k, v in (("sourcearn", s.source_arn), ("sourceaccount", s.source_account)) if v}


def _tag_extra(e: Entity) -> dict[str, str]:
    """The entity's tags as principal attributes (aws:PrincipalTag/<key>; tag keys compare case-insensitively)."""
    return {"tag:" + t["Key"].lower(): t.get("Value", "") for t in e.tags}


def session_principal(account_id: str, s: Session, token: str) -> Principal:
    role_name = s.role_arn.rsplit("/", 1)[-1]
    extra = {"role_arn": s.role_arn, "role_name": role_name, "role_id": s.role_id, "session_name": s.session_name}
    if s.policy:
        extra["policy"] = s.policy
    if s.source_identity:
        extra["invoked_by"] = s.source_identity
    if s.via:  # a forward session (forward_session): the service acts with this role session's permissions
        extra["called_via"] = s.via
    return Principal(account_id, f"arn:aws:sts::{account_id}:assumed-role/{role_name}/{s.session_name}",
                     "AssumedRole", s.access_key_id, f"{s.role_id}:{s.session_name}", token, extra)
