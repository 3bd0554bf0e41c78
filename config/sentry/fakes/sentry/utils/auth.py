"""Stand-in for sentry.utils.auth (getsentry/sentry src/sentry/utils/auth.py, current master text,
the typed version whose EmailAuthBackend.get_user returns user_service.get_user(...), an RpcUser;
the older copy @ 3448d759f43d1e2a5821fb5fad36849b419fc40c has the same login steps): the login
helper with its real signature and steps, and the backend."""
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
    if user.has_2fa() and not passed_2fa:
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
    _login(request, user)  # Django's: needs user._meta, which an RpcUser does not have
    return True


class EmailAuthBackend(ModelBackend):
    def user_can_authenticate(self, user):
        return True

    def get_user(self, user_id):
        # The real one: user_service.get_user(user_id=user_id), a serialized RpcUser.
        from sentry.users.models.user import User
        from sentry.users.services.user.model import serialize_rpc_user

        user = User.objects.filter(pk=user_id).first()
        return serialize_rpc_user(user) if user else None
