"""Retention: a session expires ``retention`` after its last write, its archive with it.

Every write of a session sets its ``expire_at`` (a BSON date) to the time of the write plus
``retention``; a TTL index (``expireAfterSeconds: 0``) lets MongoDB remove it then. Its
archive buckets carry an ``expire_at`` too: the session document records the buckets'
(``archive_expire_at``, the *horizon*), which is always at least the session's own. A
write that would move the session's ``expire_at`` past the horizon moves the horizon to
the write's time plus twice ``retention`` (one ``update_many`` of the buckets, at most once
per ``retention`` of traffic); new buckets get the horizon. So buckets never expire before
their session, and at most ``retention`` after it.

The TTL monitor runs about once a minute, so an expired session may still be stored for a
while: every read and write treats a document whose ``expire_at`` has passed as gone.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from ._values import to_bson_datetime
from .errors import InvalidArgumentError
from .models import utc_now

if TYPE_CHECKING:
    from .snapshot import EncodedSnapshot


MAX_RETENTION = timedelta(days=365_000)
"""The longest retention: a write's time plus twice it (the archive's horizon) must be a
date Python and BSON hold (before the year 10000), for writes centuries from now too."""


@dataclass(frozen=True)
class Retention:
    """How long sessions are kept after their last write."""

    period: timedelta

    @classmethod
    def of(cls, retention: timedelta | None) -> Retention | None:
        if retention is None:
            return None
        if not isinstance(retention, timedelta) or retention <= timedelta(0):
            raise InvalidArgumentError(f"retention must be a positive timedelta, got {retention!r}")
        if retention > MAX_RETENTION:
            raise InvalidArgumentError(
                f"retention must be at most {MAX_RETENTION.days} days (about 1000 years), got "
                f"{retention!r}; None keeps sessions forever"
            )
        return cls(retention)

    def stamp(self, now: datetime, horizon: datetime | None) -> dict[str, Any]:
        """The fields a write at ``now`` sets (BSON dates): ``expire_at``, and a new
        ``archive_expire_at`` when the current ``horizon`` (``None``: none) is passed."""
        expire_at = to_bson_datetime(now + self.period)
        fields: dict[str, Any] = {"expire_at": expire_at}
        if horizon is None or to_bson_datetime(horizon) < expire_at:
            fields["archive_expire_at"] = to_bson_datetime(now + 2 * self.period)
        return fields


def current_time() -> datetime:
    """The time writes and expiry checks use."""
    return utc_now()


def alive(at: datetime) -> dict[str, Any]:
    """The query condition of a session (or bucket) not expired at ``at``."""
    return {"expire_at": {"$not": {"$lte": to_bson_datetime(at)}}}


def expired(document: Mapping[str, Any], at: datetime) -> bool:
    """Whether a stored document has expired at ``at`` (the in-memory backend)."""
    expire_at = document.get("expire_at")
    return expire_at is not None and expire_at <= to_bson_datetime(at)


def stamp_import(retention: Retention, items: Sequence[EncodedSnapshot], at: datetime) -> None:
    """Give imported sessions and their buckets their expiry (an import is a write)."""
    for item in items:
        fields = retention.stamp(at, None)
        item.document.update(fields)
        item.buckets.fields["expire_at"] = fields["archive_expire_at"]
