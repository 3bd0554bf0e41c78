"""Stand-in for sentry.models.apitoken.ApiToken (getsentry/sentry src/sentry/models/apitoken.py,
current master text: a ReplicatedControlModel whose deletes replicate through the model): a
user's token, personal (no application) or issued to an OAuth application on the user's behalf."""
from uuid import uuid4

from django.conf import settings
from django.db import models
from django.utils import timezone


def generate_token():
    return uuid4().hex + uuid4().hex


class ApiToken(models.Model):
    # users can generate tokens without being application-bound
    application_id = models.BigIntegerField(null=True)
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE)
    # Tokens can be scoped to only access a single organization.
    scoping_organization_id = models.BigIntegerField(null=True)
    name = models.CharField(max_length=255, null=True)
    token = models.CharField(max_length=71, unique=True, default=generate_token)
    hashed_token = models.CharField(max_length=128, unique=True, null=True)
    expires_at = models.DateTimeField(null=True)
    date_added = models.DateTimeField(default=timezone.now)

    class Meta:
        app_label = "sentry"
        db_table = "sentry_apitoken"
