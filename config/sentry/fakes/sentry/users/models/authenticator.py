"""Stand-in for sentry.users.models.authenticator.Authenticator (getsentry/sentry
src/sentry/users/models/authenticator.py): a person's Sentry-side second factors (TOTP, U2F/WebAuthn,
SMS) and recovery codes. ``user_has_2fa`` is true when an enrolled interface other than the
backup-only recovery codes exists, as AuthenticatorManager.user_has_2fa decides."""
from django.db import models

RECOVERY_CODE_TYPE = 0  # RecoveryCodeInterface.type: backup only, never enough on its own


class AuthenticatorManager(models.Manager):
    def user_has_2fa(self, user):
        return self.filter(user_id=user.id).exclude(type=RECOVERY_CODE_TYPE).exists()


class Authenticator(models.Model):
    user_id = models.IntegerField(db_index=True)
    type = models.IntegerField()  # 1 TOTP, 2 SMS, 3 U2F (the real AUTHENTICATOR_INTERFACES_BY_TYPE)
    # What the stand-in 2FA view accepts as this authenticator's current code.
    code = models.CharField(max_length=32, default="")

    objects = AuthenticatorManager()

    class Meta:
        app_label = "sentry"
        db_table = "auth_authenticator"
