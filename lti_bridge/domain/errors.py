"""The one root of the tool's own errors, and the families views translate to answers."""

from __future__ import annotations

from collections.abc import Mapping


class LtiBridgeError(Exception):
    """Root of every error the tool raises on purpose."""

    #: What a person is told; ``str(exc)`` keeps the technical reason for the log.
    public_message: str = "Something went wrong."
    #: What the university's administrator should check, shown under the message.
    admin_hint: str = ""

    def __init__(self, reason: str, *, public_message: str = "", admin_hint: str = "") -> None:
        super().__init__(reason)
        if public_message:
            self.public_message = public_message
        if admin_hint:
            self.admin_hint = admin_hint


class LaunchError(LtiBridgeError):
    """An LTI login or launch was refused."""

    public_message = "This launch could not be accepted."
    #: The platform's ``launch_presentation.return_url`` from a verified launch, if any.
    return_url: str | None = None


class ForbiddenError(LtiBridgeError):
    """The request is understood but this installation does not allow it."""

    public_message = "This is not allowed here."


class NotFoundError(LtiBridgeError):
    """A record the request names does not exist."""

    public_message = "Not found."


class ValidationError(LtiBridgeError):
    """Input that is well-formed but not acceptable; ``fields`` maps each bad place to why."""

    public_message = "The request was not valid."

    def __init__(
        self,
        reason: str,
        *,
        fields: Mapping[str, str] | None = None,
        public_message: str = "",
        admin_hint: str = "",
    ) -> None:
        super().__init__(reason, public_message=public_message, admin_hint=admin_hint)
        #: Place (``sections[2].credit_hours``, a form field) -> what is wrong there.
        self.fields: dict[str, str] = dict(fields or {})


class ConflictError(LtiBridgeError):
    """The request would replace something that only an operator may change."""

    public_message = "This is already registered."


class UnavailableError(LtiBridgeError):
    """Something the request needs is down for now; the same request may succeed later."""

    public_message = "The tool cannot complete this right now. Please try again in a minute."

    def __init__(self, reason: str, *, retry_after: int = 30, **kwargs: str) -> None:
        super().__init__(reason, **kwargs)
        #: Seconds after which trying again makes sense (the ``Retry-After`` header).
        self.retry_after = max(1, int(retry_after))


class ConcurrentWriteError(UnavailableError):
    """Another request wrote the same record at the same moment; this one changed nothing.

    The whole transaction rolled back: the same request again is applied or found done.
    """

    public_message = "Another change to the same record happened at the same moment. Try again."

    def __init__(self, reason: str, *, retry_after: int = 1, **kwargs: str) -> None:
        super().__init__(reason, retry_after=retry_after, **kwargs)


class StorageUnavailableError(UnavailableError):
    """The database did not answer (down, restarting, pool exhausted) or has no schema yet."""

    admin_hint = "Check the database (lti-bridge doctor); after an upgrade: lti-bridge db upgrade."

    def __init__(self, reason: str, *, retry_after: int = 5, **kwargs: str) -> None:
        super().__init__(reason, retry_after=retry_after, **kwargs)


class OutboxConflictError(LtiBridgeError):
    """A message was enqueued under a key already holding a different body."""

    public_message = "This submission was already queued with different content."


class SisUnavailableError(LtiBridgeError):
    """The SIS could not be reached or did not answer in time (worth retrying)."""

    public_message = "The student information system is not reachable."
