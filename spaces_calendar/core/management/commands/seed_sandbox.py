from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand

from spaces_calendar.sandbox.seed import seed_demo_tenant


class Command(BaseCommand):
    help = "Create the sandbox demo tenant (idempotent) and make every superuser its admin."

    def handle(self, *args, **options) -> None:
        tenant = seed_demo_tenant()
        for username in get_user_model().objects.filter(is_superuser=True).values_list("username", flat=True):
            seed_demo_tenant(admin_username=username)
        self.stdout.write(f"Sandbox tenant ready: {tenant.name} ({tenant.rooms.count()} rooms)")
