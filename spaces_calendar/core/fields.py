"""Model fields that keep secrets encrypted in the database."""

from __future__ import annotations

from django.db import models

from spaces_calendar.core.crypto import decrypt, encrypt


class EncryptedTextField(models.TextField):
    """A text column stored as a Fernet token; reads give back the plaintext.

    Ciphertexts are randomised, so the column cannot be searched: only ``isnull`` lookups are allowed.
    """

    description = "Text encrypted at rest with FIELD_ENCRYPTION_KEYS"

    def get_prep_value(self, value):
        value = super().get_prep_value(value)
        if value is None:
            return None
        return encrypt(str(value))

    def from_db_value(self, value, expression, connection):
        if value is None:
            return None
        return decrypt(value, label=f"{self.model._meta.label}.{self.name}")

    def get_lookup(self, lookup_name):
        if lookup_name != "isnull":
            raise TypeError(f"{self.model._meta.label}.{self.name} is encrypted: only isnull lookups work.")
        return super().get_lookup(lookup_name)


def encrypted_fields() -> list[EncryptedTextField]:
    from django.apps import apps

    return [
        field
        for model in apps.get_models()
        for field in model._meta.concrete_fields
        if isinstance(field, EncryptedTextField)
    ]
