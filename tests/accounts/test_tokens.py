from __future__ import annotations

from datetime import timedelta
from io import StringIO

import pytest
from django.core.management import call_command
from django.utils import timezone
from knox.models import AuthToken

from chalkboard.accounts.models import User
from chalkboard.accounts.services import token_create
from tests import factories as f

pytestmark = pytest.mark.django_db


def test_purge_tokens_deletes_only_expired_ones():
    user = f.UserFactory()
    token_create(user=user)
    token_create(user=user)
    AuthToken.objects.filter(pk=AuthToken.objects.first().pk).update(expiry=timezone.now() - timedelta(minutes=1))
    out = StringIO()

    call_command("purge_tokens", stdout=out)

    assert "Deleted 1 expired tokens." in out.getvalue()
    assert AuthToken.objects.count() == 1


def test_emails_are_stored_lower_case_and_unique_whatever_the_case():
    user = User.objects.create_user("Ana@Example.TEST", "pw", full_name="Ana")
    assert user.email == "ana@example.test"
    assert str(user) == "Ana"
    assert str(User(email="x@example.test")) == "x@example.test"

    admin = User.objects.create_superuser("root@example.test", "pw", full_name="Root")
    assert admin.is_staff
