"""A feed's sessions as an iCalendar document (RFC 5545), built with the ``icalendar`` library.

- ``UID``: ``session-<id>@<CALENDAR_UID_DOMAIN>``, the same for the session's whole life.
- ``SEQUENCE``: the session's version less one. Every change to a session (a reschedule among them) raises
  its version, so a calendar app takes the newer copy.
- ``STATUS``: ``CANCELLED`` for a cancelled session, ``CONFIRMED`` otherwise.
- ``DTSTART``/``DTEND``: in the school's time zone (``TZID``), with its ``VTIMEZONE`` built from the zone
  database for the feed's window, so the times stay right across daylight-saving changes. A completed
  session ends after the minutes it actually lasted.
- ``DTSTAMP`` and ``LAST-MODIFIED``: when the session last changed, so the same sessions make the same bytes
  (and the same ``ETag``).

What a feed says of a session is what its owner may read of it, and less: the subject, the teacher, the
students of a teacher's or the school's feed (a student's or guardian's feed names none but the teacher), the
location. Never a note, a rate or an amount: calendar apps copy feeds to servers of their own.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import timedelta

from django.conf import settings
from icalendar import Calendar, Event

from chalkboard.calendars.models import CalendarFeed, FeedKind
from chalkboard.calendars.selectors import Window
from chalkboard.scheduling.models import Session, SessionStatus
from chalkboard.scheduling.selectors import BOOKED

PRODUCT_ID = "-//Chalkboard//Calendar feeds//EN"
# How often a calendar app should read the feed again (RFC 7986 REFRESH-INTERVAL).
REFRESH = timedelta(hours=1)


def feed_name(feed: CalendarFeed) -> str:
    school = feed.school.name
    if feed.teacher is not None:
        return f"{feed.teacher.user.full_name}: sessions at {school}"
    if feed.student is not None:
        return f"{feed.student.user.full_name}: sessions at {school}"
    return f"{school}: all sessions"


def _summary(feed: CalendarFeed, session: Session) -> str:
    subject, teacher = session.subject.name, session.teacher.user.full_name
    if feed.kind == FeedKind.STUDENT:
        return f"{subject} with {teacher}"
    students = ", ".join(seat.student.user.full_name for seat in getattr(session, BOOKED))
    if feed.kind == FeedKind.TEACHER:
        return f"{subject}: {students}" if students else subject
    return f"{subject} with {teacher}: {students}" if students else f"{subject} with {teacher}"


def _event(feed: CalendarFeed, session: Session) -> Event:
    zone = feed.school.zone
    minutes = session.actual_duration_minutes if session.status == SessionStatus.COMPLETED else None
    starts = session.starts_at.astimezone(zone)
    event = Event()
    event.add("uid", f"session-{session.pk}@{settings.CALENDAR_UID_DOMAIN}")
    event.add("dtstamp", session.updated_at)
    event.add("last-modified", session.updated_at)
    event.add("created", session.created_at)
    event.add("sequence", session.version - 1)
    event.add("dtstart", starts)
    event.add("dtend", starts + timedelta(minutes=minutes or session.planned_duration_minutes))
    event.add("summary", _summary(feed, session))
    event.add("status", "CANCELLED" if session.status == SessionStatus.CANCELLED else "CONFIRMED")
    if session.location:
        event.add("location", session.location)
    return event


def feed_ics(feed: CalendarFeed, sessions: Iterable[Session], window: Window) -> bytes:
    calendar = Calendar()
    calendar.add("prodid", PRODUCT_ID)
    calendar.add("version", "2.0")
    calendar.add("calscale", "GREGORIAN")
    calendar.add("method", "PUBLISH")
    calendar.add("name", feed_name(feed))
    calendar.add("x-wr-calname", feed_name(feed))
    calendar.add("x-wr-timezone", feed.school.timezone)
    calendar.add("refresh-interval", REFRESH, parameters={"VALUE": "DURATION"})
    for session in sessions:
        calendar.add_component(_event(feed, session))
    calendar.add_missing_timezones(first_date=window.start.date(), last_date=window.end.date())
    return calendar.to_ical()
