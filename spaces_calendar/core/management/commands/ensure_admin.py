import secrets

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand


class Command(BaseCommand):
    help = "Create the first superuser with a random password, printed once. Does nothing if one exists."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--username", default="admin")

    def handle(self, *args, username: str, **options) -> None:
        User = get_user_model()
        if User.objects.filter(is_superuser=True).exists():
            return
        password = secrets.token_urlsafe(12)
        User.objects.create_superuser(username=username, email="", password=password)
        # Written to the terminal only, never to the log: it is shown this once and stored only as a hash.
        self.stdout.write(self.style.SUCCESS(
            f"\nFirst admin user created.\n  username: {username}\n  password: {password}\n"
            "This password is shown only now. Change it after signing in (Admin → Users).\n"
        ))
