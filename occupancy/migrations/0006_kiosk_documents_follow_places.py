"""A room, floor or building that changes (a new name, capacity, time zone, floor) drops the stored kiosk documents
of its rooms, so the next poll rebuilds them: these are not fingerprinted (``occupancy/kiosk/documents.py``), and
before this waited for ``KIOSK_DOCUMENT_MAX_AGE_S``. On PostgreSQL the deletions notify the web processes, which
drop what they remember (``0005``). SQLite and PostgreSQL alike.
"""

from django.db import migrations

DOCUMENTS = "occupancy_kioskroomstatus"
ROOMS_OF = {
    "core_room": "SELECT id FROM {rows}",
    "core_floor": "SELECT r.id FROM core_room r WHERE r.floor_id IN (SELECT id FROM {rows})",
    "core_building": "SELECT r.id FROM core_room r INNER JOIN core_floor f ON f.id = r.floor_id "
                     "WHERE f.building_id IN (SELECT id FROM {rows})",
}

POSTGRESQL = [
    "CREATE OR REPLACE FUNCTION kiosk_forget_documents() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
    + " ".join(
        f"{'IF' if index == 0 else 'ELSIF'} TG_TABLE_NAME = '{table}' THEN "
        f"DELETE FROM {DOCUMENTS} WHERE room_id IN ({select.format(rows='new_rows')});"
        for index, (table, select) in enumerate(ROOMS_OF.items()))
    + " END IF; RETURN NULL; END $$",
    *(f"CREATE TRIGGER kiosk_forget_documents AFTER UPDATE ON {table} REFERENCING NEW TABLE AS new_rows "
      f"FOR EACH STATEMENT EXECUTE FUNCTION kiosk_forget_documents()" for table in ROOMS_OF),
]
SQLITE = [
    f"CREATE TRIGGER kiosk_forget_documents_{table} AFTER UPDATE ON {table} BEGIN "
    f"DELETE FROM {DOCUMENTS} WHERE room_id IN ({select.format(rows=f'(SELECT NEW.id AS id)')}); END"
    for table, select in ROOMS_OF.items()
]
DROP_POSTGRESQL = [*(f"DROP TRIGGER IF EXISTS kiosk_forget_documents ON {table}" for table in ROOMS_OF),
                   "DROP FUNCTION IF EXISTS kiosk_forget_documents()"]
DROP_SQLITE = [f"DROP TRIGGER IF EXISTS kiosk_forget_documents_{table}" for table in ROOMS_OF]


def _run(schema_editor, statements: dict[str, list[str]]) -> None:
    with schema_editor.connection.cursor() as cursor:
        for statement in statements.get(schema_editor.connection.vendor, []):
            cursor.execute(statement)


def create(apps, schema_editor):
    _run(schema_editor, {"postgresql": POSTGRESQL, "sqlite": SQLITE})


def drop(apps, schema_editor):
    _run(schema_editor, {"postgresql": DROP_POSTGRESQL, "sqlite": DROP_SQLITE})


class Migration(migrations.Migration):

    dependencies = [
        ('occupancy', '0005_kiosk_change_triggers'),
    ]

    operations = [migrations.RunPython(create, drop)]
