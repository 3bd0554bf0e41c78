"""Stand-in for sentry.models.organizationmember (getsentry/sentry src/sentry/models/organizationmember.py
@ 00c84af34b78b2c8012021dcf2d7d9396ba37881): a pending invite is a row with email, token and no
user; a token past token_expires_at is expired (a row without an expiry never expires)."""
from datetime import timedelta
from enum import Enum
from uuid import uuid4

from django.conf import settings
from django.db import models
from django.utils import timezone

INVITE_DAYS_VALID = 30


class InviteStatus(Enum):
    APPROVED = 0
    REQUESTED_TO_BE_INVITED = 1
    REQUESTED_TO_JOIN = 2


class OrganizationMember(models.Model):
    organization = models.ForeignKey("sentry.Organization", related_name="member_set", on_delete=models.CASCADE)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, related_name="sentry_orgmember_set", on_delete=models.CASCADE
    )
    email = models.EmailField(null=True, blank=True, max_length=75)
    role = models.CharField(max_length=32, default="member")
    token = models.CharField(max_length=64, null=True, blank=True, unique=True)
    token_expires_at = models.DateTimeField(default=None, null=True)
    invite_status = models.PositiveSmallIntegerField(default=InviteStatus.APPROVED.value, null=True)
    teams = models.JSONField(default=list)  # the real one is a many-to-many; kept on the row here

    class Meta:
        app_label = "sentry"
        db_table = "sentry_organizationmember"
        unique_together = (("organization", "user"), ("organization", "email"))

    def save(self, *args, **kwargs):
        assert self.user_id or self.email, "Must set user or email"
        if self.token and not self.token_expires_at:
            self.token_expires_at = timezone.now() + timedelta(days=INVITE_DAYS_VALID)
        super().save(*args, **kwargs)

    @staticmethod
    def generate_token():
        return uuid4().hex + uuid4().hex

    @property
    def is_pending(self):
        return self.user_id is None

    @property
    def invite_approved(self):
        return self.invite_status == InviteStatus.APPROVED.value

    @property
    def token_expired(self):
        # Old tokens don't expire to preserve compatibility and not require a backfill migration.
        if self.token_expires_at is None:
            return False
        if self.token_expires_at > timezone.now():
            return False
        return True

    def set_user(self, user_id):
        # The current signature takes a user id (older releases took the User).
        self.user_id = user_id
        self.email = None
        self.token = None
        self.token_expires_at = None

    def get_audit_log_metadata(self):
        return {
            "email": self.email,
            "user": self.user_id,
            "teams": list(self.teams),
            "role": self.role,
            "invite_status": self.invite_status,
        }
