"""Loading the demo into the database."""

from __future__ import annotations

import time
from collections import Counter
from dataclasses import dataclass
from datetime import datetime

from django.contrib.auth.hashers import make_password
from django.db import connection, transaction

from chalkboard.activity.services import activity_record
from chalkboard.common.cache import (
    school_scope,
    student_scope,
    teacher_scope,
    user_scope,
    versions_bump_on_commit,
)
from chalkboard.demo.cast import Cast
from chalkboard.demo.context import day_anchor
from chalkboard.demo.generator import DemoGenerator
from chalkboard.demo.loader import Loader
from chalkboard.demo.specs import Spec
from chalkboard.demo.tables import Ids
from chalkboard.schools.models import School


@dataclass
class SeedResult:
    cast: Cast
    counts: Counter[str]
    seconds: float


def demo_is_loaded() -> bool:
    """Whether the database already has schools (the demo, or real ones): never seed over them."""
    return School.objects.exists()


def cache_scopes(cast: Cast) -> list[str]:
    """Every cached page the new rows could make stale, should the cache outlive an earlier database."""
    scopes = []
    for school in cast.schools:
        scopes.append(school_scope(school.id))
        scopes.extend(teacher_scope(teaching.teacher.id, school.id) for teaching in school.teachings)
        scopes.extend(student_scope(student.id) for student in school.students)
        # The loader writes memberships as rows, past the services that bump their users' roles.
        people = [school.owner, school.admin, *(teaching.teacher for teaching in school.teachings)]
        people += [student.person for student in school.students] + [guardian.person for guardian in school.guardians]
        scopes.extend(user_scope(person.id) for person in people)
    return scopes


def demo_seed(*, spec: Spec, seed: int, password: str, now: datetime) -> SeedResult:
    """Generate the demo for ``spec`` and ``seed`` (times relative to ``now``'s day) and load it in one
    transaction. The password is hashed once and shared by every demo user."""
    started = time.monotonic()
    loader = Loader(connection)
    with transaction.atomic():
        loader.begin()
        generator = DemoGenerator(
            spec=spec,
            seed=seed,
            anchor=day_anchor(now),
            password_hash=make_password(password),
            ids=Ids(loader.last_ids()),
        )
        for batch in generator.batches():
            loader.write(batch)
        loader.finish()
        for school in generator.cast.schools:
            activity_record(
                actor=None,
                verb="demo.seeded",
                object_type="school",
                object_id=school.id,
                school_id=school.id,
                data={"seed": seed},
            )
        versions_bump_on_commit(cache_scopes(generator.cast))
    loader.analyze()
    return SeedResult(cast=generator.cast, counts=loader.counts, seconds=time.monotonic() - started)
