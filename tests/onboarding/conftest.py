import pytest
from django.core.cache import cache

from tests.microsoft.conftest import fake_microsoft  # noqa: F401 (the fake Entra + Graph fixture, shared)


@pytest.fixture(autouse=True)
def _fast_passwords_and_fresh_cache(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    settings.SANDBOX = False  # a real install: nothing is seeded, every step is the admin's
    cache.clear()
