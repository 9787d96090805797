"""PostgreSQL triggers that NOTIFY ``kiosk_changes`` when what a kiosk answer depends on changes
(see ``occupancy/kiosk/changes.py``). Payloads: ``r:<room id>``, ``rooms:<tenant id>`` (the tenant's set of rooms or
their names changed), ``t:<token prefix>``, ``*`` (everything).

Rows in bulk (a calendar sync, a Firehose batch) are notified once per room and statement, from the transition
tables; PostgreSQL delivers them at commit, and folds identical payloads of one transaction into one. Stored kiosk
documents notify only when deleted (a rules change drops them): a rebuilt document replaces one whose room changed
(already notified) or ran out of time (every process sees that by itself). SQLite has no notifications: nothing here.
"""

from django.db import migrations

CHANNEL = "kiosk_changes"

FUNCTIONS = f"""
CREATE OR REPLACE FUNCTION kiosk_notify_rooms() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  -- TG_ARGV[0]: the column holding the room id. Each branch reads only the transition tables its event has.
  IF TG_OP = 'INSERT' THEN
    EXECUTE format('SELECT pg_notify(%L, ''r:'' || k) FROM (SELECT DISTINCT %I AS k FROM new_rows) x',
                   '{CHANNEL}', TG_ARGV[0]);
  ELSIF TG_OP = 'UPDATE' THEN
    EXECUTE format('SELECT pg_notify(%L, ''r:'' || k) FROM (SELECT %I AS k FROM old_rows UNION '
                   'SELECT %I FROM new_rows) x', '{CHANNEL}', TG_ARGV[0], TG_ARGV[0]);
  ELSE
    EXECUTE format('SELECT pg_notify(%L, ''r:'' || k) FROM (SELECT DISTINCT %I AS k FROM old_rows) x',
                   '{CHANNEL}', TG_ARGV[0]);
  END IF;
  RETURN NULL;
END $$;

CREATE OR REPLACE FUNCTION kiosk_notify_room_sets() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  -- Which rooms a tenant has, and their names (a floor screen lists them by name), changed: 'rooms:<tenant id>'.
  IF TG_OP = 'INSERT' THEN
    PERFORM pg_notify('{CHANNEL}', 'rooms:' || k) FROM (SELECT DISTINCT tenant_id AS k FROM new_rows) x;
  ELSIF TG_OP = 'UPDATE' THEN
    PERFORM pg_notify('{CHANNEL}', 'rooms:' || k) FROM (SELECT tenant_id AS k FROM old_rows UNION
                                                       SELECT tenant_id FROM new_rows) x;
  ELSE
    PERFORM pg_notify('{CHANNEL}', 'rooms:' || k) FROM (SELECT DISTINCT tenant_id AS k FROM old_rows) x;
  END IF;
  RETURN NULL;
END $$;

CREATE OR REPLACE FUNCTION kiosk_notify_everything() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  PERFORM pg_notify('{CHANNEL}', '*');
  RETURN NULL;
END $$;

CREATE OR REPLACE FUNCTION kiosk_notify_token() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP IN ('UPDATE', 'DELETE') THEN
    PERFORM pg_notify('{CHANNEL}', 't:' || OLD.prefix);
  END IF;
  IF TG_OP IN ('INSERT', 'UPDATE') THEN
    PERFORM pg_notify('{CHANNEL}', 't:' || NEW.prefix);
  END IF;
  RETURN NULL;
END $$;

CREATE OR REPLACE FUNCTION kiosk_notify_token_rooms() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
  token_prefix text;
BEGIN
  SELECT prefix INTO token_prefix FROM occupancy_kiosktoken
   WHERE id = CASE WHEN TG_OP = 'DELETE' THEN OLD.kiosktoken_id ELSE NEW.kiosktoken_id END;
  IF token_prefix IS NOT NULL THEN  -- else the token is going too, and its own trigger says so
    PERFORM pg_notify('{CHANNEL}', 't:' || token_prefix);
  END IF;
  RETURN NULL;
END $$;
"""


def _room_triggers(table: str, column: str, events: tuple[str, ...], function: str = "kiosk_notify_rooms",
                   prefix: str = "") -> str:
    transition = {"INSERT": "NEW TABLE AS new_rows", "UPDATE": "OLD TABLE AS old_rows NEW TABLE AS new_rows",
                  "DELETE": "OLD TABLE AS old_rows"}
    argument = f"'{column}'" if column else ""
    return "".join(
        f"CREATE TRIGGER kiosk_notify_{prefix}{event.lower()} AFTER {event} ON {table} REFERENCING "
        f"{transition[event]} FOR EACH STATEMENT EXECUTE FUNCTION {function}({argument});\n"
        for event in events)


def _truncate_trigger(table: str) -> str:
    return (f"CREATE TRIGGER kiosk_notify_truncate AFTER TRUNCATE ON {table} "
            f"FOR EACH STATEMENT EXECUTE FUNCTION kiosk_notify_everything();\n")


TABLES = ["calendars_booking", "occupancy_roomsourcestate", "occupancy_kioskroomstatus", "core_room", "core_floor",
          "occupancy_kiosktoken", "occupancy_kiosktoken_rooms"]

TRIGGERS = (
    _room_triggers("calendars_booking", "room_id", ("INSERT", "UPDATE", "DELETE"))
    + _room_triggers("occupancy_roomsourcestate", "room_id", ("INSERT", "UPDATE", "DELETE"))
    + _room_triggers("occupancy_kioskroomstatus", "room_id", ("DELETE",))
    + _room_triggers("core_room", "id", ("UPDATE", "DELETE"))
    + _room_triggers("core_room", "", ("INSERT", "UPDATE", "DELETE"), "kiosk_notify_room_sets", "set_")
    # A floor moving to another building changes the building of its rooms (a kiosk's scope may name it).
    + "CREATE TRIGGER kiosk_notify_update AFTER UPDATE ON core_floor FOR EACH ROW "
      "WHEN (OLD.building_id IS DISTINCT FROM NEW.building_id) EXECUTE FUNCTION kiosk_notify_everything();\n"
    # A token's use (last_used_at) is no change to what it may read.
    + "CREATE TRIGGER kiosk_notify_insert_delete AFTER INSERT OR DELETE ON occupancy_kiosktoken FOR EACH ROW "
      "EXECUTE FUNCTION kiosk_notify_token();\n"
      "CREATE TRIGGER kiosk_notify_update AFTER UPDATE ON occupancy_kiosktoken FOR EACH ROW "
      "WHEN (OLD.prefix IS DISTINCT FROM NEW.prefix OR OLD.key_hash IS DISTINCT FROM NEW.key_hash "
      "OR OLD.revoked_at IS DISTINCT FROM NEW.revoked_at OR OLD.tenant_id IS DISTINCT FROM NEW.tenant_id "
      "OR OLD.floor_id IS DISTINCT FROM NEW.floor_id OR OLD.building_id IS DISTINCT FROM NEW.building_id) "
      "EXECUTE FUNCTION kiosk_notify_token();\n"
    + "CREATE TRIGGER kiosk_notify_change AFTER INSERT OR UPDATE OR DELETE ON occupancy_kiosktoken_rooms "
      "FOR EACH ROW EXECUTE FUNCTION kiosk_notify_token_rooms();\n"
    + "".join(_truncate_trigger(table) for table in TABLES)
)

DROP = "".join(
    f"DROP TRIGGER IF EXISTS kiosk_notify_{name} ON {table};\n"
    for table in TABLES for name in ("insert", "update", "delete", "truncate", "insert_delete", "change",
                                     "set_insert", "set_update", "set_delete")
) + "".join(f"DROP FUNCTION IF EXISTS {name}();\n" for name in (
    "kiosk_notify_rooms", "kiosk_notify_room_sets", "kiosk_notify_everything", "kiosk_notify_token",
    "kiosk_notify_token_rooms"))


def _run(schema_editor, sql: str) -> None:
    if schema_editor.connection.vendor == "postgresql":
        with schema_editor.connection.cursor() as cursor:
            cursor.execute(sql)  # no parameters: the % of format() stays as it is


def create(apps, schema_editor):
    _run(schema_editor, FUNCTIONS + TRIGGERS)


def drop(apps, schema_editor):
    _run(schema_editor, DROP)


class Migration(migrations.Migration):

    dependencies = [
        ('calendars', '0002_sync_engine'),
        ('core', '0001_initial'),
        ('occupancy', '0004_fewer_indexes'),
    ]

    operations = [migrations.RunPython(create, drop)]
