"""Membership.member: a foreign key of the member's primary-key type instead of text.

The member model is ``SEGMENTS_MEMBER_MODEL`` (default ``AUTH_USER_MODEL``), a swappable
dependency as references to ``AUTH_USER_MODEL`` are. Forwards, the history of members
that no longer exist (text that is no key of an existing member) is deleted, the column
is converted in place and the foreign key is ``ON DELETE CASCADE``, deferred to commit;
the member index covers every row (a deleted member's history is found by it).
"""

import django.db.models.deletion
from django.db import migrations, models

from django_segments import conf

VIEW = "django_segments_current_membership"
TABLE = "django_segments_membership"
CONSTRAINT = "segments_membership_member_fk"
MEMBER_INDEX = "segments_membership_member"
CREATE_VIEW = f"""
    CREATE VIEW {VIEW} AS
    SELECT id, segment_id, member_id, lower(period) AS since
    FROM {TABLE}
    WHERE upper_inf(period)
"""


def _member_key(apps, schema_editor):
    """``(table, key column, key type)`` of the member model, quoted."""
    member = apps.get_model(conf.member_model())
    qn = schema_editor.quote_name
    key_type = member._meta.pk.rel_db_type(schema_editor.connection)
    return qn(member._meta.db_table), qn(member._meta.pk.column), key_type


def to_typed_key(apps, schema_editor):
    table, key, key_type = _member_key(apps, schema_editor)
    for statement in (
        f"DROP VIEW {VIEW}",
        f"DELETE FROM {TABLE} AS m WHERE NOT EXISTS "
        f"(SELECT 1 FROM {table} AS k WHERE k.{key}::text = m.member_id)",
        f"ALTER TABLE {TABLE} ALTER COLUMN member_id TYPE {key_type} USING member_id::{key_type}",
        f"ALTER TABLE {TABLE} ADD CONSTRAINT {CONSTRAINT} FOREIGN KEY (member_id) "
        f"REFERENCES {table} ({key}) ON DELETE CASCADE DEFERRABLE INITIALLY DEFERRED",
        f"DROP INDEX {MEMBER_INDEX}",
        f"CREATE INDEX {MEMBER_INDEX} ON {TABLE} (member_id, segment_id)",
        CREATE_VIEW,
    ):
        schema_editor.execute(statement)


def to_text_key(apps, schema_editor):
    for statement in (
        f"DROP VIEW {VIEW}",
        f"ALTER TABLE {TABLE} DROP CONSTRAINT {CONSTRAINT}",
        f"ALTER TABLE {TABLE} ALTER COLUMN member_id TYPE varchar(255) USING member_id::text",
        f"DROP INDEX {MEMBER_INDEX}",
        f"CREATE INDEX {MEMBER_INDEX} ON {TABLE} (member_id, segment_id) WHERE upper_inf(period)",
        CREATE_VIEW,
    ):
        schema_editor.execute(statement)


def _member(on_delete, related_name, **options):
    return models.ForeignKey(
        on_delete=on_delete, related_name=related_name, to=conf.member_model(), **options
    )


class Migration(migrations.Migration):
    dependencies = [
        migrations.swappable_dependency(conf.member_model()),
        ("django_segments", "0006_segment_archive"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            database_operations=[migrations.RunPython(to_typed_key, to_text_key)],
            state_operations=[
                migrations.RemoveConstraint(model_name="membership", name="segments_membership_current"),
                migrations.RemoveIndex(model_name="membership", name="segments_membership_history"),
                migrations.RemoveIndex(model_name="membership", name="segments_membership_member"),
                migrations.RemoveField(model_name="membership", name="member_id"),
                migrations.AddField(
                    model_name="membership",
                    name="member",
                    field=_member(
                        django.db.models.deletion.CASCADE, "segment_memberships", db_index=False, default=0
                    ),
                    preserve_default=False,
                ),
                migrations.AddConstraint(
                    model_name="membership",
                    constraint=models.UniqueConstraint(
                        condition=models.Q(("period__upper_inf", True)),
                        fields=("segment", "member"),
                        name="segments_membership_current",
                    ),
                ),
                migrations.AddIndex(
                    model_name="membership",
                    index=models.Index(fields=["segment", "member"], name="segments_membership_history"),
                ),
                migrations.AddIndex(
                    model_name="membership",
                    index=models.Index(fields=["member", "segment"], name="segments_membership_member"),
                ),
                migrations.RemoveField(model_name="currentmembership", name="member_id"),
                migrations.AddField(
                    model_name="currentmembership",
                    name="member",
                    field=_member(
                        django.db.models.deletion.DO_NOTHING,
                        "current_segment_memberships",
                        db_constraint=False,
                        default=0,
                    ),
                    preserve_default=False,
                ),
            ],
        ),
    ]
