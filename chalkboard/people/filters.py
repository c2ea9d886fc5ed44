"""Query filters of the people lists. Each applies on top of a viewer-scoped selector, never instead of one,
and never reveals through what it matches something the viewer may not see."""

from __future__ import annotations

import django_filters
from django.db.models import Exists, OuterRef, Q, QuerySet

from chalkboard.accounts.models import User
from chalkboard.people.models import Student, Teacher, TeachingAssignment
from chalkboard.people.selectors import guardian_link_list, teaching_in
from chalkboard.schools.access import viewer_of
from chalkboard.schools.filters import IdFilter

SEARCH_HELP = "Name or email contains."


def _name_or_email(prefix: str, value: str) -> Q:
    return Q(**{f"{prefix}full_name__icontains": value}) | Q(**{f"{prefix}email__icontains": value})


class TeacherFilter(django_filters.FilterSet):
    school = IdFilter(method="filter_school", help_text="Only those who teach in this school.")
    q = django_filters.CharFilter(method="filter_q", max_length=100, help_text=SEARCH_HELP)

    class Meta:
        model = Teacher
        fields: list[str] = []

    def filter_school(self, queryset: QuerySet[Teacher], name: str, value: int) -> QuerySet[Teacher]:
        # Where a teacher also teaches is only the viewer's business in the viewer's own schools.
        if value not in viewer_of(self.request).roles:
            return queryset.none()
        return queryset.filter(teaching_in(value))

    def filter_q(self, queryset: QuerySet[Teacher], name: str, value: str) -> QuerySet[Teacher]:
        return queryset.filter(_name_or_email("user__", value))


class StudentFilter(django_filters.FilterSet):
    school = IdFilter(field_name="school_id", help_text="Only this school's students.")
    is_active = django_filters.BooleanFilter()
    q = django_filters.CharFilter(method="filter_q", max_length=100, help_text=SEARCH_HELP)

    class Meta:
        model = Student
        fields: list[str] = []

    def filter_q(self, queryset: QuerySet[Student], name: str, value: str) -> QuerySet[Student]:
        return queryset.filter(_name_or_email("user__", value))


class GuardianFilter(django_filters.FilterSet):
    school = IdFilter(method="filter_school", help_text="Only guardians of this school's students.")
    student_id = IdFilter(method="filter_student", help_text="Only this student's guardians.")
    q = django_filters.CharFilter(method="filter_q", max_length=100, help_text=SEARCH_HELP)

    class Meta:
        model = User
        fields: list[str] = []

    def _linked(self, queryset: QuerySet[User], **lookup: int) -> QuerySet[User]:
        # Through the links the viewer may see only, so a filter never matches on a hidden link.
        links = guardian_link_list(viewer=viewer_of(self.request)).filter(guardian_id=OuterRef("pk"), **lookup)
        return queryset.filter(Exists(links))

    def filter_school(self, queryset: QuerySet[User], name: str, value: int) -> QuerySet[User]:
        return self._linked(queryset, student__school_id=value)

    def filter_student(self, queryset: QuerySet[User], name: str, value: int) -> QuerySet[User]:
        return self._linked(queryset, student_id=value)

    def filter_q(self, queryset: QuerySet[User], name: str, value: str) -> QuerySet[User]:
        return queryset.filter(_name_or_email("", value))


class AssignmentFilter(django_filters.FilterSet):
    teacher_id = IdFilter(field_name="teacher_id")
    student_id = IdFilter(field_name="student_id")
    school = IdFilter(field_name="school_id")

    class Meta:
        model = TeachingAssignment
        fields: list[str] = []
