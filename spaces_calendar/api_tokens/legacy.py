"""Converting DRF's plaintext tokens (``authtoken_token``, from ``rest_framework.authtoken``, no longer installed).

Each key is stored as its hash, so an integration that sends it keeps working; then the plaintext table is dropped,
and DRF's migration records with it (were the app installed again, it would start from an empty table). Raw SQL on
purpose: the table belongs to an app that is not installed, and this must not change when our models do.
"""

from __future__ import annotations

import hashlib

LEGACY_TABLE = "authtoken_token"
CONVERTED_NAME = "Converted DRF token"


def convert_drf_tokens(apps, schema_editor) -> None:
    """The migration step (``RunPython``)."""
    convert(schema_editor.connection)


def convert(connection) -> int:
    """Hash DRF's keys into API tokens and drop its table; how many were converted (0 without the table)."""
    if LEGACY_TABLE not in connection.introspection.table_names():
        return 0
    quote = connection.ops.quote_name
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT {quote('key')}, user_id, created FROM {quote(LEGACY_TABLE)}")  # noqa: S608
        rows = cursor.fetchall()
        cursor.executemany(
            "INSERT INTO api_tokens_apitoken (user_id, name, prefix, key_hash, created_at) VALUES (%s, %s, %s, %s, %s)",
            [(user_id, CONVERTED_NAME, key[:8], hashlib.sha256(key.encode()).hexdigest(), created)
             for key, user_id, created in rows])
        cursor.execute(f"DROP TABLE {quote(LEGACY_TABLE)}")
        cursor.execute("DELETE FROM django_migrations WHERE app = %s", ["authtoken"])
    return len(rows)
