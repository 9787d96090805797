"""Why an activation was refused: one kind per documented failure, each with a message fit for the admin's page."""

from __future__ import annotations


class ActivationError(Exception):
    """An activation token was refused. ``kind`` is stable (tests and logs); ``message`` is for the admin.

    Kinds: ``malformed``, ``invalid`` (signature or algorithm), ``expired``, ``wrong_app``, ``unknown_host``,
    ``reused`` (the partner API refused a token used before), ``refused`` (any other refusal by the partner API),
    ``already_used_here``, ``conflict`` (the Spaces tenant belongs to another of our tenants), ``network`` (Cisco
    Spaces could not be reached: connection, timeout, TLS) and ``unavailable`` (it answered 5xx or nonsense).
    Messages never contain the token.
    """

    def __init__(self, kind: str, message: str):
        super().__init__(message)
        self.kind = kind
        self.message = message
