"""Give the sandbox's demo tenant a few weeks of bookings and occupancy (once), so reports mean something."""

from django.core.management.base import BaseCommand, CommandError

from occupancy.demo import seed_history
from spaces_calendar.core.models import Tenant
from spaces_calendar.sandbox.seed import DEMO_TENANT_SLUG


class Command(BaseCommand):
    help = "Write demo history (bookings, occupancy, outcomes, daily aggregates) for the sandbox tenant, once."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--days", type=int, default=21)
        parser.add_argument("--tenant", default=DEMO_TENANT_SLUG)

    def handle(self, *args, days: int, tenant: str, **options) -> None:
        owner = Tenant.objects.filter(slug=tenant).first()
        if owner is None:
            raise CommandError(f"No tenant {tenant!r}: run seed_sandbox first.")
        written = seed_history(owner, days=days)
        self.stdout.write(f"Demo history: {written} bookings written" if written else "Demo history already there")
