"""AWS error answers the world gives itself (throttling bursts, a lost MRSC quorum), shaped per API protocol.

botocore reads an error from the body its protocol expects, so a throttle must look like the
service's own: query/rest-xml `ErrorResponse`, EC2's `Response/Errors`, JSON `__type`, REST-JSON's
`x-amzn-ErrorType` header. HTTP 400 carries the service's throttling code; 503 a "service
unavailable" one — both are retried by botocore's standard and adaptive modes.
"""

from __future__ import annotations

import json
import uuid

from hastack.local.world.calls import protocol_of

_ROUTE53_NS = "https://route53.amazonaws.com/doc/2013-04-01/"


def default_code(service: str, status: int) -> str:
    protocol = protocol_of(service)
    if status == 503:
        return "ServiceUnavailable" if protocol in ("query", "rest-xml", "ec2") else "ServiceUnavailableException"
    if protocol == "ec2":
        return "RequestLimitExceeded"
    if protocol in ("json", "rest-json"):
        return "ThrottlingException"
    return "Throttling"


def error_answer(service: str, status: int, code: str | None = None,
                 message: str = "Rate exceeded") -> tuple[int, dict[str, str], bytes]:
    """(HTTP status, headers, body) of an AWS error answer for `service` (a boto3 client name)."""
    code = code or default_code(service, status)
    request_id = str(uuid.uuid4())
    protocol = protocol_of(service)
    if protocol == "ec2":
        body = (f"<Response><Errors><Error><Code>{code}</Code><Message>{message}</Message></Error></Errors>"
                f"<RequestID>{request_id}</RequestID></Response>")
        return status, {"Content-Type": "text/xml"}, body.encode()
    if protocol in ("json", "rest-json"):
        headers = {"Content-Type": "application/x-amz-json-1.0", "x-amzn-ErrorType": code,
                   "x-amzn-RequestId": request_id}
        return status, headers, json.dumps({"__type": code, "message": message}).encode()
    ns = f' xmlns="{_ROUTE53_NS}"' if service == "route53" else ""
    body = (f"<ErrorResponse{ns}><Error><Type>Sender</Type><Code>{code}</Code><Message>{message}</Message></Error>"
            f"<RequestId>{request_id}</RequestId></ErrorResponse>")
    return status, {"Content-Type": "text/xml", "x-amzn-RequestId": request_id}, body.encode()
