from django.db import models


class TimeStampedModel(models.Model):
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        abstract = True


class IdempotencyRecord(models.Model):
    """The first successful answer to a request sent with an ``Idempotency-Key``, replayed to its repeats.

    Written in the transaction of the change it answers, so a key is either fully used (change made and
    answer stored) or not at all. Kept at least ``IDEMPOTENCY_TTL`` (see ``chalkboard.common.idempotency``).
    """

    user = models.ForeignKey("accounts.User", on_delete=models.CASCADE, related_name="+")
    key = models.CharField(max_length=255)
    method = models.CharField(max_length=8)
    path = models.CharField(max_length=500)
    request_hash = models.CharField(max_length=64, help_text="SHA-256 of the canonical JSON request body.")
    status_code = models.PositiveSmallIntegerField()
    response_body = models.TextField(help_text="The answer's JSON, exactly as first sent.")
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["user", "key"], name="idempotency_user_key_unique")]
