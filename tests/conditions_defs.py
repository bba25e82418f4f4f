"""Condition classes used by the conditions tests; most compile to SQL on ``auth.User``."""

from __future__ import annotations

import datetime
from typing import Any

from django.db.models import F, Q, Value
from django.db.models.functions import Length, Mod
from django.db.models.lookups import Exact

from django_segments.conditions import CompareCondition, Condition, DateCompareCondition


class EmailDomain(Condition):
    """The e-mail address ends with @KEY (case-insensitive)."""

    condstr = "EMAIL_DOMAIN"
    key_required = True
    key_examples = ("gmail.com", "example.org")
    group = "Account"

    def eval_bool(self, obj: Any, **context: Any) -> bool:
        return obj.email.lower().endswith("@" + str(self.key).lower())

    def as_q(self, **context: Any) -> Q:
        return Q(email__iendswith="@" + str(self.key))


class IsStaff(Condition):
    """The user may log into the admin."""

    condstr = "IS_STAFF"
    group = "Account"

    def eval_bool(self, obj: Any, **context: Any) -> bool:
        return bool(obj.is_staff)

    def as_q(self, **context: Any) -> Q:
        return Q(is_staff=True)


class IdParity(Condition):
    """The primary key is even or odd."""

    condstr = "ID_PARITY"
    key_required = True
    keys_allowed = ("even", "odd")
    group = "Account"

    def eval_bool(self, obj: Any, **context: Any) -> bool:
        return obj.pk % 2 == (0 if self.key == "even" else 1)

    def as_q(self, **context: Any) -> Q:
        remainder = 0 if self.key == "even" else 1
        return Q(Exact(Mod(F("id"), Value(2)), remainder))


class UsernameLength(CompareCondition):
    """Number of characters of the username."""

    condstr = "USERNAME_LENGTH"
    group = "Account"

    def eval_operand(self, obj: Any, **context: Any) -> Any:
        return len(obj.username)

    def sql_operand(self, **context: Any) -> Any:
        return Length("username")


class JoinedYear(CompareCondition):
    """Calendar year (UTC) in which the user joined."""

    condstr = "JOINED_YEAR"
    operand_examples = ("2019", "2024")
    group = "Dates"

    @classmethod
    def cast_operand(cls, text: str) -> Any:
        return int(text)

    def eval_operand(self, obj: Any, **context: Any) -> Any:
        return obj.date_joined.year

    def sql_operand(self, **context: Any) -> Any:
        return "date_joined__year"


class JoinedOn(DateCompareCondition):
    """Date (UTC) the user joined, compared with before / after / on an ISO date."""

    condstr = "JOINED_ON"
    operand_examples = ("2020-01-01", "2024-06-30")
    group = "Dates"

    def eval_operand(self, obj: Any, **context: Any) -> Any:
        return obj.date_joined.astimezone(datetime.UTC).date()

    def sql_operand(self, **context: Any) -> Any:
        return "date_joined__date"


class Score(CompareCondition):
    """A score passed by the caller: ``scores={user_id: {subject: value}}``; KEY is the subject."""

    condstr = "SCORE"
    key_optional = True
    key_examples = ("math", "art")
    group = "Context"

    def eval_operand(self, obj: Any, **context: Any) -> Any:
        return context["scores"][obj.pk][self.key or "total"]


class InCohort(Condition):
    """The user is in the cohort passed by the caller as ``cohort=[ids]``."""

    condstr = "IN_COHORT"
    group = "Context"

    def eval_bool(self, obj: Any, **context: Any) -> bool:
        return obj.pk in context["cohort"]

    def as_q(self, **context: Any) -> Q:
        return Q(pk__in=list(context["cohort"]))


class Palindrome(Condition):
    """The username reads the same backwards (Python only)."""

    condstr = "PALINDROME"

    def eval_bool(self, obj: Any, **context: Any) -> bool:
        return obj.username == obj.username[::-1]


class Boom(Condition):
    """Always raises: used to test that failures are logged and fail closed."""

    condstr = "BOOM"

    def eval_bool(self, obj: Any, **context: Any) -> bool:
        raise RuntimeError("boom")

    def as_q(self, **context: Any) -> Q:
        return Q(pk__in=[])


class AbstractBase(Condition):
    """Has no condstr, so it is never registered."""


class Level(CompareCondition):
    """A number attribute ``level`` of the object (plain Python objects)."""

    condstr = "LEVEL"
    key_optional = True

    def eval_operand(self, obj: Any, **context: Any) -> Any:
        return obj.level if self.key is None else obj.levels[self.key]


# --- conditions over nullable columns and a related row that may be missing -------------


def aware_datetime(text: str) -> datetime.datetime:
    """An ISO datetime with its offset, e.g. ``2024-01-01T00:00+02:00``; naive is refused."""
    value = datetime.datetime.fromisoformat(text)
    if value.tzinfo is None:
        raise ValueError("give a UTC offset, e.g. 2024-01-01T00:00+00:00")
    return value


class ProfileScore(CompareCondition):
    """The profile's score (a Decimal column; unknown without a profile or a score)."""

    condstr = "PSCORE"
    group = "Profile"

    def eval_operand(self, obj: Any, **context: Any) -> Any:
        return obj.condition_profile.score  # no profile: ObjectDoesNotExist, unknown

    def sql_operand(self, **context: Any) -> Any:
        return "condition_profile__score"


class ProfileRatio(CompareCondition):
    """The profile's ratio (a float column)."""

    condstr = "PRATIO"
    group = "Profile"

    def eval_operand(self, obj: Any, **context: Any) -> Any:
        return obj.condition_profile.ratio

    def sql_operand(self, **context: Any) -> Any:
        return "condition_profile__ratio"


class NickIs(Condition):
    """The profile's nickname is KEY (unknown without a profile or a nickname)."""

    condstr = "NICK_IS"
    key_required = True
    key_examples = ("bob", "ann")
    group = "Profile"

    def eval_bool(self, obj: Any, **context: Any) -> bool | None:
        nick = obj.condition_profile.nick
        return None if nick is None else nick == self.key

    def as_q(self, **context: Any) -> Q:
        return Q(condition_profile__nick=self.key)


class ProfileSeen(CompareCondition):
    """When the profile was last seen, compared with an ISO datetime with offset."""

    condstr = "PSEEN"
    operand_examples = ("2024-01-01T00:00+00:00",)
    group = "Profile"

    @classmethod
    def cast_operand(cls, text: str) -> Any:
        return aware_datetime(text)

    @classmethod
    def format_operand(cls, value: Any) -> str:
        return value.isoformat()

    def eval_operand(self, obj: Any, **context: Any) -> Any:
        return obj.condition_profile.seen_at

    def sql_operand(self, **context: Any) -> Any:
        return "condition_profile__seen_at"


class LastLogin(ProfileSeen):
    """When the user last logged in (NULL if never), compared with an ISO datetime."""

    condstr = "LAST_LOGIN"
    group = "Account"

    def eval_operand(self, obj: Any, **context: Any) -> Any:
        return obj.last_login

    def sql_operand(self, **context: Any) -> Any:
        return "last_login"
