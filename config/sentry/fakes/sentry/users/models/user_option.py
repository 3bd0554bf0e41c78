"""Stand-in for sentry.users.models.user_option.UserOption (getsentry/sentry
src/sentry/users/models/user_option.py @ 0264cf4e26dd932c04d1eab59dfc26b9bb728ff1): same table,
columns and unique constraints; the value is a JSON column as in the real model."""
from django.conf import settings
from django.db import models


class UserOption(models.Model):
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE)
    project_id = models.BigIntegerField(null=True)
    organization_id = models.BigIntegerField(null=True)
    key = models.CharField(max_length=64)
    value = models.JSONField(null=True)

    class Meta:
        app_label = "sentry"
        db_table = "sentry_useroption"
        unique_together = (("user", "project_id", "key"), ("user", "organization_id", "key"))
