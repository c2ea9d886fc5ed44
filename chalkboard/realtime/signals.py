"""What the log tells the floors above it, which it does not import."""

from django.dispatch import Signal

# Sent once a transaction that wrote events has committed (its caches bumped, its dashboards nudged), with
# ``school_ids``: the schools those events belong to. Webhooks (chalkboard.webhooks) listen.
events_committed = Signal()
