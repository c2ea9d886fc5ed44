"""Reads of teachers, students and guardians, always scoped to the viewer first."""

from __future__ import annotations

from typing import NamedTuple

from django.db.models import Exists, F, OuterRef, Prefetch, Q, QuerySet

from chalkboard.accounts.models import User
from chalkboard.common.api import MAX_ID
from chalkboard.common.errors import NotFound
from chalkboard.common.rows import Columns, rows_read
from chalkboard.people.models import GuardianLink, SchoolTeacher, Student, Teacher, TeacherRate, TeachingAssignment
from chalkboard.schools.access import STAFF, Action, Viewer
from chalkboard.schools.models import Membership, Role, Subject


def teacher_record_action(*, viewer: Viewer, teacher: Teacher, staff_fields: bool) -> Action:
    """What a write to a school's record of the teacher needs there: the teacher writes only their own
    bio, in a school they teach in (``SESSIONS_MANAGE_OWN``); everything else is the staff's (``PEOPLE_MANAGE``)."""
    if teacher.pk == viewer.teacher_id and not staff_fields:
        return Action.SESSIONS_MANAGE_OWN
    return Action.PEOPLE_MANAGE


def student_restricted_fields(*, viewer: Viewer, school_id: int) -> frozenset[str]:
    """The fields of a student's record, beyond the name and grade, that the viewer may read in the school:
    the guardians for its staff and teachers, the school's notes for its staff only."""
    if viewer.is_staff_of(school_id):
        return frozenset({"guardians", "notes"})
    if viewer.teaches_in(school_id):
        return frozenset({"guardians"})
    return frozenset()


def assigned_to(teacher_id: int, *, student: str = "pk", school: str = "school_id") -> Exists:
    """For a queryset over students (``student`` and ``school`` name their columns there): the school's staff
    assigned the student to this teacher. The only source of a teacher's reach: sessions, however many and
    in whatever state, grant nothing by themselves."""
    return Exists(
        TeachingAssignment.objects.filter(
            student_id=OuterRef(student), teacher_id=teacher_id, school_id=OuterRef(school)
        )
    )


def student_visibility(viewer: Viewer) -> Q:
    """The students the viewer may see: all of their schools' for staff, those assigned to them for a teacher,
    themselves for a student, their children for a guardian. Empty for anyone else."""
    visible = Q(school_id__in=viewer.schools_where(*STAFF))
    teaching = viewer.schools_where(Role.TEACHER)
    if teaching:
        visible |= Q(school_id__in=teaching) & Q(assigned_to(viewer.teacher_id))
    if viewer.own_and_ward_student_ids:
        visible |= Q(pk__in=viewer.own_and_ward_student_ids)
    return visible


def student_list(*, viewer: Viewer) -> QuerySet[Student]:
    return Student.objects.filter(student_visibility(viewer)).select_related("user", "school").order_by("id")


class Reached(NamedTuple):
    """A student the viewer may see, and whether the school's staff assigned them to the viewer."""

    student: Student
    assigned: bool


REACHED_STUDENT = Columns(Student, "student")
REACHED_PERSON = Columns(User, "person", ["id", "full_name"])
# Written in SQL, as the completion's hot statements are: for this one row, the ORM's statement (a join and an
# EXISTS) cost far more to build than to run (1.2 ms in all, against 0.2 ms for this one, on the bench's
# database, where recording an assessment starts with it).
REACHED_SQL = f"""
SELECT {REACHED_STUDENT.sql}, {REACHED_PERSON.sql},
       EXISTS (SELECT 1 FROM people_teachingassignment AS assignment
               WHERE assignment.student_id = student.id AND assignment.teacher_id = %s
                 AND assignment.school_id = student.school_id)
FROM people_student AS student
JOIN accounts_user AS person ON person.id = student.user_id
WHERE student.id = %s
"""  # noqa: S608 (quoted model metadata)  # nosec B608


def student_reached(*, viewer: Viewer, student_id: int) -> Reached | None:
    """One student with their user's name (the user's other fields deferred), if the viewer may see them, else
    None: ``student_visibility``'s rule, decided in Python on the one row, which costs half as much as
    filtering by it (the reach property checks the two agree)."""
    if not 0 < student_id <= MAX_ID:
        return None
    (rows,) = rows_read([(REACHED_SQL, [viewer.teacher_id, student_id])])
    if not rows:
        return None
    row = rows[0]
    student = REACHED_STUDENT.build(row[: len(REACHED_STUDENT)])
    student.user = REACHED_PERSON.build(row[len(REACHED_STUDENT) : -1])
    school_id, assigned = student.school_id, bool(row[-1])
    if (
        viewer.is_staff_of(school_id)
        or (viewer.teaches_in(school_id) and assigned)
        or student.pk in viewer.own_and_ward_student_ids
    ):
        return Reached(student, assigned)
    return None


def teacher_self(*, viewer: Viewer) -> Teacher:
    """The viewer's own teacher profile, without a query, for a viewer who teaches in some school: its id is
    their user's, and an active teacher's membership never comes without it (``teacher_join``)."""
    teacher = Teacher(user=viewer.user)
    teacher._state.adding = False
    return teacher


def student_get_for_viewer(*, viewer: Viewer, student_id: int) -> Student:
    """The student, if the viewer may see them; otherwise 404, the same as for an unknown id."""
    student = student_list(viewer=viewer).filter(pk=student_id).first()
    if student is None:
        raise NotFound()
    return student


def teacher_visibility(viewer: Viewer) -> Q:
    """Teachers the viewer may see: every active teacher of the schools they run, and themselves."""
    staff_schools = viewer.schools_where(*STAFF)
    teaching_there = Membership.objects.filter(
        user_id=OuterRef("user_id"), role=Role.TEACHER, is_active=True, school_id__in=staff_schools
    )
    visible = Q(Exists(teaching_there)) if staff_schools else Q(pk__in=[])
    if viewer.schools_where(Role.TEACHER):
        visible |= Q(pk=viewer.teacher_id)
    return visible


def teacher_list(*, viewer: Viewer) -> QuerySet[Teacher]:
    return Teacher.objects.filter(teacher_visibility(viewer)).select_related("user").order_by("pk")


def teacher_get_for_viewer(*, viewer: Viewer, teacher_id: int) -> Teacher:
    teacher = teacher_list(viewer=viewer).filter(pk=teacher_id).first()
    if teacher is None:
        raise NotFound()
    return teacher


def teacher_directory(*, viewer: Viewer) -> QuerySet[Teacher]:
    """``teacher_list`` with what the directory shows of each teacher, in a fixed number of queries: the
    schools they teach in, those schools' records of them, their subjects and their rates, all limited to the
    viewer's own schools. Which of those the viewer may see, teacher by teacher, is
    ``teacher_shown_school_ids``."""
    mine = viewer.school_ids
    return teacher_list(viewer=viewer).prefetch_related(
        Prefetch(
            "school_records",
            queryset=SchoolTeacher.objects.filter(school_id__in=mine).order_by("school_id"),
            to_attr="visible_records",
        ),
        Prefetch(
            "user__memberships",
            queryset=Membership.objects.filter(role=Role.TEACHER, is_active=True, school_id__in=mine)
            .select_related("school")
            .order_by("school_id"),
            to_attr="teaching_memberships",
        ),
        Prefetch(
            "subjects",
            queryset=Subject.objects.filter(school_id__in=mine).order_by("school_id", "name", "id"),
            to_attr="visible_subjects",
        ),
        Prefetch(
            "rates",
            queryset=TeacherRate.objects.filter(school_id__in=mine)
            .select_related("school")
            .order_by("school_id", F("subject_id").asc(nulls_first=True), "is_group", "id"),
            to_attr="visible_rates",
        ),
    )


def teacher_directory_get_for_viewer(*, viewer: Viewer, teacher_id: int) -> Teacher:
    teacher = teacher_directory(viewer=viewer).filter(pk=teacher_id).first()
    if teacher is None:
        raise NotFound()
    return teacher


def teacher_shown_school_ids(*, viewer: Viewer, teacher: Teacher) -> frozenset[int]:
    """The schools whose side of a teacher (subjects, rates) the viewer may see: every school of their own
    for the teacher themselves, the schools they run for staff. Never a school the viewer is not in."""
    if teacher.pk == viewer.teacher_id:
        return frozenset(viewer.school_ids)
    return frozenset(viewer.schools_where(*STAFF))


def teaching_in(school_id: int) -> Exists:
    """For a ``Teacher`` queryset: an active teacher of this school."""
    return Exists(
        Membership.objects.filter(user_id=OuterRef("pk"), school_id=school_id, role=Role.TEACHER, is_active=True)
    )


def active_guardian_link() -> Exists:
    """For a ``GuardianLink`` queryset: the guardian still holds an active guardian role in the student's school."""
    return Exists(
        Membership.objects.filter(
            user_id=OuterRef("guardian_id"),
            school_id=OuterRef("student__school_id"),
            role=Role.GUARDIAN,
            is_active=True,
        )
    )


def student_directory(*, viewer: Viewer) -> QuerySet[Student]:
    """``student_list`` with each student's active guardians, in a fixed number of queries."""
    return student_list(viewer=viewer).prefetch_related(
        Prefetch(
            "guardian_links",
            queryset=GuardianLink.objects.filter(active_guardian_link()).select_related("guardian").order_by("id"),
            to_attr="active_guardian_links",
        )
    )


def student_directory_get_for_viewer(*, viewer: Viewer, student_id: int) -> Student:
    student = student_directory(viewer=viewer).filter(pk=student_id).first()
    if student is None:
        raise NotFound()
    return student


def student_directory_get_for_action(*, viewer: Viewer, student_id: int, action: Action) -> Student:
    """The student: 404 if the viewer may not see them, 403 if they may see but not do ``action`` there."""
    student = student_directory_get_for_viewer(viewer=viewer, student_id=student_id)
    viewer.require(action, student.school_id)
    return student


def guardian_link_visibility(viewer: Viewer) -> Q:
    """The guardian links the viewer may see: every link to a student of a school they run, links to the
    students assigned to them, and, for a guardian, their own links. A student sees none, not even their own."""
    pupils = Q(school_id__in=viewer.schools_where(*STAFF))
    teaching = viewer.schools_where(Role.TEACHER)
    if teaching:
        pupils |= Q(school_id__in=teaching) & Q(assigned_to(viewer.teacher_id))
    visible = Q(student__in=Student.objects.filter(pupils).values("pk"))
    if viewer.ward_ids:
        visible |= Q(guardian_id=viewer.user_id, student_id__in=viewer.ward_ids)
    return visible & Q(active_guardian_link())


def guardian_link_list(*, viewer: Viewer) -> QuerySet[GuardianLink]:
    return GuardianLink.objects.filter(guardian_link_visibility(viewer))


def guardian_list(*, viewer: Viewer) -> QuerySet[User]:
    """The guardians the viewer may see, each with the students of theirs the viewer may see
    (``visible_links``), in a fixed number of queries."""
    links = guardian_link_list(viewer=viewer)
    return (
        User.objects.filter(Exists(links.filter(guardian_id=OuterRef("pk"))))
        .prefetch_related(
            Prefetch(
                "wards",
                queryset=links.select_related("student__user").order_by("student_id"),
                to_attr="visible_links",
            )
        )
        .order_by("id")
    )


def guardian_get_for_viewer(*, viewer: Viewer, guardian_id: int) -> User:
    guardian = guardian_list(viewer=viewer).filter(pk=guardian_id).first()
    if guardian is None:
        raise NotFound()
    return guardian


def assignment_visibility(viewer: Viewer) -> Q:
    """Every assignment of the schools the viewer runs; a teacher's own, in the schools they teach in."""
    visible = Q(school_id__in=viewer.schools_where(*STAFF))
    teaching = viewer.schools_where(Role.TEACHER)
    if teaching:
        visible |= Q(school_id__in=teaching, teacher_id=viewer.teacher_id)
    return visible


def assignment_list(*, viewer: Viewer) -> QuerySet[TeachingAssignment]:
    return TeachingAssignment.objects.filter(assignment_visibility(viewer)).order_by("id")


def assignment_get_for_viewer(*, viewer: Viewer, assignment_id: int) -> TeachingAssignment:
    assignment = assignment_list(viewer=viewer).filter(pk=assignment_id).first()
    if assignment is None:
        raise NotFound()
    return assignment


def assignment_get_for_action(*, viewer: Viewer, assignment_id: int, action: Action) -> TeachingAssignment:
    """The assignment: 404 if the viewer may not see it, 403 if they may see but not do ``action`` there."""
    assignment = assignment_get_for_viewer(viewer=viewer, assignment_id=assignment_id)
    viewer.require(action, assignment.school_id)
    return assignment
