import pytest
from cryptography.fernet import Fernet
from django.core.management import call_command
from django.db import connection, models

from spaces_calendar.core.crypto import SecretDecryptionError
from spaces_calendar.core.fields import EncryptedTextField

PLAINTEXT = "0.AXoA-refresh-token-of-a-room-mailbox"


class Vault(models.Model):
    """A throwaway model: the encrypted field is tested on its own, before any provider stores secrets."""

    label = models.CharField(max_length=20)
    secret = EncryptedTextField(null=True)

    class Meta:
        app_label = "core"

    def __str__(self) -> str:
        return self.label


@pytest.fixture
def vault_table(transactional_db):
    with connection.schema_editor() as editor:
        editor.create_model(Vault)
    yield
    with connection.schema_editor() as editor:
        editor.delete_model(Vault)


def raw_secret(pk: int) -> str:
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT secret FROM {Vault._meta.db_table} WHERE id = %s", [pk])  # noqa: S608
        return cursor.fetchone()[0]


def test_it_stores_ciphertext_and_reads_back_plaintext(vault_table):
    vault = Vault.objects.create(label="a", secret=PLAINTEXT)

    assert PLAINTEXT not in raw_secret(vault.pk)
    assert raw_secret(vault.pk).startswith("gAAAA")  # a Fernet token
    assert Vault.objects.get(pk=vault.pk).secret == PLAINTEXT


def test_it_keeps_null_as_null(vault_table):
    vault = Vault.objects.create(label="a", secret=None)

    assert raw_secret(vault.pk) is None
    assert Vault.objects.get(pk=vault.pk).secret is None


def test_it_decrypts_with_an_old_key_after_a_new_key_is_put_first(vault_table, settings):
    old, new = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    settings.FIELD_ENCRYPTION_KEYS = [old]
    vault = Vault.objects.create(label="a", secret=PLAINTEXT)

    settings.FIELD_ENCRYPTION_KEYS = [new, old]
    assert Vault.objects.get(pk=vault.pk).secret == PLAINTEXT


def test_rotation_re_encrypts_so_the_old_key_can_be_dropped(vault_table, settings):
    old, new = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    settings.FIELD_ENCRYPTION_KEYS = [old]
    vault = Vault.objects.create(label="a", secret=PLAINTEXT)
    before = raw_secret(vault.pk)

    settings.FIELD_ENCRYPTION_KEYS = [new, old]
    call_command("rotate_encryption_keys")
    settings.FIELD_ENCRYPTION_KEYS = [new]

    assert raw_secret(vault.pk) != before
    assert Fernet(new).decrypt(raw_secret(vault.pk).encode()).decode() == PLAINTEXT
    assert Vault.objects.get(pk=vault.pk).secret == PLAINTEXT


def test_a_missing_key_raises_an_error_naming_the_field(vault_table, settings):
    settings.FIELD_ENCRYPTION_KEYS = [Fernet.generate_key().decode()]
    vault = Vault.objects.create(label="a", secret=PLAINTEXT)
    settings.FIELD_ENCRYPTION_KEYS = [Fernet.generate_key().decode()]

    with pytest.raises(SecretDecryptionError, match=r"core\.Vault\.secret"):
        Vault.objects.get(pk=vault.pk)


def test_it_refuses_lookups_that_cannot_work_on_ciphertext(vault_table):
    with pytest.raises(TypeError, match="encrypted"):
        list(Vault.objects.filter(secret=PLAINTEXT))
    assert Vault.objects.filter(secret__isnull=True).count() == 0
