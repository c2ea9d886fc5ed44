"""The manifest: every demo user, by school and role, and the password they all log in with.

``{"password": "...", "schools": [{"id", "name", "owners": [U], "admins": [U], "teachers": [U + "teacher_id"],
"students": [U + "student_id"], "guardians": [U + "student_ids"]}]}`` where ``U`` is ``{"user_id", "email"}``.
Busy teachers come first in their school's list. The file holds a password, so only its owner may read it.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from chalkboard.demo.cast import Cast, Person, SchoolPlan

FILE_MODE = 0o600


def _user(person: Person) -> dict[str, Any]:
    return {"user_id": person.id, "email": person.email}


def _school(school: SchoolPlan) -> dict[str, Any]:
    return {
        "id": school.id,
        "name": school.spec.name,
        "owners": [_user(school.owner)],
        "admins": [_user(school.admin)],
        "teachers": [
            {**_user(teaching.teacher), "teacher_id": teaching.teacher.id} for teaching in school.ordered_teachings()
        ],
        "students": [{**_user(student.person), "student_id": student.id} for student in school.students],
        "guardians": [
            {**_user(guardian.person), "student_ids": [student.id for student in guardian.students]}
            for guardian in school.guardians
        ],
    }


def manifest_build(*, cast: Cast, password: str) -> dict[str, Any]:
    return {"password": password, "schools": [_school(school) for school in cast.schools]}


def manifest_write(*, path: Path, manifest: dict[str, Any]) -> None:
    """Write the file readable by its owner only, whole or not at all; create its directory if missing."""
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f".{path.name}.partial")
    descriptor = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, FILE_MODE)
    os.fchmod(descriptor, FILE_MODE)  # in case a leftover partial file had a wider mode
    with os.fdopen(descriptor, "w", encoding="utf-8") as file:
        json.dump(manifest, file, ensure_ascii=False, indent=2)
        file.write("\n")
    os.replace(partial, path)
