"""A feed's sessions as an iCalendar document (RFC 5545), built with the ``icalendar`` library.

- ``UID``: ``session-<id>@<CALENDAR_UID_DOMAIN>``, the same for the session's whole life.
- ``SEQUENCE``: the session's version less one. Every change to a session (a reschedule among them) raises
  its version, so a calendar app takes the newer copy.
- ``STATUS``: ``CANCELLED`` for a cancelled session, ``CONFIRMED`` otherwise.
- ``DTSTART``/``DTEND``: in the school's time zone (``TZID``), with its ``VTIMEZONE`` built from the zone
  database for the feed's window, so the times stay right across daylight-saving changes. A completed
  session ends after the minutes it actually lasted.
- ``DTSTAMP`` and ``LAST-MODIFIED``: when the session last changed, so the same sessions make the same bytes
  (and the same ``ETag``). The document is compressed once, when it is built, not on every read.

What a feed says of a session is what its owner may read of it, and less: the subject, the teacher, the
students of a teacher's or the school's feed (a student's or guardian's feed names none but the teacher), the
location. Never a note, a rate or an amount: calendar apps copy feeds to servers of their own.
"""

from __future__ import annotations

import gzip
import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo

from django.conf import settings
from icalendar import Calendar, Event, Timezone

from chalkboard.calendars.models import CalendarFeed, FeedKind
from chalkboard.calendars.selectors import FeedSession, Window
from chalkboard.scheduling.models import SessionStatus

PRODUCT_ID = "-//Chalkboard//Calendar feeds//EN"
# Events each process remembers as written (under a kilobyte each with their key): a few dozen busy feeds.
EVENTS_REMEMBERED = 20_000
# How often a calendar app should read the feed again (RFC 7986 REFRESH-INTERVAL).
REFRESH = timedelta(hours=1)


def feed_name(feed: CalendarFeed, person: str | None) -> str:
    """``person``: the teacher's or the student's name, for their feeds."""
    school = feed.school.name
    return f"{person}: sessions at {school}" if person is not None else f"{school}: all sessions"


def _summary(feed: CalendarFeed, session: FeedSession) -> str:
    if feed.kind == FeedKind.STUDENT:
        return f"{session.subject} with {session.teacher}"
    students = ", ".join(session.students)
    if feed.kind == FeedKind.TEACHER:
        return f"{session.subject}: {students}" if students else session.subject
    return (
        f"{session.subject} with {session.teacher}: {students}"
        if students
        else f"{session.subject} with {session.teacher}"
    )


@lru_cache(maxsize=EVENTS_REMEMBERED)
def _event_lines(session: FeedSession, summary: str, zone: str, domain: str) -> bytes:
    """One session's ``VEVENT``, as icalendar writes it. Remembered by everything it is made of (the session
    as the feed reads it, its summary, the zone and the UIDs' domain), so a feed rebuilt after one session
    changed writes that one event again, not the hundreds beside it."""
    minutes = session.planned_minutes
    if session.status == SessionStatus.COMPLETED and session.actual_minutes:
        minutes = session.actual_minutes
    starts = session.starts_at.astimezone(ZoneInfo(zone))
    event = Event()
    event.add("uid", f"session-{session.id}@{domain}")
    event.add("dtstamp", session.updated_at)
    event.add("last-modified", session.updated_at)
    event.add("created", session.created_at)
    event.add("sequence", session.version - 1)
    event.add("dtstart", starts)
    event.add("dtend", starts + timedelta(minutes=minutes))
    event.add("summary", summary)
    event.add("status", "CANCELLED" if session.status == SessionStatus.CANCELLED else "CONFIRMED")
    if session.location:
        event.add("location", session.location)
    return event.to_ical()


@dataclass(frozen=True)
class FeedDocument:
    """A feed as it is sent, built once per day and version: the document compressed, and its tag. Kept
    compressed only (a busy teacher's: 160 KB, 10 KB compressed), so a cached read moves a few kilobytes
    from the cache; the rare client that does not accept gzip has it decompressed."""

    day: date
    gzipped: bytes
    etag: str

    @property
    def body(self) -> bytes:
        return gzip.decompress(self.gzipped)


def feed_document(
    feed: CalendarFeed, sessions: Sequence[FeedSession], window: Window, *, person: str | None
) -> FeedDocument:
    """The calendar: its properties and the zone's ``VTIMEZONE`` for the window (from the zone database),
    then one ``VEVENT`` per session. ``person``: whose feed it is (``feed_person``)."""
    calendar = Calendar()
    calendar.add("prodid", PRODUCT_ID)
    calendar.add("version", "2.0")
    calendar.add("calscale", "GREGORIAN")
    calendar.add("method", "PUBLISH")
    calendar.add("name", feed_name(feed, person))
    calendar.add("x-wr-calname", feed_name(feed, person))
    calendar.add("x-wr-timezone", feed.school.timezone)
    calendar.add("refresh-interval", REFRESH, parameters={"VALUE": "DURATION"})
    if sessions:
        zone = Timezone.from_tzid(feed.school.timezone, first_date=window.start.date(), last_date=window.end.date())
        calendar.add_component(zone)
    # The events are the calendar's last components: written (or remembered) one by one, placed before its end.
    head, end = calendar.to_ical().rsplit(b"END:VCALENDAR", 1)
    domain = settings.CALENDAR_UID_DOMAIN
    events = [_event_lines(session, _summary(feed, session), feed.school.timezone, domain) for session in sessions]
    body = b"".join([head, *events, b"END:VCALENDAR", end])
    # Weak: the plain and the compressed representation carry the same tag.
    etag = 'W/"' + hashlib.blake2b(body, digest_size=16).hexdigest() + '"'
    return FeedDocument(day=window.today, gzipped=gzip.compress(body, mtime=0), etag=etag)
