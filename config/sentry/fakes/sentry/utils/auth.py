"""Stand-in for sentry.utils.auth: the login helper with its real signature and the steps the module relies on."""
from django.conf import settings
from django.contrib.auth import login as _login
from django.contrib.auth.backends import ModelBackend

MFA_SESSION_KEY = "mfa"

# Every call, so tests can see the helper (not Django's login) was used and with what.
CALLS = []


class AuthUserPasswordExpired(Exception):
    def __init__(self, user):
        self.user = user


def login(request, user, passed_2fa=None, after_2fa=None, organization_id=None, source=None):
    CALLS.append({"user_id": user.pk, "passed_2fa": passed_2fa, "source": source})
    if passed_2fa is None:
        passed_2fa = request.session.get(MFA_SESSION_KEY, "") == str(user.id)
    if not passed_2fa and getattr(user, "has_2fa", False):
        request.session["_pending_2fa"] = [user.id, 0, organization_id]
        return False
    if passed_2fa:
        request.session[MFA_SESSION_KEY] = str(user.id)
    if user.is_password_expired:
        raise AuthUserPasswordExpired(user)
    # The nonce binding is why the module must not call Django's login directly.
    if user.session_nonce is not None:
        request.session["_nonce"] = user.session_nonce
    if not hasattr(user, "backend"):
        user.backend = settings.AUTHENTICATION_BACKENDS[0]
    _login(request, user)
    return True


class EmailAuthBackend(ModelBackend):
    def user_can_authenticate(self, user):
        return True
