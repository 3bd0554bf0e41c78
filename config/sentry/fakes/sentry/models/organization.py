from django.db import models


class Organization(models.Model):
    name = models.CharField(max_length=64)
    slug = models.SlugField(unique=True)

    class Meta:
        app_label = "sentry"
        db_table = "sentry_organization"
