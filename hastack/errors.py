"""The CLI's one error type and its exit codes (importable without any SDK).

Exit codes, shared by every sub-command:
  0  done (or nothing to do);
  1  the command ran and said no: policy violations found, a DR run refused or not finished;
  2  a user mistake (unknown stack, bad flag, unreadable or malformed file, no AWS credentials, an AWS
     endpoint that cannot be reached): one line, no traceback;
  70 an internal error (a bug in hastack): one line; `HASTACK_TRACEBACK=1` shows the traceback.

Modules raise `UserError` (or a subclass) where they detect the mistake; the root command group
(`hastack/cli.py`) prints it as `error: <message>` on stderr and exits 2. Nothing else prints user
errors. What escapes anyway is read by `as_user_error`: a file-system error naming its file, bytes that
are not UTF-8, or botocore saying the credentials or the endpoint are the problem are the user's
environment (exit 2); anything else is a bug, and never exit 1, which a CI job would read as "violations".
"""

from __future__ import annotations

EXIT_OK = 0
EXIT_REFUSED = 1
EXIT_USER_ERROR = 2
EXIT_INTERNAL = 70  # sysexits' EX_SOFTWARE


class UserError(Exception):
    """A mistake the user can fix: the message names the argument or key, the bad value, what is allowed."""

    exit_code = EXIT_USER_ERROR


#: botocore errors (matched by class name: this module imports no SDK) that the user's environment causes.
_AWS_ENVIRONMENT = {
    "NoCredentialsError": "no AWS credentials found (boto3's chain: AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, "
                          "AWS_PROFILE, ~/.aws, SSO, an instance or pod role)",
    "PartialCredentialsError": "incomplete AWS credentials",
    "CredentialRetrievalError": "the AWS credentials could not be retrieved",
    "TokenRetrievalError": "the AWS SSO token could not be retrieved (aws sso login?)",
    "UnauthorizedSSOTokenError": "the AWS SSO session has expired (aws sso login)",
    "SSOTokenLoadError": "the AWS SSO token could not be loaded (aws sso login)",
    "ProfileNotFound": "the AWS profile does not exist",
    "NoRegionError": "no AWS region given",
    "EndpointConnectionError": "cannot reach the AWS endpoint",
    "ConnectTimeoutError": "the AWS endpoint did not accept the connection in time",
    "ReadTimeoutError": "the AWS endpoint did not answer in time",
    "ConnectionClosedError": "the AWS endpoint closed the connection",
    "ProxyConnectionError": "cannot reach the proxy to AWS",
    "SSLError": "TLS to the AWS endpoint failed",
}
#: AWS error codes (a botocore ClientError) that mean the credentials, not the request, are wrong.
_AWS_CREDENTIAL_CODES = frozenset({
    "UnrecognizedClientException", "InvalidClientTokenId", "ExpiredToken", "ExpiredTokenException",
    "SignatureDoesNotMatch", "InvalidSignatureException", "AuthFailure", "AccessDenied", "AccessDeniedException",
    "UnauthorizedOperation",
})


def as_user_error(exc: BaseException) -> UserError | None:
    """The user's side of an exception no command caught, as one line; None when it is a bug in hastack."""
    names = [cls.__name__ for cls in type(exc).__mro__]
    first = (str(exc).strip().splitlines() or [""])[0]
    known = next((_AWS_ENVIRONMENT[n] for n in names if n in _AWS_ENVIRONMENT), None)
    if known is not None:
        return UserError(f"{known}: {first}" if first else known)
    if "ClientError" in names:
        error = (getattr(exc, "response", None) or {}).get("Error", {})
        if error.get("Code") in _AWS_CREDENTIAL_CODES:
            return UserError(f"AWS refused the credentials or their permissions ({error['Code']}): "
                             f"{error.get('Message', first)}")
    if isinstance(exc, UnicodeDecodeError):
        return UserError(f"an input is not UTF-8 text ({exc.reason} at byte {exc.start})")
    if isinstance(exc, OSError) and exc.filename is not None:
        return UserError(f"{exc.filename}: {exc.strerror or first}")
    return None
