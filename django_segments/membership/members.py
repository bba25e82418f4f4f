"""The member model (``SEGMENTS_MEMBER_MODEL``) and the text form of its keys.

`Membership.member` is a foreign key to the member model, of its primary key's type
(integer, bigint or UUID), declared when the models load, as references to
``AUTH_USER_MODEL`` are. Keys given by users (static ids, the first column of segment
SQL, arguments of ``has_member``) are read in their canonical text form (``str(int)`` / the
lowercase hyphenated ``str(uuid)``, what Postgres' ``::text`` cast produces), which the
key column accepts as it is.
"""

from __future__ import annotations

import re
import uuid
from typing import Any

from django.apps import apps
from django.core.exceptions import ValidationError
from django.db import models
from django.db.backends.base.base import BaseDatabaseWrapper

from django_segments import conf
from django_segments.exceptions import InvalidMemberError, SegmentDefinitionError

_INTEGER = re.compile(r"-?[0-9]+")
_DB_TYPE = re.compile(r"[a-z][a-z0-9 _(),]*")
_SEPARATORS = re.compile(r"[\s,;]+")


def get_member_model() -> type[models.Model]:
    """The model `Membership.member` refers to: ``SEGMENTS_MEMBER_MODEL`` (default
    ``AUTH_USER_MODEL``) as it was when the models loaded."""
    membership = apps.get_model("django_segments", "Membership", require_ready=False)
    model = membership._meta.get_field("member").related_model
    if not isinstance(model, type):
        msg = f"SEGMENTS_MEMBER_MODEL refers to {conf.member_model()!r}, which is not an installed model."
        raise SegmentDefinitionError(msg)
    return model


def pk_db_type(model: type[models.Model], connection: BaseDatabaseWrapper) -> str:
    """The SQL type of ``model``'s primary key as a cast target, e.g. ``bigint`` or ``uuid``."""
    pk = model._meta.pk
    assert pk is not None  # noqa: S101 - every concrete model has one
    db_type = str(pk.rel_db_type(connection))
    # NOTE - the type is interpolated into SQL as a cast target; it comes from the model,
    # never from users, and is still checked to be a plain type name.
    if not _DB_TYPE.fullmatch(db_type):  # pragma: no cover - exotic primary keys
        msg = f"Unsupported primary key type {db_type!r} of {model._meta.label}."
        raise SegmentDefinitionError(msg)
    return db_type


def canonical_key(model: type[models.Model], value: Any) -> Any:
    """The primary-key value (``int``, ``UUID``, ...) that ``value`` denotes.

    Raises `django.core.exceptions.ValidationError` for a value that is not a valid key.
    Text keys are ASCII: ``int()`` and ``uuid.UUID()`` would also read the digits of other
    scripts (Arabic-Indic, fullwidth) as ASCII ones.
    """
    pk = model._meta.pk
    assert pk is not None  # noqa: S101
    if isinstance(value, str) and not value.isascii():
        raise ValidationError("A primary key is written in ASCII characters.")
    if isinstance(pk, models.IntegerField) and not _INTEGER.fullmatch(str(value).strip()):
        raise ValidationError(f"{value!r} is not an integer.")
    python_value = pk.to_python(value)
    if python_value is None or python_value == "":
        raise ValidationError(f"{value!r} is not a primary key value.")
    pk.run_validators(python_value)
    return python_value


def canonical_id(model: type[models.Model], value: Any) -> str:
    """The canonical text of primary-key value ``value`` (what Postgres' ``::text`` gives);
    `ValidationError` as `canonical_key`."""
    return str(canonical_key(model, value))


def member_key_of(model: type[models.Model], member: Any) -> Any:
    """The primary-key value (``int``, ``UUID``, ...) of a member instance or key; None for
    an unsaved instance. ``Membership.member_id`` holds this type, so it is the value to
    filter or bind it with.

    `InvalidMemberError` for anything else; its message names the type, not the value.
    """
    expected = f"a {model._meta.label} (SEGMENTS_MEMBER_MODEL) or its primary key"
    if isinstance(member, models.Model):
        if not isinstance(member, model):
            msg = f"The member must be {expected}; got a {member._meta.label} ({type(member).__name__})."
            raise InvalidMemberError(msg)
        if member.pk is None or member._state.adding:
            return None
        member = member.pk
        if isinstance(member, int | uuid.UUID) and not isinstance(member, bool):
            return member  # a key as the database returns it is valid already
    try:
        return canonical_key(model, member)
    except (ValidationError, ValueError, TypeError, AttributeError):
        msg = f"The member must be {expected}; got a {type(member).__name__} that is neither."
        raise InvalidMemberError(msg) from None


def member_id_of(model: type[models.Model], member: Any) -> str | None:
    """The canonical text of `member_key_of` (None for an unsaved instance)."""
    key = member_key_of(model, member)
    return None if key is None else str(key)


def parse_static_ids(text: str, model: type[models.Model]) -> tuple[list[str], list[str]]:
    """Split ``text`` on whitespace, commas and semicolons into ``(valid ids, invalid tokens)``.

    Valid ids are canonical and de-duplicated in first-seen order; parsing is strict
    (``"12abc"``, ``"1_000"`` and out-of-range integers are invalid, never truncated).
    """
    valid: dict[str, None] = {}
    invalid: list[str] = []
    for token in _SEPARATORS.split(text or ""):
        if not token:
            continue
        try:
            valid[canonical_id(model, token)] = None
        except (ValidationError, ValueError, TypeError):
            invalid.append(token)
    return list(valid), invalid
