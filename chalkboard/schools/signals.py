"""What school membership tells the floors above it, which it does not import."""

from django.dispatch import Signal

# Sent inside the transaction that turns a membership off, with ``membership`` (already inactive): what rode
# on that person's role in the school stops with it. Webhooks (chalkboard.webhooks) listen.
membership_deactivated = Signal()
