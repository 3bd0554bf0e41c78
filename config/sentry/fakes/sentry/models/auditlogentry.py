"""Stand-in for sentry.models.auditlogentry.AuditLogEntry (getsentry/sentry
src/sentry/models/auditlogentry.py): the columns an organization audit entry fills."""
from django.db import models
from django.utils import timezone


class AuditLogEntry(models.Model):
    organization_id = models.BigIntegerField()
    actor_label = models.CharField(max_length=64, null=True, blank=True)
    actor_id = models.BigIntegerField(null=True)
    actor_key_id = models.BigIntegerField(null=True)
    target_object = models.BigIntegerField(null=True)
    target_user_id = models.BigIntegerField(null=True)
    event = models.PositiveIntegerField()
    ip_address = models.GenericIPAddressField(null=True, unpack_ipv4=True)
    data = models.JSONField(default=dict)
    datetime = models.DateTimeField(default=timezone.now)

    class Meta:
        app_label = "sentry"
        db_table = "sentry_auditlogentry"
