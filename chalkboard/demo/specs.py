"""What each demo size contains: its schools, how many people, and how full their calendars are.

A ``Spec`` is plain data: the generator reads it and nothing else, so a size is easy to add or to scale
down for a test.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class SubjectSpec:
    name: str
    skills: tuple[str, ...]


@dataclass(frozen=True)
class SchoolSpec:
    name: str
    slug: str
    timezone: str
    currency: str
    subjects: tuple[SubjectSpec, ...]
    teachers: int
    students: int
    no_show_billable: bool = True
    owner_teaches: bool = False


@dataclass(frozen=True)
class Spec:
    """One demo size. Calendars repeat weekly: each teacher has ``slots`` lessons a week in each school."""

    schools: tuple[SchoolSpec, ...]
    email_domain: str
    weeks_past: int
    weeks_future: int
    assessments_per_school: int
    busy_teachers: int = 0  # per school: the first teachers, with big rosters and full weeks
    busy_roster: tuple[int, int] = (40, 60)
    busy_slots: int = 30
    normal_slots: int = 7
    sessions_target: int | None = None  # when set, the other teachers' weeks are sized to reach it
    shared_teachers: int = 1  # teachers of each school who also teach in the next one
    guest_slots: int = 7
    term_weeks: int = 13  # who sits in which weekly lesson changes every term
    group_share: float = 0.2
    second_teacher_share: float = 0.25
    guardian_share: float = 0.8
    two_children_share: float = 0.1
    cancel_share: float = 0.05
    no_show_share: float = 0.04
    past_scheduled_share: float = 0.15  # of the sessions that ended in the last ``past_scheduled_days``
    past_scheduled_days: int = 10
    note_shares: tuple[float, float, float] = (0.6, 0.3, 0.1)  # shared, staff, admin
    adjustment_every: int = 40  # one paid session in this many was amended afterwards
    goal_share: float = 0.3
    activity_days: int = 14
    paid_after_days: int = 21  # entries older than this are paid, then approved after ``approved_after_days``
    approved_after_days: int = 7


MATHS = SubjectSpec("Mathematics", ("Algebra", "Geometry", "Fractions", "Statistics"))
ENGLISH = SubjectSpec("English", ("Reading", "Writing", "Grammar"))
PHYSICS = SubjectSpec("Physics", ("Mechanics", "Electricity"))
PORTUGUESE = SubjectSpec("Portuguese", ("Comprehension", "Composition"))
MATH_US = SubjectSpec("Math", ("Arithmetic", "Algebra", "Geometry"))
READING = SubjectSpec("Reading", ("Phonics", "Comprehension", "Vocabulary"))
SCIENCE = SubjectSpec("Science", ("Biology", "Chemistry"))
SAT_PREP = SubjectSpec("SAT Prep", ("Math", "Evidence-Based Reading"))
CHEMISTRY = SubjectSpec("Chemistry", ("Stoichiometry", "Organic", "Lab Skills"))
BIOLOGY = SubjectSpec("Biology", ("Cells", "Genetics", "Ecology"))
HISTORY = SubjectSpec("History", ("Sources", "Essays", "Chronology"))
BENCH_SUBJECTS = (MATHS, ENGLISH, PHYSICS, CHEMISTRY, BIOLOGY, HISTORY)

SMALL = Spec(
    schools=(
        SchoolSpec(
            name="Lisbon Learning Centre",
            slug="lisbon",
            timezone="Europe/Lisbon",
            currency="EUR",
            subjects=(MATHS, ENGLISH, PHYSICS, PORTUGUESE),
            teachers=4,
            students=12,
        ),
        SchoolSpec(
            name="Austin Tutoring Co.",
            slug="austin",
            timezone="America/Chicago",
            currency="USD",
            subjects=(MATH_US, READING, SCIENCE, SAT_PREP),
            teachers=2,
            students=12,
            no_show_billable=False,
            owner_teaches=True,
        ),
    ),
    email_domain="demo.test",
    weeks_past=8,
    weeks_future=2,
    assessments_per_school=90,
    normal_slots=7,
    group_share=0.25,
)

BENCH_CITIES = (
    ("Porto Study Hub", "porto", "Europe/Lisbon", "EUR"),
    ("Madrid Academia", "madrid", "Europe/Madrid", "EUR"),
    ("London Tutors", "london", "Europe/London", "GBP"),
    ("Boston Learning", "boston", "America/New_York", "USD"),
    ("Denver Prep", "denver", "America/Denver", "USD"),
    ("Seattle Scholars", "seattle", "America/Los_Angeles", "USD"),
    ("Toronto Tutoring", "toronto", "America/Toronto", "CAD"),
    ("São Paulo Aulas", "saopaulo", "America/Sao_Paulo", "BRL"),
    ("Tokyo Juku", "tokyo", "Asia/Tokyo", "JPY"),
    ("Sydney Study", "sydney", "Australia/Sydney", "AUD"),
    ("Lyon Soutien", "lyon", "Europe/Paris", "EUR"),
    ("Berlin Nachhilfe", "berlin", "Europe/Berlin", "EUR"),
    ("Dublin Grinds", "dublin", "Europe/Dublin", "EUR"),
    ("Chicago Tutors", "chicago", "America/Chicago", "USD"),
    ("Auckland Tutoring", "auckland", "Pacific/Auckland", "NZD"),
    ("Singapore Tuition", "singapore", "Asia/Singapore", "SGD"),
)


def bench_spec(
    *,
    schools: int = 16,
    teachers: int = 25,
    students: int = 500,
    sessions: int = 500_000,
    assessments: int = 100_000,
    weeks_past: int = 91,
    weeks_future: int = 13,
    busy_roster: tuple[int, int] = (40, 60),
) -> Spec:
    """The benchmark's dataset (defaults), or the same shape scaled down."""
    cities = BENCH_CITIES[:schools]
    return Spec(
        schools=tuple(
            SchoolSpec(
                name=name,
                slug=slug,
                timezone=zone,
                currency=currency,
                subjects=BENCH_SUBJECTS,
                teachers=teachers,
                students=students,
                no_show_billable=index % 3 != 2,
            )
            for index, (name, slug, zone, currency) in enumerate(cities)
        ),
        email_domain="bench.test",
        weeks_past=weeks_past,
        weeks_future=weeks_future,
        assessments_per_school=assessments // len(cities),
        busy_teachers=2,
        busy_roster=busy_roster,
        sessions_target=sessions,
        guest_slots=4,
        group_share=0.15,
        note_shares=(0.3, 0.1, 0.02),
        adjustment_every=500,
        goal_share=0.2,
        activity_days=30,
        past_scheduled_share=0.08,
        past_scheduled_days=7,
    )


SIZES: dict[str, Callable[[], Spec]] = {
    "small": lambda: SMALL,
    "bench": bench_spec,
    # The benchmark's code path at a size a test can afford.
    "tiny-bench": lambda: bench_spec(
        schools=2,
        teachers=5,
        students=60,
        sessions=3_000,
        assessments=400,
        weeks_past=20,
        weeks_future=4,
        busy_roster=(12, 16),
    ),
}
