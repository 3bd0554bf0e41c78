"""Stand-in for sentry.models.orgauthtoken.OrgAuthToken (getsentry/sentry src/sentry/models/orgauthtoken.py
@ 02178e1a1ea088040b941aed7943a3a9b52a5550): an organization auth token (``sntrys_``); its creator is a
nullable foreign key (SET_NULL), a token works while ``date_deactivated`` is null, and only the last
four characters of the token are kept in clear."""
from django.conf import settings
from django.db import models
from django.utils import timezone


class OrgAuthToken(models.Model):
    organization_id = models.BigIntegerField()
    token_hashed = models.TextField(unique=True)
    token_last_characters = models.CharField(max_length=4, null=True)
    name = models.CharField(max_length=255)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    date_added = models.DateTimeField(default=timezone.now)
    date_last_used = models.DateTimeField(null=True, blank=True)
    date_deactivated = models.DateTimeField(null=True, blank=True)

    class Meta:
        app_label = "sentry"
        db_table = "sentry_orgauthtoken"

    def is_active(self):
        return self.date_deactivated is None
