"""Stand-in for sentry.users.models.user.User: the fields the gateway module reads or sets."""
from django.contrib.auth.base_user import AbstractBaseUser, BaseUserManager
from django.db import models
from django.utils import timezone


class UserManager(BaseUserManager):
    pass


class User(AbstractBaseUser):
    username = models.CharField(max_length=128, unique=True)
    # Sentry keeps the display name in the column Django calls first_name.
    name = models.CharField(max_length=200, blank=True, db_column="first_name")
    email = models.EmailField(blank=True, max_length=75)
    is_staff = models.BooleanField(default=False)
    is_active = models.BooleanField(default=True)
    is_superuser = models.BooleanField(default=False)
    is_managed = models.BooleanField(default=False)
    is_sentry_app = models.BooleanField(default=False)
    is_password_expired = models.BooleanField(default=False)
    session_nonce = models.CharField(max_length=12, null=True)
    date_joined = models.DateTimeField(default=timezone.now)

    objects = UserManager()

    USERNAME_FIELD = "username"
    REQUIRED_FIELDS = ["email"]

    class Meta:
        app_label = "sentry"
        db_table = "auth_user"
