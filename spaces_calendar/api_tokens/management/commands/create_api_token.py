"""``manage.py create_api_token <username> [--name NAME]``: a new API token, its key printed once (only a hash is
kept). Replaces DRF's ``drf_create_token``, which stored keys in plaintext."""

from __future__ import annotations

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

from spaces_calendar.api_tokens.tokens import issue_token


class Command(BaseCommand):
    help = "Create an API token for a user and print its key once (Authorization: Token <key>)."

    def add_arguments(self, parser) -> None:
        parser.add_argument("username")
        parser.add_argument("--name", default="Created with manage.py", help="What will use the token.")

    def handle(self, *args, username: str, name: str, **options) -> None:
        try:
            user = get_user_model().objects.get(username=username)
        except get_user_model().DoesNotExist:
            raise CommandError(f"No user named {username!r}.") from None
        token, raw = issue_token(user, name[:100])
        self.stdout.write(f"API token “{token.name}” ({token.prefix}) for {username}; the key is shown only now:")
        self.stdout.write(raw)
