"""The pipeline of a call to a non-S3 service (IAM, STS, KMS, CloudWatch Logs, CloudTrail, CloudFormation):

    read body (bounded) -> authenticate (SigV4 over the body's hash) -> region check (forward) ->
    identify operation -> parse parameters (botocore model) -> authorize -> service.call -> serialize

The service is the one named by the SigV4 credential scope, as AWS's endpoints are per service.
"""

from __future__ import annotations

import hashlib
import logging
from typing import TYPE_CHECKING, Any

from ..auth import sigv4
from ..auth.principal import Principal
from ..auth.request import ApiRequest, CallRecord
from ..protocol import rpc
from ..protocol.errors import AWSError
from ..protocol.model import service_model
from ..protocol.timefmt import now_us
from .body import RequestBody

if TYPE_CHECKING:
    from .app import Receive, Scope, Send, TwinstoreApp

log = logging.getLogger("twinstore.edge")

MAX_RPC_BODY = 4 << 20  # PutLogEvents batches reach 1 MiB; CloudFormation template bodies 51,200 bytes
GLOBAL_SERVICES = frozenset({"iam", "sts"})  # signed for us-east-1 (or any region): served by every region
SENSITIVE = frozenset({"SecretAccessKey", "SessionToken", "Plaintext", "Password", "NewPassword", "OldPassword",
                       "PrivateKey", "SSECustomerKey", "CopySourceSSECustomerKey"})


def scrub(value: Any) -> Any:
    """A copy of parameters/outputs without secrets, for the audit sink."""
    if isinstance(value, dict):
        return {k: ("HIDDEN_DUE_TO_SECURITY_REASONS" if k in SENSITIVE else scrub(v)) for k, v in value.items()}
    if isinstance(value, list):
        return [scrub(v) for v in value]
    return value


_AUTH_CODES = {  # S3's authentication error codes -> (query, json) protocol services' codes
    "InvalidAccessKeyId": ("InvalidClientTokenId", "UnrecognizedClientException"),
    "SignatureDoesNotMatch": ("SignatureDoesNotMatch", "InvalidSignatureException"),
    "AuthorizationHeaderMalformed": ("IncompleteSignature", "IncompleteSignatureException"),
    "RequestTimeTooSkewed": ("RequestExpired", "InvalidSignatureException"),
    "InvalidToken": ("InvalidClientTokenId", "UnrecognizedClientException"),
    "AccessDenied": ("AccessDenied", "AccessDeniedException"),
}


def _rpc_auth_error(err: AWSError, protocol: str) -> AWSError:
    codes = _AUTH_CODES.get(err.code)
    if codes is None:
        return err
    return AWSError(codes[0] if protocol == "query" else codes[1], err.message, status=err.status)


def _replay(raw: bytes) -> Any:
    sent = False

    async def receive() -> dict[str, Any]:
        nonlocal sent
        if sent:
            return {"type": "http.disconnect"}
        sent = True
        return {"type": "http.request", "body": raw, "more_body": False}
    return receive


async def handle_rpc(app: "TwinstoreApp", service: str, scope: "Scope", receive: "Receive", send: "Send",
                     headers: dict[str, str], request_id: str) -> None:
    model = service_model(service)
    name = rpc.signing_name(model)
    principal: Principal | None = None
    op_name = ""
    params: dict[str, Any] = {}
    output: dict[str, Any] | None = None
    source_ip = (scope.get("client") or ("", 0))[0]
    status = 200
    err: AWSError | None = None
    raw = b""
    try:
        body = RequestBody(receive, headers, None)
        raw = await body.read_all(MAX_RPC_BODY)
        if scope["method"] != "POST":
            raise AWSError("InvalidAction", "Only POST requests are supported", status=400)
        raw_path = (scope.get("raw_path") or scope["path"].encode()).decode("utf-8", "replace")
        to_verify = sigv4.RequestToVerify(scope["method"], raw_path.partition("?")[0],
                                          scope.get("query_string", b"").decode("utf-8", "replace"), headers)
        region_ok = (lambda r: None) if service in GLOBAL_SERVICES else app._region_ok
        if app.iam is not None:
            await app.iam.refresh()
        signed = sigv4.verify_header(to_verify, app.credential_lookup(headers.get("x-amz-security-token", "")),
                                     now_us(), region_ok, expected_service=name,
                                     body_sha256=hashlib.sha256(raw).hexdigest())
        principal = signed.credential.principal
        if service not in GLOBAL_SERVICES and signed.region != app.region:
            endpoint = (await app.s3.global_store.region_endpoints()).get(signed.region)
            if endpoint and app.proxy is not None:
                await app.proxy.forward(endpoint, scope, _replay(raw), send)
                return
            raise AWSError("InvalidSignatureException", f"Credential should be scoped to a valid region, not "
                                                        f"'{signed.region}'.", status=400)
        impl = app.services.get(service)
        form = rpc.parse_form(raw) if model.protocol == "query" else None
        call = rpc.identify(service, headers, form)
        op_name = call.operation.name
        if impl is None:
            raise AWSError("InvalidAction" if model.protocol == "query" else "UnknownOperationException",
                           f"twinstore does not serve {service} {op_name} yet", status=400)
        if form is not None:
            params = rpc.parse_query_params(call.operation.input_shape, form)
        else:
            params = rpc.parse_json_params(call.operation.input_shape, raw)
        req = ApiRequest(service, op_name, params, principal, app.region, request_id, source_ip,
                         headers.get("user-agent", ""), headers, headers.get("x-amz-security-token", ""))
        app.authorize_api(principal, f"{name}:{op_name}", req)
        output = await impl.call(req)
        if model.protocol == "query":
            payload = rpc.query_response(call.operation, output, request_id)
            ctype = "text/xml"
        else:
            payload = rpc.json_response(call.operation, output)
            ctype = rpc.json_content_type(model)
    except Exception as e:  # noqa: BLE001 - AWS errors as the protocol writes them; anything else a 500
        if isinstance(e, AWSError):
            err = _rpc_auth_error(e, model.protocol)
        else:
            log.exception("internal error in %s %s (request %s)", service, op_name, request_id)
            err = AWSError("InternalFailure", "An internal error occurred.", status=500)
        status = err.status
        if model.protocol == "query":
            payload, ctype = rpc.query_error(model, err, request_id), "text/xml"
        else:
            payload, ctype = rpc.json_error(err), rpc.json_content_type(model)
    hdrs = [(b"x-amzn-requestid", request_id.encode()), (b"content-type", ctype.encode()),
            (b"content-length", str(len(payload)).encode())]
    if err is not None and model.protocol != "query":
        hdrs.append((b"x-amzn-errortype", err.code.encode()))
    await send({"type": "http.response.start", "status": status, "headers": hdrs})
    await send({"type": "http.response.body", "body": payload})
    if app.on_call is not None:
        app.on_call(CallRecord(
            service=service, operation=op_name, region=app.region, principal=principal or app.anonymous,
            request_id=request_id, time_us=now_us(), status=status, source_ip=source_ip,
            user_agent=headers.get("user-agent", ""), params=scrub(params),
            output=scrub(output) if output is not None else None, error_code=err.code if err else "",
            error_message=err.message if err else "", headers=headers, bytes_in=len(raw), bytes_out=len(payload)))
