"""The whole demo as batches of plain rows, deterministic for a seed and a day. No database needed.

The first batch holds the people (users, schools, memberships, subjects, teachers and their rates,
students, guardians); then one batch per school holds its calendar and everything that follows from it,
so a big dataset never sits in memory all at once. Every school draws from its own random stream.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from datetime import datetime, timedelta

from chalkboard.demo.activity import add_activity_rows
from chalkboard.demo.cast import Cast, SchoolPlan, cast_build
from chalkboard.demo.context import SchoolContext
from chalkboard.demo.ledger import add_ledger_rows
from chalkboard.demo.scores import add_score_rows
from chalkboard.demo.sessions import add_session_rows
from chalkboard.demo.specs import Spec
from chalkboard.demo.tables import Batch, Ids
from chalkboard.demo.timetable import SessionDraft, session_drafts


class DemoGenerator:
    def __init__(self, *, spec: Spec, seed: int, anchor: datetime, password_hash: str, ids: Ids | None = None):
        self.spec = spec
        self.seed = seed
        self.anchor = anchor
        self.password_hash = password_hash
        self.ids = ids or Ids()
        self._cast: Cast | None = None
        self._booked: dict[int, list[tuple[datetime, datetime]]] = {}

    def people(self) -> tuple[Cast, Batch]:
        rng = random.Random(f"{self.seed}:people")  # seeded for a reproducible demo, not for secrets  # nosec B311
        cast, batch = cast_build(
            spec=self.spec, rng=rng, ids=self.ids, anchor=self.anchor, password_hash=self.password_hash
        )
        self._cast = cast
        return cast, batch

    def school_year(self, school: SchoolPlan) -> Batch:
        """Sessions, attendance, notes, earnings, assessments, progress, goals and activity of one school."""
        ctx = SchoolContext(
            spec=self.spec,
            school=school,
            anchor=self.anchor,
            ids=self.ids,
            rng=random.Random(f"{self.seed}:school:{school.index}"),  # a reproducible demo  # nosec B311
            batch=Batch(),
            booked=self._booked,
        )
        drafts = session_drafts(ctx)
        self._book(drafts)
        add_ledger_rows(ctx, drafts)  # first: it marks the sessions amended after payment
        add_session_rows(ctx, drafts)
        assessments = add_score_rows(ctx, drafts)
        add_activity_rows(ctx, drafts, assessments)
        return ctx.batch

    def _book(self, drafts: list[SessionDraft]) -> None:
        """Remember when the teachers who also teach elsewhere are busy in this school."""
        travelling = self.cast.teachers_in_several_schools()
        for draft in drafts:
            teacher_id = draft.teaching.teacher.id
            if teacher_id in travelling:
                ends_at = draft.starts_at + timedelta(minutes=draft.planned_minutes)
                self._booked.setdefault(teacher_id, []).append((draft.starts_at, ends_at))
        for booked in self._booked.values():
            booked.sort()

    def batches(self) -> Iterator[Batch]:
        cast, people = self.people()
        yield people
        for school in cast.schools:
            yield self.school_year(school)

    @property
    def cast(self) -> Cast:
        if self._cast is None:
            raise RuntimeError("The people are generated first.")
        return self._cast
