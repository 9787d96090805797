"""Throwaway certificate authorities for the fake servers.

Real clients (msal in particular) insist on https, and we want the code under test to verify certificates
exactly as it would in production. So fake servers present a leaf certificate issued by a test CA that the
client is told to trust through a CA bundle file, and a second, never-trusted CA lets tests prove that an
unknown certificate is refused.

One trusted CA exists per process, created lazily and shared by every fake server. A long-running sandbox
and the app talking to it are different processes: call :func:`use_ca_directory` in both (before anything
else here) so they load the same CA from disk, then point the app's ``OUTBOUND_CA_BUNDLE`` at
``<directory>/ca.pem``.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import ssl
import tempfile
import threading
from pathlib import Path

import trustme

#: Names every leaf certificate is valid for: clients may use either the name or the loopback address.
SERVER_IDENTITIES = ("localhost", "127.0.0.1", "::1")

_lock = threading.Lock()
_ca: trustme.CA | None = None
_untrusted_ca: trustme.CA | None = None
_ca_directory: Path | None = None
_bundle_path: str | None = None
_leaves: dict[bool, trustme.LeafCert] = {}


def use_ca_directory(directory: str | os.PathLike[str]) -> None:
    """Keep the trusted CA in ``directory`` (``ca.pem`` + ``ca.key``) so several processes share it.

    Must be called before the CA is first used; the CA is loaded from there if present, else created and
    saved there.
    """
    global _ca_directory
    with _lock:
        if _ca is not None:
            raise RuntimeError("the test CA already exists; call use_ca_directory() earlier")
        _ca_directory = Path(directory)


def trusted_ca() -> trustme.CA:
    """The CA clients are told to trust (one per process, or the one stored by :func:`use_ca_directory`)."""
    global _ca
    with _lock:
        if _ca is None:
            _ca = _load_or_create_ca(_ca_directory) if _ca_directory else trustme.CA()
        return _ca


def untrusted_ca() -> trustme.CA:
    """A CA nobody trusts: servers using it let tests prove that certificate verification is enforced."""
    global _untrusted_ca
    with _lock:
        if _untrusted_ca is None:
            _untrusted_ca = trustme.CA(organization_name="spaces-calendar untrusted test CA")
        return _untrusted_ca


def ca_bundle_path() -> str:
    """Path of a PEM file with the trusted test CA (written once), for ``verify=``/``OUTBOUND_CA_BUNDLE``."""
    global _bundle_path
    ca = trusted_ca()
    with _lock:
        if _bundle_path is None:
            _bundle_path = _write_bundle(ca)
        return _bundle_path


def server_context(*, trusted: bool = True) -> ssl.SSLContext:
    """A server-side TLS context with a leaf certificate for :data:`SERVER_IDENTITIES`.

    ``trusted=False`` uses a leaf from :func:`untrusted_ca`, which clients must refuse.
    """
    leaf = _leaf(trusted)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    leaf.configure_cert(context)
    return context


def _leaf(trusted: bool) -> trustme.LeafCert:
    """Issue each CA's leaf once: key generation is the slow part and every server can share it."""
    ca = trusted_ca() if trusted else untrusted_ca()
    with _lock:
        if trusted not in _leaves:
            _leaves[trusted] = ca.issue_cert(*SERVER_IDENTITIES)
        return _leaves[trusted]


def _load_or_create_ca(directory: Path) -> trustme.CA:
    cert_path, key_path = directory / "ca.pem", directory / "ca.key"
    if cert_path.exists() and key_path.exists():
        return trustme.CA.from_pem(cert_path.read_bytes(), key_path.read_bytes())
    ca = trustme.CA()
    directory.mkdir(parents=True, exist_ok=True)
    key_path.touch(mode=0o600)
    key_path.write_bytes(ca.private_key_pem.bytes())
    ca.cert_pem.write_to_path(str(cert_path))
    return ca


def _write_bundle(ca: trustme.CA) -> str:
    if _ca_directory is not None:
        return str(_ca_directory / "ca.pem")
    fd, path = tempfile.mkstemp(prefix="spaces-calendar-test-ca-", suffix=".pem")
    with os.fdopen(fd, "wb") as handle:
        handle.write(ca.cert_pem.bytes())
    atexit.register(_remove_quietly, path)
    return path


def _remove_quietly(path: str) -> None:
    with contextlib.suppress(OSError):
        os.unlink(path)
