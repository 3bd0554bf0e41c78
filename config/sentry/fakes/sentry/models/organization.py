"""Stand-in for sentry.models.organization.Organization (getsentry/sentry
src/sentry/models/organization.py): name, slug, and ``flags.require_2fa`` (a BitField flag there,
the organization's "Require Two-Factor Authentication" setting)."""
from types import SimpleNamespace

from django.db import models


class Organization(models.Model):
    name = models.CharField(max_length=64)
    slug = models.SlugField(unique=True)
    require_2fa = models.BooleanField(default=False)

    @property
    def flags(self):
        return SimpleNamespace(require_2fa=self.require_2fa)

    class Meta:
        app_label = "sentry"
        db_table = "sentry_organization"
