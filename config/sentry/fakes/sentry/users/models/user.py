"""Stand-in for sentry.users.models.user.User (getsentry/sentry src/sentry/users/models/user.py
@ 0375810807b18c1ed830e55b5e528f74b7edfcdd): the fields the module reads or sets, the
password rule, the session nonce and the logout receivers that rotate it."""
from django.contrib.auth.base_user import AbstractBaseUser, BaseUserManager
from django.contrib.auth.signals import user_logged_out
from django.db import models
from django.utils import timezone

from sentry.users.services.user.model import RpcUser


class UserManager(BaseUserManager):
    pass


class User(AbstractBaseUser):
    username = models.CharField(max_length=128, unique=True)
    # Sentry keeps the display name in the column Django calls first_name.
    name = models.CharField(max_length=200, blank=True, db_column="first_name")
    email = models.EmailField(blank=True, max_length=200)
    is_staff = models.BooleanField(default=False)
    is_active = models.BooleanField(default=True)
    is_superuser = models.BooleanField(default=False)
    is_managed = models.BooleanField(default=False)
    is_sentry_app = models.BooleanField(null=True, default=None)
    is_password_expired = models.BooleanField(default=False)
    session_nonce = models.CharField(max_length=12, null=True)
    date_joined = models.DateTimeField(default=timezone.now)

    objects = UserManager()

    USERNAME_FIELD = "username"
    REQUIRED_FIELDS = ["email"]

    class Meta:
        app_label = "sentry"
        db_table = "auth_user"

    def has_usable_password(self):
        # As the real one: "" or None is not usable (Django 2.1+ would say it is).
        if self.password == "" or self.password is None:
            return False
        return super().has_usable_password()

    def has_2fa(self):
        # As the real one: Authenticator.objects.user_has_2fa(self).
        from sentry.users.models.authenticator import Authenticator

        return Authenticator.objects.user_has_2fa(self)

    def refresh_session_nonce(self, request=None):
        from django.utils.crypto import get_random_string

        self.session_nonce = get_random_string(12)
        if request is not None:
            request.session["_nonce"] = self.session_nonce


# As the real module: logging out rotates the nonce, which ends *every* session of the user
# (Sentry's auth middleware treats a session whose _nonce differs as anonymous).
def refresh_user_nonce(sender, request, user, **kwargs):
    if user is None:
        return
    user.refresh_session_nonce()
    user.save(update_fields=["session_nonce"])


def refresh_api_user_nonce(sender, request, user, **kwargs):
    if user is None:
        return
    user = User.objects.get(id=user.id)
    refresh_user_nonce(sender, request, user, **kwargs)


user_logged_out.connect(refresh_user_nonce, sender=User, weak=False, dispatch_uid="refresh_user_nonce")
user_logged_out.connect(refresh_api_user_nonce, sender=RpcUser, weak=False, dispatch_uid="refresh_api_user_nonce")
