"""Query filters of the school lists. Each applies on top of a viewer-scoped selector, never instead of one."""

from __future__ import annotations

import django_filters
from django import forms
from django.db.models import QuerySet
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field

from chalkboard.common.api import MAX_ID
from chalkboard.schools.access import viewer_of
from chalkboard.schools.models import Membership, Role, School, Subject


@extend_schema_field(OpenApiTypes.INT)
class IdFilter(django_filters.Filter):
    """An id: a positive integer that fits the database's ids (anything else is a 400, not a 500)."""

    field_class = forms.IntegerField

    def __init__(self, *args: object, **kwargs: object) -> None:
        kwargs.setdefault("min_value", 1)
        kwargs.setdefault("max_value", MAX_ID)
        super().__init__(*args, **kwargs)


class SchoolFilter(django_filters.FilterSet):
    role = django_filters.ChoiceFilter(
        choices=Role.choices, method="filter_role", help_text="Schools where I hold this role."
    )
    q = django_filters.CharFilter(
        field_name="name", lookup_expr="icontains", max_length=100, help_text="Name contains."
    )

    class Meta:
        model = School
        fields: list[str] = []

    def filter_role(self, queryset: QuerySet[School], name: str, value: str) -> QuerySet[School]:
        return queryset.filter(pk__in=viewer_of(self.request).schools_where(value))


class MembershipFilter(django_filters.FilterSet):
    role = django_filters.ChoiceFilter(choices=Role.choices)
    is_active = django_filters.BooleanFilter()

    class Meta:
        model = Membership
        fields: list[str] = []


class SubjectFilter(django_filters.FilterSet):
    school = IdFilter(field_name="school_id", help_text="Only this school's subjects.")

    class Meta:
        model = Subject
        fields: list[str] = []
