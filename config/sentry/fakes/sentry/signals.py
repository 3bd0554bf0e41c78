"""Stand-in for sentry.signals (getsentry/sentry src/sentry/signals.py): the signal an accepted
invite sends; the current code passes organization_member_id, organization_id and user_id."""
from django.dispatch import Signal

member_joined = Signal()  # ["organization_member_id", "organization_id", "user_id"]
