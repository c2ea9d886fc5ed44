"""Calendar feeds: made, read, rotated and revoked through the API; what a feed shows and to whom."""

from __future__ import annotations

import gzip
import re
from datetime import UTC, datetime, timedelta

import icalendar
import pytest
import vobject
from django.utils import timezone

from chalkboard.calendars import services
from chalkboard.calendars.models import CalendarFeed
from chalkboard.calendars.selectors import WINDOW_DAYS_AHEAD, WINDOW_DAYS_BACK
from chalkboard.common.logs import redact
from chalkboard.common.secrets_digest import secret_digest
from chalkboard.schools.models import Membership, Role
from tests import factories as f
from tests.conftest import client_for

pytestmark = pytest.mark.django_db

LIST_URL = "/api/calendar-feeds/"
URL_SHAPE = re.compile(r"^http://testserver/api/calendar/([0-9a-f]{64})\.ics$")


def make_feed(user, **body):
    response = client_for(user).post(LIST_URL, body, format="json")
    assert response.status_code == 201, response.json()
    match = URL_SHAPE.match(response.json()["url"])
    assert match, response.json()["url"]
    return response.json(), f"/api/calendar/{match[1]}.ics"


def read(path, **headers):
    """The feed as a calendar app reads it: no bearer token."""
    return client_for(None).get(path, **headers)


def events(response):
    assert response.status_code == 200, response.content[:300]
    assert response["Content-Type"] == "text/calendar; charset=utf-8"
    calendar = icalendar.Calendar.from_ical(response.content)
    return {str(event["UID"]): event for event in calendar.walk("VEVENT")}


def second(instant):
    """An instant as iCalendar writes it: to the second."""
    return instant.replace(microsecond=0)


def uid(session):
    return f"session-{session.pk}@chalkboard.invalid"


def test_a_teacher_subscribes_to_their_sessions(world):
    feed, path = make_feed(world.teacher.user, kind="teacher", school_id=world.school.pk)

    found = events(read(path))

    assert feed["kind"] == "teacher"
    assert feed["teacher_id"] == world.teacher.pk
    assert feed["student_id"] is None
    assert set(found) == {uid(world.session)}
    calendar = icalendar.Calendar.from_ical(read(path).content)
    assert str(calendar["X-WR-CALNAME"]) == f"{world.teacher.user.full_name}: sessions at {world.school.name}"
    event = found[uid(world.session)]
    subject = world.session.subject.name
    assert str(event["SUMMARY"]) == f"{subject}: {world.student.user.full_name}"
    assert event["STATUS"] == "CONFIRMED"
    assert event["SEQUENCE"] == 0
    assert event["DTSTART"].params["TZID"] == "Europe/Lisbon"
    assert event.decoded("DTSTART") == second(world.session.starts_at)
    assert event.decoded("DTEND") == second(world.session.starts_at) + timedelta(minutes=60)


def test_every_kind_shows_its_own_sessions(world):
    group = f.session_for(world.teacher, world.student, world.other_student, subject=world.session.subject)
    cases = [
        (world.teacher.user, {"kind": "teacher"}, {world.session, group}),
        (world.other_teacher.user, {"kind": "teacher"}, {world.other_session}),
        (world.student.user, {"kind": "student", "student_id": world.student.pk}, {world.session, group}),
        (world.guardian, {"kind": "student", "student_id": world.student.pk}, {world.session, group}),
        (world.other_guardian, {"kind": "student", "student_id": world.other_student.pk}, {world.other_session, group}),
        (world.admin, {"kind": "school"}, {world.session, world.other_session, group}),
        (world.owner, {"kind": "school"}, {world.session, world.other_session, group}),
    ]
    for user, body, expected in cases:
        _, path = make_feed(user, school_id=world.school.pk, **body)
        assert set(events(read(path))) == {uid(session) for session in expected}, body


def test_a_student_feed_names_the_teacher_never_the_other_students(world):
    group = f.session_for(world.teacher, world.student, world.other_student, subject=world.session.subject)
    _, path = make_feed(world.guardian, kind="student", school_id=world.school.pk, student_id=world.student.pk)

    response = read(path)

    summary = str(events(response)[uid(group)]["SUMMARY"])
    assert summary == f"{group.subject.name} with {world.teacher.user.full_name}"
    assert world.other_student.user.full_name.encode() not in response.content


@pytest.mark.parametrize("kind", ["teacher", "school"])
def test_no_feed_shows_notes_rates_or_amounts(world, kind):
    user = world.teacher.user if kind == "teacher" else world.owner
    _, path = make_feed(user, kind=kind, school_id=world.school.pk)

    body = read(path).content.decode()

    for visibility in ("shared", "staff", "admin"):
        assert f"{visibility} note" not in body
    assert "30.00" not in body
    assert "EUR" not in body
    assert "DESCRIPTION" not in body


def test_a_reschedule_raises_the_sequence_of_the_same_uid(world):
    _, path = make_feed(world.teacher.user, kind="teacher", school_id=world.school.pk)
    before = events(read(path))[uid(world.session)]
    moved = (world.session.starts_at + timedelta(days=2)).replace(microsecond=0)

    response = client_for(world.teacher.user).patch(
        f"/api/sessions/{world.session.pk}/", {"starts_at": moved.isoformat()}, format="json"
    )
    assert response.status_code == 200, response.json()
    after = events(read(path))[uid(world.session)]

    assert after["SEQUENCE"] > before["SEQUENCE"]
    assert after.decoded("DTSTART") == moved


def test_a_cancelled_session_stays_in_the_feed_as_cancelled(world):
    _, path = make_feed(world.student.user, kind="student", school_id=world.school.pk, student_id=world.student.pk)
    before = events(read(path))[uid(world.session)]

    response = client_for(world.admin).post(
        f"/api/sessions/{world.session.pk}/cancel/", {"reason": "Ill"}, format="json"
    )
    assert response.status_code == 200, response.json()
    after = events(read(path))[uid(world.session)]

    assert after["STATUS"] == "CANCELLED"
    assert after["SEQUENCE"] > before["SEQUENCE"]


def test_the_school_feed_follows_any_session_of_the_school(world):
    _, path = make_feed(world.owner, kind="school", school_id=world.school.pk)
    calendar = icalendar.Calendar.from_ical(read(path).content)
    assert str(calendar["X-WR-CALNAME"]) == f"{world.school.name}: all sessions"
    assert events(read(path))[uid(world.other_session)]["STATUS"] == "CONFIRMED"

    client_for(world.admin).post(f"/api/sessions/{world.other_session.pk}/cancel/", {}, format="json")

    assert events(read(path))[uid(world.other_session)]["STATUS"] == "CANCELLED"


def test_a_completed_session_lasts_its_actual_minutes(world):
    world.session.starts_at = timezone.now() - timedelta(hours=3)
    world.session.save()
    _, path = make_feed(world.teacher.user, kind="teacher", school_id=world.school.pk)
    response = client_for(world.teacher.user).post(
        f"/api/sessions/{world.session.pk}/complete/",
        {"attendance": [{"student_id": world.student.pk, "status": "present"}], "actual_duration_minutes": 45},
        format="json",
    )
    assert response.status_code == 200, response.json()

    event = events(read(path))[uid(world.session)]

    assert event.decoded("DTEND") - event.decoded("DTSTART") == timedelta(minutes=45)
    assert event["STATUS"] == "CONFIRMED"


def test_the_window_is_the_past_weeks_and_the_coming_months(world):
    now = timezone.now()
    inside = [
        f.session_for(world.teacher, world.student, starts_at=now - timedelta(days=WINDOW_DAYS_BACK - 1)),
        f.session_for(world.teacher, world.student, starts_at=now + timedelta(days=WINDOW_DAYS_AHEAD - 1)),
    ]
    outside = [
        f.session_for(world.teacher, world.student, starts_at=now - timedelta(days=WINDOW_DAYS_BACK + 1)),
        f.session_for(world.teacher, world.student, starts_at=now + timedelta(days=WINDOW_DAYS_AHEAD + 2)),
    ]
    _, path = make_feed(world.teacher.user, kind="teacher", school_id=world.school.pk)

    found = set(events(read(path)))

    assert {uid(session) for session in inside} <= found
    assert not {uid(session) for session in outside} & found


class TestDaylightSaving:
    """Sessions at 18:00 in Lisbon on either side of the night the clocks go forward (2027-03-28)."""

    @pytest.fixture
    def clock(self):
        import time_machine

        with time_machine.travel(datetime(2027, 3, 20, 10, 0, tzinfo=UTC), tick=True) as traveller:
            yield traveller

    def test_times_stay_at_the_local_hour_across_the_change(self, world):
        lisbon = world.school.zone
        friday = f.session_for(world.teacher, world.student, starts_at=datetime(2027, 3, 26, 18, 0, tzinfo=lisbon))
        monday = f.session_for(world.teacher, world.student, starts_at=datetime(2027, 3, 29, 18, 0, tzinfo=lisbon))
        _, path = make_feed(world.teacher.user, kind="teacher", school_id=world.school.pk)

        response = read(path)
        text = response.content.decode()

        # In the file: the local hour, with the zone's TZID, and the zone's rules for both offsets.
        assert "DTSTART;TZID=Europe/Lisbon:20270326T180000" in text
        assert "DTSTART;TZID=Europe/Lisbon:20270329T180000" in text
        assert "BEGIN:VTIMEZONE" in text
        assert "TZID:Europe/Lisbon" in text
        assert "TZOFFSETTO:+0100" in text
        assert "TZOFFSETTO:+0000" in text
        # Read by a second, independent parser from the VTIMEZONE the feed carries.
        parsed = {event.uid.value: event for event in vobject.readOne(text).vevent_list}
        assert parsed[uid(friday)].dtstart.value.astimezone(UTC) == datetime(2027, 3, 26, 18, 0, tzinfo=UTC)
        assert parsed[uid(monday)].dtstart.value.astimezone(UTC) == datetime(2027, 3, 29, 17, 0, tzinfo=UTC)
        # And by icalendar, to the same instants.
        found = events(response)
        assert found[uid(friday)].decoded("DTSTART") == friday.starts_at
        assert found[uid(monday)].decoded("DTSTART") == monday.starts_at


def test_a_second_parser_reads_every_event_alike(world):
    f.session_for(world.teacher, world.student, location='Room 2; Floor 1, "East"')
    _, path = make_feed(world.owner, kind="school", school_id=world.school.pk)

    response = read(path)

    by_icalendar = events(response)
    by_vobject = {event.uid.value: event for event in vobject.readOne(response.content.decode()).vevent_list}
    assert set(by_vobject) == set(by_icalendar)
    for key, event in by_vobject.items():
        assert event.summary.value == str(by_icalendar[key]["SUMMARY"])
        assert event.dtstart.value == by_icalendar[key].decoded("DTSTART")
        assert int(event.sequence.value) == by_icalendar[key]["SEQUENCE"]
    assert 'Room 2; Floor 1, "East"' in {
        event.location.value for event in by_vobject.values() if "location" in event.contents
    }


def test_etag_and_not_modified(world):
    _, path = make_feed(world.teacher.user, kind="teacher", school_id=world.school.pk)
    first = read(path)
    etag = first["ETag"]

    again = read(path, HTTP_IF_NONE_MATCH=etag)
    assert again.status_code == 304
    assert again.content == b""
    assert again["ETag"] == etag
    assert etag.startswith('W/"')  # weak: the compressed and the plain document carry the same tag
    assert read(path, HTTP_IF_NONE_MATCH=f'"other", {etag.removeprefix("W/")}').status_code == 304

    client_for(world.teacher.user).patch(f"/api/sessions/{world.session.pk}/", {"location": "Room 9"}, format="json")
    changed = read(path, HTTP_IF_NONE_MATCH=etag)
    assert changed.status_code == 200
    assert changed["ETag"] != etag
    assert "Room 9" in changed.content.decode()


def test_a_client_that_accepts_gzip_gets_the_document_compressed_once(world):
    _, path = make_feed(world.teacher.user, kind="teacher", school_id=world.school.pk)
    plain = read(path)

    compressed = read(path, HTTP_ACCEPT_ENCODING="gzip, deflate")

    assert compressed["Content-Encoding"] == "gzip"
    assert gzip.decompress(compressed.content) == plain.content
    assert compressed["ETag"] == plain["ETag"]
    assert "Accept-Encoding" in compressed["Vary"]


def test_any_accept_header_gets_the_calendar(world):
    _, path = make_feed(world.teacher.user, kind="teacher", school_id=world.school.pk)

    for accept in ("text/calendar", "*/*", "application/json", "text/html"):
        assert uid(world.session) in events(read(path, HTTP_ACCEPT=accept)), accept


def test_a_rotated_address_stops_and_the_new_one_reads(world):
    feed, old = make_feed(world.teacher.user, kind="teacher", school_id=world.school.pk)

    response = client_for(world.teacher.user).post(f"{LIST_URL}{feed['id']}/rotate/")

    assert response.status_code == 200, response.json()
    new = "/api/calendar/" + URL_SHAPE.match(response.json()["url"])[1] + ".ics"
    assert new != old
    assert read(old).status_code == 404
    assert uid(world.session) in events(read(new))
    assert response.json()["rotated_at"] is not None


def test_a_revoked_feed_is_gone(world):
    feed, path = make_feed(world.teacher.user, kind="teacher", school_id=world.school.pk)

    response = client_for(world.teacher.user).delete(f"{LIST_URL}{feed['id']}/")

    assert response.status_code == 204
    assert read(path).status_code == 404
    assert not CalendarFeed.objects.filter(pk=feed["id"]).exists()


def test_a_feed_closes_when_its_owner_loses_the_right_to_it(world):
    _, teacher_path = make_feed(world.teacher.user, kind="teacher", school_id=world.school.pk)
    _, ward_path = make_feed(world.guardian, kind="student", school_id=world.school.pk, student_id=world.student.pk)
    _, school_path = make_feed(world.admin, kind="school", school_id=world.school.pk)

    Membership.objects.filter(user=world.teacher.user, school=world.school).update(is_active=False)
    world.guardian.wards.all().delete()
    Membership.objects.filter(user=world.admin, school=world.school, role=Role.ADMIN).delete()
    from chalkboard.common.cache import user_scope, versions_bump

    versions_bump([user_scope(world.teacher.user.pk), user_scope(world.guardian.pk), user_scope(world.admin.pk)])

    for path in (teacher_path, ward_path, school_path):
        assert read(path).status_code == 404


@pytest.mark.parametrize("token", ["0" * 64, "A" * 64, "0" * 63, "not-a-token"])
def test_an_address_never_issued_is_not_found(world, token):
    make_feed(world.teacher.user, kind="teacher", school_id=world.school.pk)

    response = read(f"/api/calendar/{token}.ics")

    assert response.status_code == 404
    assert response.json()["code"] == "not_found"


def test_the_secret_is_stored_hashed_and_shown_once(world):
    feed, path = make_feed(world.teacher.user, kind="teacher", school_id=world.school.pk)
    token = path.removeprefix("/api/calendar/").removesuffix(".ics")

    stored = CalendarFeed.objects.get(pk=feed["id"])
    assert str(stored) == f"teacher feed {stored.pk} @ {world.school.pk}"
    listed = client_for(world.teacher.user).get(LIST_URL).json()
    detail = client_for(world.teacher.user).get(f"{LIST_URL}{feed['id']}/").json()

    assert token not in stored.token_hash
    assert len(stored.token_hash) == 64
    assert token not in str(listed)
    assert token not in str(detail)
    assert "url" not in detail
    assert listed["results"] == [detail]
    # The access log line of a read is written with the secret redacted.
    assert token not in redact(f'"GET {path} HTTP/1.1" 200')


@pytest.mark.parametrize(
    ("actor", "body", "status", "field"),
    [
        ("student", {"kind": "student"}, 400, "student_id"),
        ("teacher", {"kind": "student"}, 403, None),
        ("teacher", {"kind": "teacher", "student_id": 1}, 400, "student_id"),
        ("owner", {"kind": "teacher"}, 403, None),
        ("teacher", {"kind": "school"}, 403, None),
        ("student", {"kind": "teacher"}, 403, None),
        ("student", {"kind": "student", "student_id": "other"}, 400, "student_id"),
        ("guardian", {"kind": "student", "student_id": "other"}, 400, "student_id"),
        ("other_teacher", {"kind": "student", "student_id": "own"}, 403, None),
    ],
)
def test_what_one_may_not_subscribe_to(world, actor, body, status, field):
    ids = {"own": world.student.pk, "other": world.other_student.pk}
    if isinstance(body.get("student_id"), str):
        body = {**body, "student_id": ids[body["student_id"]]}

    response = client_for(world.user(actor)).post(LIST_URL, {"school_id": world.school.pk, **body}, format="json")

    assert response.status_code == status, response.json()
    if field:
        assert field in response.json()["fields"]
    assert not CalendarFeed.objects.exists()


def test_a_teacher_membership_without_a_teacher_record_has_no_teacher_feed(world):
    member = f.member(school=world.school, role=Role.TEACHER)

    response = client_for(member).post(LIST_URL, {"kind": "teacher", "school_id": world.school.pk}, format="json")

    assert response.status_code == 403
    assert not CalendarFeed.objects.exists()


def test_another_schools_student_or_school_is_unknown(world, other_world):
    response = client_for(world.guardian).post(
        LIST_URL, {"kind": "student", "school_id": other_world.school.pk, "student_id": world.student.pk}, format="json"
    )
    assert response.status_code == 400
    assert "school_id" in response.json()["fields"]
    linked_elsewhere = f.student_in(other_world.school)
    f.guardian_of(linked_elsewhere, user=world.guardian)
    response = client_for(world.guardian).post(
        LIST_URL, {"kind": "student", "school_id": world.school.pk, "student_id": linked_elsewhere.pk}, format="json"
    )
    assert response.status_code == 400
    assert "student_id" in response.json()["fields"]
    assert not CalendarFeed.objects.exists()


def test_each_person_has_a_bounded_number_of_feeds(world):
    for _ in range(services.MAX_FEEDS_PER_PERSON):
        make_feed(world.teacher.user, kind="teacher", school_id=world.school.pk)

    response = client_for(world.teacher.user).post(
        LIST_URL, {"kind": "teacher", "school_id": world.school.pk}, format="json"
    )

    assert response.status_code == 400
    assert response.json()["code"] == "too_many_feeds"
    assert CalendarFeed.objects.count() == services.MAX_FEEDS_PER_PERSON


def test_nobody_reaches_another_persons_feed(world):
    feed, path = make_feed(world.teacher.user, kind="teacher", school_id=world.school.pk)
    owner = client_for(world.owner)

    assert owner.get(LIST_URL).json()["results"] == []
    assert owner.get(f"{LIST_URL}{feed['id']}/").status_code == 404
    assert owner.post(f"{LIST_URL}{feed['id']}/rotate/").status_code == 404
    assert owner.delete(f"{LIST_URL}{feed['id']}/").status_code == 404
    assert read(path).status_code == 200


def test_services_refuse_a_feed_of_someone_else(world):
    from chalkboard.schools.access import Viewer

    feed, token = services.feed_create(
        viewer=Viewer.for_user(world.teacher.user), kind="teacher", school_id=world.school.pk
    )
    stranger = Viewer.for_user(world.owner)

    with pytest.raises(services.Forbidden):
        services.feed_rotate(viewer=stranger, feed=feed)
    with pytest.raises(services.Forbidden):
        services.feed_revoke(viewer=stranger, feed=feed)
    assert CalendarFeed.objects.get(pk=feed.pk).token_hash == secret_digest(token)


def test_a_session_without_students_or_location(world):
    lone = f.session_for(world.teacher, school=world.school, subject=world.session.subject)
    _, teacher_path = make_feed(world.teacher.user, kind="teacher", school_id=world.school.pk)
    _, school_path = make_feed(world.owner, kind="school", school_id=world.school.pk)

    assert str(events(read(teacher_path))[uid(lone)]["SUMMARY"]) == lone.subject.name
    teacher = world.teacher.user.full_name
    assert str(events(read(school_path))[uid(lone)]["SUMMARY"]) == f"{lone.subject.name} with {teacher}"
    assert "LOCATION" not in events(read(school_path))[uid(lone)]


def test_a_feed_reads_in_a_fixed_number_of_queries(world):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from chalkboard.common.cache import teacher_scope, versions_bump

    _, path = make_feed(world.teacher.user, kind="teacher", school_id=world.school.pk)
    counts = []
    for extra in (2, 28):
        for _ in range(extra):
            f.session_for(world.teacher, world.student, world.other_student, subject=world.session.subject)
        versions_bump([teacher_scope(world.teacher.pk, world.school.pk)])
        read(path)  # the owner's roles are cached from here on, as between a calendar app's reads
        versions_bump([teacher_scope(world.teacher.pk, world.school.pk)])
        with CaptureQueriesContext(connection) as queries:
            assert len(events(read(path))) == 1 + len(counts) * 2 + extra
        counts.append(len(queries))
        with CaptureQueriesContext(connection) as cached:
            assert read(path).status_code == 200
        assert len(cached) == 1  # the feed by its secret
    # The feed by its secret, then its sessions, their students and whose feed it is: the same for 3 sessions
    # and for 31.
    assert counts == [4, 4]


def test_a_feed_with_no_sessions_in_its_window_is_an_empty_calendar(world):
    student = f.student_in(world.school)
    _, path = make_feed(student.user, kind="student", school_id=world.school.pk, student_id=student.pk)

    response = read(path)

    assert events(response) == {}
    calendar = icalendar.Calendar.from_ical(response.content)
    assert str(calendar["X-WR-TIMEZONE"]) == "Europe/Lisbon"
    assert str(calendar["X-WR-CALNAME"]) == f"{student.user.full_name}: sessions at {world.school.name}"
    assert not calendar.walk("VTIMEZONE")
    assert vobject.readOne(response.content.decode()).name == "VCALENDAR"
