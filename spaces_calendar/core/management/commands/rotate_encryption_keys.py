"""Re-encrypt every secret with the first key of FIELD_ENCRYPTION_KEYS, so older keys can then be removed."""

from collections import defaultdict

from django.core.management.base import BaseCommand
from django.db import transaction

from spaces_calendar.core.fields import encrypted_fields


class Command(BaseCommand):
    help = "Re-encrypt all encrypted columns with the first key in FIELD_ENCRYPTION_KEYS."

    def handle(self, *args, **options) -> None:
        by_model = defaultdict(list)
        for field in encrypted_fields():
            by_model[field.model].append(field.name)
        for model, names in by_model.items():
            count = rotate_model(model, names)
            self.stdout.write(f"{model._meta.label}: re-encrypted {count} row(s) ({', '.join(names)})")


def rotate_model(model, names: list[str], batch_size: int = 500) -> int:
    count = 0
    with transaction.atomic():
        batch = []
        # Reading decrypts with any key; bulk_update writes back through get_prep_value with the first key.
        for obj in model._base_manager.only("pk", *names).iterator(chunk_size=batch_size):
            batch.append(obj)
            if len(batch) >= batch_size:
                model._base_manager.bulk_update(batch, names)
                count += len(batch)
                batch = []
        if batch:
            model._base_manager.bulk_update(batch, names)
            count += len(batch)
    return count
