"""Stand-in for sentry.users.models.useremail.UserEmail (getsentry/sentry src/sentry/users/models/useremail.py)
and the receiver that gives every new user an unverified primary UserEmail row."""
from django.conf import settings
from django.db import models
from django.db.models.signals import post_save


class UserEmail(models.Model):
    user = models.ForeignKey(settings.AUTH_USER_MODEL, related_name="emails", on_delete=models.CASCADE)
    email = models.EmailField(max_length=200)
    is_verified = models.BooleanField(default=False)

    class Meta:
        app_label = "sentry"
        db_table = "sentry_useremail"
        unique_together = (("user", "email"),)


def create_user_email(instance, created, **kwargs):
    # Sentry's receiver does this for every new user: an unverified primary UserEmail row.
    if created and instance.email:
        UserEmail.objects.get_or_create(user=instance, email=instance.email)


post_save.connect(create_user_email, sender=settings.AUTH_USER_MODEL, dispatch_uid="create_user_email", weak=False)
