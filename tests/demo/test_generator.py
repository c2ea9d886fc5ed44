"""The generator on its own: plain rows, no database."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from itertools import pairwise
from random import Random
from zoneinfo import ZoneInfo

import pytest

from chalkboard.demo.context import SchoolContext, day_anchor
from chalkboard.demo.generator import DemoGenerator
from chalkboard.demo.specs import SIZES, SMALL, bench_spec
from chalkboard.demo.tables import LOAD_ORDER, SESSION, SKILL, USER, Batch, Ids
from chalkboard.scheduling.models import SessionStudent
from chalkboard.scheduling.triggers import COPY_COLUMNS
from tests.demo.helpers import ANCHOR, generate

TINY_BENCH = SIZES["tiny-bench"]()
LISBON, AUSTIN = SMALL.schools
# Two schools in one time zone, and days so full that the shared teacher's home lessons run into the
# evening, when their lessons in the other school are.
SAME_ZONE = replace(SMALL, normal_slots=42, schools=(LISBON, replace(AUSTIN, timezone=LISBON.timezone)))
# More teachers than students.
CROWDED = replace(SMALL, schools=(replace(LISBON, teachers=5, students=3),))


def test_every_table_lists_exactly_its_models_columns():
    """All but the bookings' copy of their session, which the database writes (chalkboard/scheduling/triggers.py)."""
    for table in LOAD_ORDER:
        columns = [field.column for field in table.model._meta.concrete_fields]
        assert sorted(table.columns) == sorted(column for column in columns if column not in COPY_COLUMNS)
    assert set(COPY_COLUMNS) <= {field.column for field in SessionStudent._meta.concrete_fields}


def test_parents_are_written_before_their_children():
    position = {table.model: index for index, table in enumerate(LOAD_ORDER)}
    for table in LOAD_ORDER:
        for field in table.model._meta.concrete_fields:
            if field.is_relation and field.related_model is not table.model:
                assert position[field.related_model] < position[table.model], (table.name, field.name)


def test_a_row_must_name_every_column_and_nothing_else():
    batch = Batch()
    with pytest.raises(ValueError, match="name"):
        batch.add(SKILL, id=1, subject_id=2)
    with pytest.raises(ValueError, match="colour"):
        batch.add(SKILL, id=1, subject_id=2, colour="red")
    batch.add(SKILL, id=1, subject_id=2, name="Algebra")
    assert batch.rows[SKILL] == [(1, 2, "Algebra")]


def test_the_same_seed_and_day_give_the_same_rows():
    _, first = generate(SMALL, seed=5)
    _, again = generate(SMALL, seed=5)
    _, other_seed = generate(SMALL, seed=6)
    _, other_day = generate(SMALL, seed=5, anchor=ANCHOR + timedelta(days=1))

    assert first == again
    assert first[SESSION] != other_seed[SESSION]
    assert first[SESSION] != other_day[SESSION]


@pytest.mark.parametrize(
    ("now", "anchor"),
    [
        (datetime(2026, 3, 10, 0, 0, tzinfo=UTC), datetime(2026, 3, 10, tzinfo=UTC)),
        (datetime(2026, 3, 10, 23, 59, 59, tzinfo=UTC), datetime(2026, 3, 10, tzinfo=UTC)),
        # 23:30 in Chicago is already the next day in UTC.
        (datetime(2026, 3, 10, 23, 30, tzinfo=ZoneInfo("America/Chicago")), datetime(2026, 3, 11, tzinfo=UTC)),
    ],
)
def test_the_anchor_is_midnight_utc_of_the_day(now, anchor):
    assert day_anchor(now) == anchor


@pytest.mark.parametrize("spec", [SMALL, TINY_BENCH], ids=["small", "tiny-bench"])
def test_every_reference_points_at_a_generated_row(spec):
    _, rows = generate(spec)
    keys = {table.model: {row[table.model._meta.pk.column] for row in rows[table]} for table in LOAD_ORDER}
    for table in LOAD_ORDER:
        relations = [field for field in table.model._meta.concrete_fields if field.is_relation]
        for field in relations:
            values = {row[field.column] for row in rows[table]} - {None}
            assert values <= keys[field.related_model], (table.name, field.column)


def test_ids_follow_the_highest_ids_already_in_the_database():
    generator = DemoGenerator(
        spec=SMALL, seed=1, anchor=ANCHOR, password_hash="hash", ids=Ids({USER: 100, SESSION: 5_000})
    )
    batches = list(generator.batches())

    user_ids = [row[0] for row in batches[0].rows[USER]]
    session_ids = [row[0] for batch in batches[1:] for row in batch.rows[SESSION]]
    assert min(user_ids) == 101
    assert user_ids == list(range(101, 101 + len(user_ids)))
    assert min(session_ids) == 5_001
    assert len(set(session_ids)) == len(session_ids)


def test_the_cast_is_known_only_once_the_people_are_generated():
    generator = DemoGenerator(spec=SMALL, seed=1, anchor=ANCHOR, password_hash="hash")
    with pytest.raises(RuntimeError):
        _ = generator.cast
    cast, _ = generator.people()
    assert generator.cast is cast


@pytest.mark.parametrize("spec", [SMALL, TINY_BENCH, SAME_ZONE], ids=["small", "tiny-bench", "same-zone"])
def test_no_teacher_is_in_two_sessions_at_once_even_across_schools(spec):
    _, rows = generate(spec)
    by_teacher = defaultdict(list)
    for session in rows[SESSION]:
        ends_at = session["starts_at"] + timedelta(minutes=session["planned_duration_minutes"])
        by_teacher[session["teacher_id"]].append((session["starts_at"], ends_at))
    for sessions in by_teacher.values():
        sessions.sort()
        for (_, ends_at), (next_starts_at, _) in pairwise(sessions):
            assert next_starts_at >= ends_at


@pytest.mark.parametrize("spec", [SMALL, TINY_BENCH, CROWDED], ids=["small", "tiny-bench", "crowded"])
def test_every_teacher_has_students_and_every_student_a_teacher(spec):
    cast, _ = generate(spec)
    for school in cast.schools:
        taught = {student.id for teaching in school.teachings for student in teaching.roster}
        assert all(teaching.roster for teaching in school.teachings)
        assert taught == {student.id for student in school.students}


def test_the_small_demo_has_two_schools_a_shared_teacher_siblings_and_a_teaching_owner():
    cast, _ = generate(SMALL)
    lisbon, austin = cast.schools

    assert (lisbon.spec.timezone, lisbon.spec.currency) != (austin.spec.timezone, austin.spec.currency)
    shared = cast.teachers_in_several_schools()
    assert len(shared) == 1
    # The shared teacher is first in both schools' lists.
    assert {school.ordered_teachings()[0].teacher.id for school in cast.schools} == shared
    for school in cast.schools:
        assert any(len(guardian.students) == 2 for guardian in school.guardians)
        with_guardian = {student.id for guardian in school.guardians for student in guardian.students}
        assert len(with_guardian) > len(school.students) / 2
    assert austin.owner in {teaching.teacher for teaching in austin.teachings}
    assert lisbon.owner not in {teaching.teacher for teaching in lisbon.teachings}


def test_the_bench_people_have_the_benchmarks_shape():
    spec = bench_spec()
    cast, _ = DemoGenerator(spec=spec, seed=1, anchor=ANCHOR, password_hash="hash").people()

    assert len(cast.schools) == 16
    assert len({teaching.teacher.id for school in cast.schools for teaching in school.teachings}) == 400
    assert sum(len(school.students) for school in cast.schools) == 8_000
    assert spec.assessments_per_school * len(cast.schools) == 100_000
    weekly = sum(teaching.slots for school in cast.schools for teaching in school.teachings)
    assert weekly * (spec.weeks_past + spec.weeks_future) == pytest.approx(500_000, rel=0.001)
    for school in cast.schools:
        busy = school.ordered_teachings()[: spec.busy_teachers]
        assert all(teaching.busy for teaching in busy)
        assert all(40 <= len({student.id for student in teaching.roster}) <= 60 for teaching in busy)
        assert all(teaching.slots > 2 * spec.normal_slots for teaching in busy)


def test_a_teacher_busy_in_another_school_skips_the_lessons_that_would_clash():
    cast, rows = generate(SAME_ZONE)
    (shared,) = cast.teachers_in_several_schools()
    home, guest = cast.schools
    weeks = SAME_ZONE.weeks_past + SAME_ZONE.weeks_future

    def lessons_in(school):
        return [row for row in rows[SESSION] if row["teacher_id"] == shared and row["school_id"] == school.id]

    assert len(lessons_in(home)) == SAME_ZONE.normal_slots * weeks
    assert len(lessons_in(guest)) < SAME_ZONE.guest_slots * weeks


def test_a_booking_clashes_only_with_sessions_that_overlap_it():
    cast, _ = generate(SMALL)
    at = ANCHOR + timedelta(hours=15)
    booked = {7: [(at, at + timedelta(hours=1)), (at + timedelta(hours=3), at + timedelta(hours=4))]}
    ctx = SchoolContext(
        spec=SMALL, school=cast.schools[0], anchor=ANCHOR, ids=Ids(), rng=Random(1), batch=Batch(), booked=booked
    )

    def clashes(starts_hours, ends_hours, teacher_id=7):
        return ctx.is_booked(teacher_id, at + timedelta(hours=starts_hours), at + timedelta(hours=ends_hours))

    assert not clashes(-1, 0)  # ends as the first one starts
    assert clashes(-1, 0.5)
    assert clashes(0.25, 0.75)
    assert not clashes(1, 3)  # between the two
    assert clashes(2, 3.5)
    assert clashes(3.5, 5)
    assert not clashes(4, 5)
    assert not clashes(0, 1, teacher_id=8)


def test_a_billable_session_without_an_applicable_rate_is_refused():
    generator = DemoGenerator(spec=SMALL, seed=1, anchor=ANCHOR, password_hash="hash")
    cast, _ = generator.people()
    school = cast.schools[0]
    for teaching in school.teachings:
        teaching.rates.clear()

    with pytest.raises(LookupError, match="No rate"):
        generator.school_year(school)
