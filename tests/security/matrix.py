"""The permission matrix: every endpoint and method of the API and every WebSocket route, and what each actor
gets from them.

One row per (path, method). Its cells give the status each actor gets for "the object" of the row (see
``scene.py``), in the columns of ``scene.ACTORS``:

    own  adm  tch  otT  stu  otS  grd  otG  fOwn fAdm fTch rev  anon

owner, admin, the object's teacher, another teacher of the school, the object's student, another student,
the student's guardian, another student's guardian, the owner, admin and teacher of another school, the
owner with a revoked token, and no token at all. The contract (``API.md``): no valid token 401; an object
one may see but not act on 403; an object one may not see, in any school, 404, exactly as for an id that
does not exist. Ids named in a body rather than the path follow each endpoint's documented rule (a school
one does not belong to is "unknown": 400 on the field, or 404 where the endpoint says so).

List rows also say which ids each actor must find in the list: exactly those, no more (``visible``).

The dashboard socket is in the matrix too: ``SOCKET_ROWS`` has one row per WebSocket route, in the same
columns, saying what opening it does for each actor (open, or the close code the server ends it with: 4401
without a valid credential, 4403 for a user with no owner, admin or teacher role) and, for each change
(``SOCKET_CHANGES``: the object's session completed, amended, booked or cancelled, its student assessed, its
teacher's pay approved; another teacher's session cancelled; another school's session completed), exactly
which events each actor then receives.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from django.db.models import Q
from django.utils import timezone

from chalkboard.completion import services as completion
from chalkboard.earnings.models import EarningEntry, Payout
from chalkboard.invitations.models import Invitation
from chalkboard.people.models import GuardianLink, Student, TeachingAssignment
from chalkboard.progress.models import ProgressAssessment, ProgressGoal
from chalkboard.scheduling.models import Session
from chalkboard.schools.access import Viewer
from chalkboard.schools.models import Membership, Role, Subject
from tests.factories import PASSWORD
from tests.security.scene import ACTORS, NOTE_TEXTS, Filled, Scene

Ids = dict[str, Any]
Body = Callable[[Ids, str | None], Any]

# Not in the matrix: public by design, and they show no school's data.
EXCLUDED_ROUTES = {
    "api/schema/": "The OpenAPI schema: public documentation, the same for everyone, no data.",
    "api/docs/": "The interactive documentation page: public, static, no data.",
}

STAFF_ROLES = ("owner", "admin")
TEACHER_ROLES = ("teacher", "other_teacher")
FAMILY_PUPIL = {
    "student": "student",
    "other_student": "other_student",
    "guardian": "student",
    "other_guardian": "other_student",
}


@dataclass(frozen=True)
class Row:
    endpoint: str  # "METHOD path", the path a template over the scene's ids: "GET /api/sessions/{session}/"
    cells: str  # the status of each actor, in the order of ``scene.ACTORS``
    body: Body | None = None
    # For lists: the ids the actor's persona may see (see ``scene.PERSONA``), and how to read them off the body.
    visible: Callable[[Filled, str], set[int]] | None = None
    listed: Callable[[Any], list[int]] = field(default=lambda body: [item["id"] for item in body["results"]])
    counted: bool = True  # a paginated list: its ``count`` must match, and one page holds it all
    # The path's secret is the credential (a calendar feed's address): whoever holds it reads, from any school,
    # so an actor's answer is not compared with a made-up id's (an address never issued: tests/calendars).
    capability: bool = False

    @property
    def method(self) -> str:
        return self.endpoint.split()[0]

    @property
    def path(self) -> str:
        path = self.endpoint.split()[1]
        return f"{path}?page_size=100" if self.visible is not None and self.counted else path

    @property
    def expect(self) -> dict[str, int]:
        codes = [int(code) for code in self.cells.split()]
        assert len(codes) == len(ACTORS), self.endpoint
        return dict(zip(ACTORS, codes, strict=True))

    @property
    def name(self) -> str:
        return self.endpoint


# --- Who may see what, from the data itself (never through the selectors under test). ---------------------


def _pupil(filled: Filled, role: str) -> Student:
    return getattr(filled.world, FAMILY_PUPIL[role])


def _teacher_id(filled: Filled, role: str) -> int:
    return getattr(filled.world, role).pk


def _taught(filled: Filled, role: str) -> set[int]:
    """The students the staff assigned to ``role`` (a teacher) in the school."""
    return set(
        TeachingAssignment.objects.filter(school=filled.world.school, teacher_id=_teacher_id(filled, role)).values_list(
            "student_id", flat=True
        )
    )


def visible_schools(filled: Filled, role: str) -> set[int]:
    return {filled.world.school.pk}


def visible_subjects(filled: Filled, role: str) -> set[int]:
    return set(Subject.objects.filter(school=filled.world.school).values_list("pk", flat=True))


def visible_members(filled: Filled, role: str) -> set[int]:
    return set(Membership.objects.filter(school=filled.world.school).values_list("pk", flat=True))


def visible_teachers(filled: Filled, role: str) -> set[int]:
    if role in STAFF_ROLES:
        return set(
            Membership.objects.filter(school=filled.world.school, role=Role.TEACHER, is_active=True).values_list(
                "user_id", flat=True
            )
        )
    if role in TEACHER_ROLES:
        return {_teacher_id(filled, role)}
    return set()


def visible_students(filled: Filled, role: str) -> set[int]:
    if role in STAFF_ROLES:
        return set(Student.objects.filter(school=filled.world.school).values_list("pk", flat=True))
    if role in TEACHER_ROLES:
        return _taught(filled, role)
    return {_pupil(filled, role).pk}


def visible_guardians(filled: Filled, role: str) -> set[int]:
    links = GuardianLink.objects.filter(student__school=filled.world.school)
    if role in STAFF_ROLES:
        pass
    elif role in TEACHER_ROLES:
        links = links.filter(student_id__in=_taught(filled, role))
    elif role in ("guardian", "other_guardian"):
        links = links.filter(guardian=filled.world.user(role))
    else:
        return set()  # a student sees no guardian, not even their own
    return set(links.values_list("guardian_id", flat=True))


def visible_sessions(filled: Filled, role: str) -> set[int]:
    sessions = Session.objects.filter(school=filled.world.school)
    if role in TEACHER_ROLES:
        sessions = sessions.filter(teacher_id=_teacher_id(filled, role))
    elif role not in STAFF_ROLES:
        sessions = sessions.filter(attendees__student=_pupil(filled, role))
    return set(sessions.values_list("pk", flat=True))


def visible_assessments(filled: Filled, role: str) -> set[int]:
    assessments = ProgressAssessment.objects.filter(school=filled.world.school)
    if role in TEACHER_ROLES:
        assessments = assessments.filter(
            Q(teacher_id=_teacher_id(filled, role)) | Q(student_id__in=_taught(filled, role))
        )
    elif role not in STAFF_ROLES:
        assessments = assessments.filter(student=_pupil(filled, role))
    return set(assessments.values_list("pk", flat=True))


def _ledger(model: type[EarningEntry] | type[Payout], filled: Filled, role: str) -> set[int]:
    rows = model.objects.filter(school=filled.world.school)
    if role in TEACHER_ROLES:
        rows = rows.filter(teacher_id=_teacher_id(filled, role))
    elif role not in STAFF_ROLES:
        return set()
    return set(rows.values_list("pk", flat=True))


def visible_entries(filled: Filled, role: str) -> set[int]:
    return _ledger(EarningEntry, filled, role)


def visible_payouts(filled: Filled, role: str) -> set[int]:
    return _ledger(Payout, filled, role)


def visible_feeds(filled: Filled, role: str) -> set[int]:
    return {filled.feed.pk} if role == "owner" else set()


def visible_webhook_endpoints(filled: Filled, role: str) -> set[int]:
    return {filled.webhook_endpoint.pk} if role in STAFF_ROLES else set()


def visible_invitations(filled: Filled, role: str) -> set[int]:
    return set(Invitation.objects.filter(school=filled.world.school).values_list("pk", flat=True))


def visible_assignments(filled: Filled, role: str) -> set[int]:
    assignments = TeachingAssignment.objects.filter(school=filled.world.school)
    if role in TEACHER_ROLES:
        assignments = assignments.filter(teacher_id=_teacher_id(filled, role))
    elif role not in STAFF_ROLES:
        return set()
    return set(assignments.values_list("pk", flat=True))


def visible_goals(filled: Filled, role: str) -> set[int]:
    return set(ProgressGoal.objects.filter(student=filled.world.student).values_list("pk", flat=True))


# --- Bodies. --------------------------------------------------------------------------------------------------


def _soon() -> str:
    return (timezone.now() + timedelta(days=2)).isoformat()


def body(fn: Callable[[Ids], Any]) -> Body:
    return lambda ids, email: fn(ids)


# fmt: off
#                                                              own adm tch otT stu otS grd otG fOw fAd fTc rev ano
ROWS: list[Row] = [
    # Accounts.
    Row("POST /api/auth/token/",                              "200 200 200 200 200 200 200 200 200 200 200 200 400",
        body=lambda ids, email: {"email": email or "nobody@example.test", "password": PASSWORD}),
    Row("POST /api/auth/logout/",                             "204 204 204 204 204 204 204 204 204 204 204 401 401"),
    Row("GET /api/auth/token/info/",                          "200 200 200 200 200 200 200 200 200 200 200 401 401"),
    # Any signed-in user may ask for a socket ticket; the socket itself then decides who hears what.
    Row("POST /api/auth/ws-ticket/",                          "200 200 200 200 200 200 200 200 200 200 200 401 401"),
    Row("GET /api/me/",                                       "200 200 200 200 200 200 200 200 200 200 200 401 401",
        visible=visible_schools, listed=lambda b: [m["school_id"] for m in b["memberships"]], counted=False),
    # Schools, members, subjects, skills.
    Row("GET /api/schools/",                                  "200 200 200 200 200 200 200 200 200 200 200 401 401",
        visible=visible_schools),
    Row("POST /api/schools/",                                 "201 201 201 201 201 201 201 201 201 201 201 401 401",
        body=body(lambda ids: {"name": "Porto Tutors", "timezone": "Europe/Lisbon"})),
    Row("GET /api/schools/{school}/",                         "200 200 200 200 200 200 200 200 404 404 404 401 401"),
    Row("PATCH /api/schools/{school}/",                       "200 200 403 403 403 403 403 403 404 404 404 401 401",
        body=body(lambda ids: {"name": "Renamed"})),
    # The school has history, so its owner is refused by state (409), everyone else by role first.
    Row("DELETE /api/schools/{school}/",                      "409 403 403 403 403 403 403 403 404 404 404 401 401"),
    Row("GET /api/schools/{school}/members/",                 "200 200 403 403 403 403 403 403 404 404 404 401 401",
        visible=visible_members),
    Row("POST /api/schools/{school}/members/",                "201 201 403 403 403 403 403 403 404 404 404 401 401",
        body=body(lambda ids: {"email": "new.member@example.test", "full_name": "New Member", "role": "teacher"})),
    Row("GET /api/schools/{school}/members/{membership}/",    "200 200 403 403 403 403 403 403 404 404 404 401 401"),
    # Invitations: the school's, for its staff; one's own (none of the actors is invited); the mailed token.
    Row("GET /api/schools/{school}/invitations/",             "200 200 403 403 403 403 403 403 404 404 404 401 401",
        visible=visible_invitations),
    Row("GET /api/schools/{school}/invitations/{invitation}/", "200 200 403 403 403 403 403 403 404 404 404 401 401"),
    Row("DELETE /api/schools/{school}/invitations/{invitation}/",
        "204 204 403 403 403 403 403 403 404 404 404 401 401"),
    Row("GET /api/invitations/",                              "200 200 200 200 200 200 200 200 200 200 200 401 401"),
    # Addressed to none of them: not theirs to accept, as for an invitation that does not exist.
    Row("POST /api/invitations/{invitation}/accept/",         "404 404 404 404 404 404 404 404 404 404 404 401 401"),
    # Public, like logging in: a token that is not one is bad input, whoever sends it.
    Row("POST /api/invitations/accept/",                      "400 400 400 400 400 400 400 400 400 400 400 400 400",
        body=body(lambda ids: {"token": "not-a-token", "password": "a long enough secret 1234"})),
    Row("DELETE /api/schools/{school}/members/{membership}/", "204 204 403 403 403 403 403 403 404 404 404 401 401"),
    Row("GET /api/subjects/",                                 "200 200 200 200 200 200 200 200 200 200 200 401 401",
        visible=visible_subjects),
    Row("POST /api/subjects/",                                "201 201 403 403 403 403 403 403 400 400 400 401 401",
        body=body(lambda ids: {"school_id": ids["school"], "name": "Astronomy"})),
    Row("GET /api/subjects/{subject}/",                       "200 200 200 200 200 200 200 200 404 404 404 401 401"),
    Row("PATCH /api/subjects/{subject}/",                     "200 200 403 403 403 403 403 403 404 404 404 401 401",
        body=body(lambda ids: {"name": "Renamed"})),
    Row("DELETE /api/subjects/{spare_subject}/",              "204 204 403 403 403 403 403 403 404 404 404 401 401"),
    Row("POST /api/subjects/{subject}/skills/",               "201 201 403 403 403 403 403 403 404 404 404 401 401",
        body=body(lambda ids: {"name": "Orbits"})),
    # People.
    Row("GET /api/teachers/",                                 "200 200 200 200 200 200 200 200 200 200 200 401 401",
        visible=visible_teachers),
    Row("POST /api/teachers/",                                "201 201 403 403 403 403 403 403 400 400 400 401 401",
        body=body(lambda ids: {"school_id": ids["school"], "email": "new.teacher@example.test",
                               "full_name": "New Teacher", "default_hourly_rate": "40.00"})),
    Row("GET /api/teachers/{teacher}/",                       "200 200 200 404 404 404 404 404 404 404 404 401 401"),
    Row("PATCH /api/teachers/{teacher}/",                     "200 200 403 404 404 404 404 404 404 404 404 401 401",
        body=body(lambda ids: {"school_id": ids["school"], "default_hourly_rate": "45.00"})),
    Row("DELETE /api/teachers/{teacher}/?school={school}",    "204 204 403 404 404 404 404 404 404 404 404 401 401"),
    Row("GET /api/students/",                                 "200 200 200 200 200 200 200 200 200 200 200 401 401",
        visible=visible_students),
    Row("POST /api/students/",                                "201 201 403 403 403 403 403 403 400 400 400 401 401",
        body=body(lambda ids: {"school_id": ids["school"], "email": "new.student@example.test",
                               "full_name": "New Student"})),
    Row("GET /api/students/{student}/",                       "200 200 200 404 200 404 200 404 404 404 404 401 401"),
    Row("PATCH /api/students/{student}/",                     "200 200 403 404 403 404 403 404 404 404 404 401 401",
        body=body(lambda ids: {"grade": "9"})),
    Row("DELETE /api/students/{student}/",                    "204 204 403 404 403 404 403 404 404 404 404 401 401"),
    Row("GET /api/guardians/",                                "200 200 200 200 200 200 200 200 200 200 200 401 401",
        visible=visible_guardians),
    Row("POST /api/guardians/",                               "201 201 403 403 403 403 403 403 400 400 400 401 401",
        body=body(lambda ids: {"school_id": ids["school"], "email": "new.guardian@example.test",
                               "full_name": "New Guardian", "student_ids": [ids["student"]]})),
    Row("GET /api/guardians/{guardian}/",                     "200 200 200 404 404 404 200 404 404 404 404 401 401"),
    Row("PATCH /api/guardians/{guardian}/",                   "200 200 403 404 404 404 403 404 404 404 404 401 401",
        body=body(lambda ids: {"school_id": ids["school"], "student_ids": [ids["student"]]})),
    Row("DELETE /api/guardians/{guardian}/?school={school}",  "204 204 403 404 404 404 403 404 404 404 404 401 401"),
    # Teaching assignments (the object: the teacher's assignment to the student). A student one may not see
    # is an unknown ``student_id`` (400); one seen without the right to assign, 403.
    Row("GET /api/assignments/",                              "200 200 200 200 200 200 200 200 200 200 200 401 401",
        visible=visible_assignments),
    Row("POST /api/assignments/",                             "201 201 403 400 403 400 403 400 400 400 400 401 401",
        body=body(lambda ids: {"teacher_id": ids["other_teacher"], "student_id": ids["student"]})),
    Row("GET /api/assignments/{assignment}/",                 "200 200 200 404 404 404 404 404 404 404 404 401 401"),
    Row("DELETE /api/assignments/{assignment}/",              "204 204 403 404 404 404 404 404 404 404 404 401 401"),
    # Sessions.
    Row("GET /api/sessions/",                                 "200 200 200 200 200 200 200 200 200 200 200 401 401",
        visible=visible_sessions),
    Row("POST /api/sessions/",                                "201 201 201 403 403 403 403 403 404 404 404 401 401",
        body=body(lambda ids: {"school_id": ids["school"], "teacher_id": ids["teacher"], "subject_id": ids["subject"],
                               "student_ids": [ids["student"]], "starts_at": _soon(),
                               "planned_duration_minutes": 60})),
    Row("GET /api/sessions/{session}/",                       "200 200 200 404 200 404 200 404 404 404 404 401 401"),
    Row("PATCH /api/sessions/{session}/",                     "200 200 200 404 403 404 403 404 404 404 404 401 401",
        body=body(lambda ids: {"location": "Room 9"})),
    Row("POST /api/sessions/{session}/cancel/",               "200 200 200 404 403 404 403 404 404 404 404 401 401",
        body=body(lambda ids: {"reason": "Ill"})),
    Row("POST /api/sessions/{started}/complete/",             "200 200 200 404 403 404 403 404 404 404 404 401 401",
        body=body(lambda ids: {"attendance": [{"student_id": ids["student"], "status": "present"}],
                               "actual_duration_minutes": 50})),
    Row("PUT /api/sessions/{completed}/complete/",            "200 200 200 404 403 404 403 404 404 404 404 401 401",
        body=body(lambda ids: {"actual_duration_minutes": 40})),
    Row("POST /api/sessions/{started}/no-show/",              "200 200 200 404 403 404 403 404 404 404 404 401 401",
        body=body(lambda ids: {})),
    # Progress.
    Row("GET /api/assessments/",                              "200 200 200 200 200 200 200 200 200 200 200 401 401",
        visible=visible_assessments),
    # A student one may not see is an unknown ``student_id`` (400), like one that does not exist.
    Row("POST /api/assessments/",                             "201 201 201 400 403 400 403 400 400 400 400 401 401",
        body=body(lambda ids: {"student_id": ids["student"], "subject_id": ids["subject"], "kind": "quiz",
                               "score": "8", "max_score": "10", "teacher_id": ids["teacher"]})),
    Row("GET /api/students/{student}/progress/",              "200 200 200 404 200 404 200 404 404 404 404 401 401"),
    Row("GET /api/students/{student}/goals/",                 "200 200 200 404 403 404 403 404 404 404 404 401 401",
        visible=visible_goals),
    Row("POST /api/students/{student}/goals/",                "201 201 201 404 403 404 403 404 404 404 404 401 401",
        body=body(lambda ids: {"subject_id": ids["subject"], "title": "Reach 90%", "target_percentage": "90"})),
    Row("GET /api/goals/{goal}/",                             "200 200 200 404 403 404 403 404 404 404 404 401 401"),
    Row("PATCH /api/goals/{goal}/",                           "200 200 200 404 403 404 403 404 404 404 404 401 401",
        body=body(lambda ids: {"title": "Fractions at 90%"})),
    Row("DELETE /api/goals/{goal}/",                          "204 204 204 404 403 404 403 404 404 404 404 401 401"),
    # Earnings and the dashboard.
    Row("GET /api/teachers/{teacher}/earnings/",              "200 200 200 404 404 404 404 404 404 404 404 401 401"),
    Row("GET /api/earnings/entries/",                         "200 200 200 200 200 200 200 200 200 200 200 401 401",
        visible=visible_entries),
    Row("POST /api/earnings/approve/",                        "200 200 403 403 403 403 403 403 404 404 404 401 401",
        body=body(lambda ids: {"school_id": ids["school"], "entry_ids": [ids["pending_entry"]]})),
    Row("POST /api/earnings/review/",                         "200 200 403 403 403 403 403 403 404 404 404 401 401",
        body=body(lambda ids: {"school_id": ids["school"], "entry_ids": [ids["held_entry"]], "decision": "release"})),
    Row("GET /api/payouts/",                                  "200 200 200 200 200 200 200 200 200 200 200 401 401",
        visible=visible_payouts),
    Row("POST /api/payouts/",                                 "201 201 403 403 403 403 403 403 404 404 404 401 401",
        body=body(lambda ids: {"school_id": ids["school"], "teacher_id": ids["teacher"],
                               "entry_ids": [ids["approved_entry"]]})),
    Row("GET /api/teachers/{teacher}/dashboard/",             "200 200 200 404 404 404 404 404 404 404 404 401 401"),
    # Calendar feeds (the object: the owner's feed of the school). Each person sees only their own feeds; a
    # kind one's roles in the school do not give is 403, another school is unknown (400). The feed itself
    # answers whoever holds its address: the secret is the credential, a bearer token adds nothing.
    Row("GET /api/calendar-feeds/",                           "200 200 200 200 200 200 200 200 200 200 200 401 401",
        visible=visible_feeds),
    Row("POST /api/calendar-feeds/",                          "403 403 201 201 403 403 403 403 400 400 400 401 401",
        body=body(lambda ids: {"kind": "teacher", "school_id": ids["school"]})),
    Row("GET /api/calendar-feeds/{feed}/",                    "200 404 404 404 404 404 404 404 404 404 404 401 401"),
    Row("DELETE /api/calendar-feeds/{feed}/",                 "204 404 404 404 404 404 404 404 404 404 404 401 401"),
    Row("POST /api/calendar-feeds/{feed}/rotate/",            "200 404 404 404 404 404 404 404 404 404 404 401 401",
        body=body(lambda ids: {})),
    Row("GET /api/calendar/{feed_token}.ics",                 "200 200 200 200 200 200 200 200 200 200 200 200 200",
        capability=True),
    # Webhook endpoints (the object: the owner's endpoint of the school, and a delivery to it): a school's
    # owners and admins only. Another member of the school may not make one (403); another school is
    # unknown (400); nobody else sees one, nor its delivery log (404).
    Row("GET /api/webhook-endpoints/",                        "200 200 200 200 200 200 200 200 200 200 200 401 401",
        visible=visible_webhook_endpoints),
    Row("POST /api/webhook-endpoints/",                       "201 201 403 403 403 403 403 403 400 400 400 401 401",
        body=body(lambda ids: {"school_id": ids["school"], "url": "https://hooks.example.com/more"})),
    Row("GET /api/webhook-endpoints/{webhook_endpoint}/",     "200 200 404 404 404 404 404 404 404 404 404 401 401"),
    Row("PATCH /api/webhook-endpoints/{webhook_endpoint}/",   "200 200 404 404 404 404 404 404 404 404 404 401 401",
        body=body(lambda ids: {"description": "Our CRM"})),
    Row("DELETE /api/webhook-endpoints/{webhook_endpoint}/",  "204 204 404 404 404 404 404 404 404 404 404 401 401"),
    Row("POST /api/webhook-endpoints/{webhook_endpoint}/rotate-secret/",
                                                              "200 200 404 404 404 404 404 404 404 404 404 401 401",
        body=body(lambda ids: {})),
    Row("GET /api/webhook-endpoints/{webhook_endpoint}/deliveries/",
                                                              "200 200 404 404 404 404 404 404 404 404 404 401 401"),
    Row("POST /api/webhook-endpoints/{webhook_endpoint}/deliveries/{webhook_delivery}/redeliver/",
                                                              "202 202 404 404 404 404 404 404 404 404 404 401 401"),
]
# fmt: on

# ``OPTIONS`` answers what the endpoint is (name, description, media types), the same for every signed-in
# caller and every id, so it shows nothing of any object.
OPTIONS_EXPECT = "200 200 200 200 200 200 200 200 200 200 200 401 401"
PUBLIC_OPTIONS_EXPECT = "200 200 200 200 200 200 200 200 200 200 200 200 200"
# Logging in needs no token, nor does asking how; a calendar app reads its feed with the address's secret only.
PUBLIC_PATHS = {"/api/auth/token/", "/api/invitations/accept/", "/api/calendar/{feed_token}.ics"}


def route_of(path: str) -> str:
    """The URL pattern Django resolves the path to, as the coverage walk spells it."""
    from django.urls import resolve

    return resolve(path.split("?")[0].format_map(_AnyId())).route


class _AnyId(dict[str, int]):
    def __missing__(self, key: str) -> int:
        return 1


def all_rows() -> list[Row]:
    """The table, plus ``HEAD`` for every ``GET`` (the same answer without a body) and ``OPTIONS`` for
    every route the table names."""
    rows = list(ROWS)
    rows += [Row(f"HEAD {row.path}", row.cells, capability=row.capability) for row in ROWS if row.method == "GET"]
    seen: dict[str, str] = {}
    for row in ROWS:
        seen.setdefault(route_of(row.path), row.path.split("?")[0])
    rows += [
        Row(f"OPTIONS {path}", PUBLIC_OPTIONS_EXPECT if path in PUBLIC_PATHS else OPTIONS_EXPECT)
        for path in seen.values()
    ]
    return rows


# --- The dashboard socket. ------------------------------------------------------------------------------------
#
# One row per WebSocket route. ``cells`` says what opening it does for each actor, with the actor's own
# credential (the bearer token of its HTTP requests, or a ticket bought with it): ``ok``, accepted and open,
# or the close code the server ends the connection with at once (``docs/realtime.md``: 4401 no valid
# credential, 4403 no owner, admin or teacher role anywhere). ``hears`` says, for each change of the object
# (``SOCKET_CHANGES``), which events each actor then receives, in order, one letter per event
# (``EVENT_LETTERS``): ``-`` nothing, ``.`` not connected.

EVENT_LETTERS = {
    "N": "session.created",
    "U": "session.updated",
    "X": "session.cancelled",
    "C": "session.completed",
    "A": "assessment.created",
    "P": "progress.updated",
    "E": "earnings.updated",
}
OPEN = "ok"
NOT_CONNECTED = "."
HEARS_NOTHING = "-"


@dataclass(frozen=True)
class SocketChange:
    """A change of the object made while every actor listens: a real write, over HTTP or through the service."""

    description: str
    make: Callable[[Scene], None]


@dataclass(frozen=True)
class SocketRow:
    path: str  # the route, as a client opens it: "/ws/dashboard/"
    cells: str  # ``ok`` or a close code, per actor, in the order of ``scene.ACTORS``
    hears: dict[str, str]  # for each change (a key of ``SOCKET_CHANGES``): event letters per actor

    @property
    def expect(self) -> dict[str, str]:
        cells = self.cells.split()
        assert len(cells) == len(ACTORS), self.path
        return dict(zip(ACTORS, cells, strict=True))

    def expect_events(self, change: str) -> dict[str, list[str] | None]:
        """The event types each actor receives for ``change``, in order (``None``: not connected)."""
        cells = self.hears[change].split()
        assert len(cells) == len(ACTORS), (self.path, change)
        return {actor: _event_types(cell) for actor, cell in zip(ACTORS, cells, strict=True)}

    @property
    def name(self) -> str:
        return self.path


def _event_types(cell: str) -> list[str] | None:
    if cell == NOT_CONNECTED:
        return None
    if cell == HEARS_NOTHING:
        return []
    return [EVENT_LETTERS[letter] for letter in cell]


def _write(scene: Scene, actor: str, method: str, path: str, data: Any, status: int = 200) -> None:
    """The actor's request over HTTP (``path`` a template over the scene's ids); the change must go through."""
    response = getattr(scene.client(actor), method)(path.format_map(scene.home.ids()), data, format="json")
    assert response.status_code == status, (path, response.status_code, response.content[:300])


def complete_with_every_note(scene: Scene) -> None:
    ids = scene.home.ids()
    notes = [{"visibility": level, "text": text} for level, text in NOTE_TEXTS.items()]
    attendance = [{"student_id": ids["student"], "status": "present"}]
    path = "/api/sessions/{started}/complete/"
    _write(scene, "owner", "post", path, {"attendance": attendance, "actual_duration_minutes": 50, "notes": notes})


def amend(scene: Scene) -> None:
    _write(scene, "teacher", "put", "/api/sessions/{completed}/complete/", {"actual_duration_minutes": 40})


def book(scene: Scene) -> None:
    ids = scene.home.ids()
    data = {
        "school_id": ids["school"],
        "teacher_id": ids["teacher"],
        "subject_id": ids["subject"],
        "student_ids": [ids["student"]],
        "starts_at": _soon(),
        "planned_duration_minutes": 60,
    }
    _write(scene, "admin", "post", "/api/sessions/", data, status=201)


def cancel(scene: Scene) -> None:
    _write(scene, "teacher", "post", "/api/sessions/{session}/cancel/", {"reason": "Ill"})


def assess(scene: Scene) -> None:
    ids = scene.home.ids()
    data = {"student_id": ids["student"], "subject_id": ids["subject"], "kind": "quiz", "score": "9", "max_score": "10"}
    _write(scene, "teacher", "post", "/api/assessments/", data, status=201)


def approve(scene: Scene) -> None:
    ids = scene.home.ids()
    data = {"school_id": ids["school"], "entry_ids": [ids["pending_entry"]]}
    _write(scene, "owner", "post", "/api/earnings/approve/", data)


def other_teacher_cancels(scene: Scene) -> None:
    _write(scene, "other_teacher", "post", f"/api/sessions/{scene.home.world.other_session.pk}/cancel/", {})


def other_school_completes(scene: Scene) -> None:
    """Through the service, as the other school's teacher."""
    session = scene.away.started
    marks = [
        completion.AttendanceMark(student_id=seat.student_id, status="present") for seat in session.attendees.all()
    ]
    viewer = Viewer.for_user(scene.away.world.teacher.user)
    completion.session_complete(viewer=viewer, session_id=session.pk, attendance=marks, actual_duration_minutes=45)


SOCKET_CHANGES: dict[str, SocketChange] = {
    "complete": SocketChange(
        "The owner completes the teacher's started session over HTTP, with a shared, a staff and an admin note.",
        complete_with_every_note,
    ),
    "amend": SocketChange("The teacher amends their completed session's duration (its entry follows).", amend),
    "book": SocketChange("An admin books a session with the teacher over HTTP.", book),
    "cancel": SocketChange("The teacher cancels their session, which has a note at every level, over HTTP.", cancel),
    "assess": SocketChange("The teacher records an assessment of their student over HTTP.", assess),
    "approve": SocketChange("The owner approves the teacher's pending entry over HTTP.", approve),
    "other_teacher": SocketChange("The school's other teacher cancels their own session.", other_teacher_cancels),
    "other_school": SocketChange("The other school's teacher completes their started session.", other_school_completes),
}

# fmt: off
#                                                     own  adm  tch  otT  stu  otS  grd  otG  fOw  fAd  fTc  rev  ano
SOCKET_ROWS: list[SocketRow] = [
    # Staff hear every event of their school, a teacher the events of their own sessions, students and
    # earnings; students and guardians have no dashboard (4403); no valid credential is 4401.
    SocketRow("/ws/dashboard/",                     "ok   ok   ok   ok   4403 4403 4403 4403 ok   ok   ok   4401 4401",
        hears={
            "complete":                             "CE   CE   CE   -    .    .    .    .    -    -    -    .    .",
            "amend":                                "UE   UE   UE   -    .    .    .    .    -    -    -    .    .",
            "book":                                 "N    N    N    -    .    .    .    .    -    -    -    .    .",
            "cancel":                               "X    X    X    -    .    .    .    .    -    -    -    .    .",
            "assess":                               "AP   AP   AP   -    .    .    .    .    -    -    -    .    .",
            "approve":                              "E    E    E    -    .    .    .    .    -    -    -    .    .",
            "other_teacher":                        "X    X    -    X    .    .    .    .    -    -    -    .    .",
            "other_school":                         "-    -    -    -    .    .    .    .    CE   CE   CE   .    .",
        }),
]
# fmt: on
