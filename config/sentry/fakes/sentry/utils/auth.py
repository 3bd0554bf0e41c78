"""Stand-in for sentry.utils.auth (getsentry/sentry src/sentry/utils/auth.py, current master text,
the typed version whose EmailAuthBackend.get_user returns user_service.get_user(...), an RpcUser;
the older copies @ 3448d759f43d1e2a5821fb5fad36849b419fc40c and
@ 008af598c5c946bce4e0f9e99c0478cd98dd5c9d have the same login steps): the login helper with its
real signature and steps (the 2FA branch with ``_pending_2fa``/``_after_2fa``, the expired-password
check after it, the nonce, Django's login and so its ``user_logged_in`` receivers, sudo's among
them), the pending-2FA helpers the 2FA view uses, and the backend."""
from time import time

from django.conf import settings
from django.contrib.auth import login as _login
from django.contrib.auth.backends import ModelBackend

MFA_SESSION_KEY = "mfa"

# Every call, so tests can see the helper (not Django's login) was used and with what.
CALLS = []


class AuthUserPasswordExpired(Exception):
    def __init__(self, user):
        self.user = user


def get_pending_2fa_user(request):
    rv = request.session.get("_pending_2fa")
    if rv is None:
        return None
    user_id, created_at = rv[:2]
    if created_at < time() - 60 * 5:
        return None
    from sentry.users.models.user import User

    return User.objects.filter(pk=user_id).first()


def has_pending_2fa(request):
    return request.session.get("_pending_2fa") is not None


def get_login_redirect(request, default="/auth/login/"):
    # Pending 2FA first, then _after_2fa, then _next (is_valid_redirect left out: tests set none).
    if has_pending_2fa(request):
        return "/auth/2fa/"
    after_2fa = request.session.pop("_after_2fa", None)
    if after_2fa is not None:
        return after_2fa
    return request.session.pop("_next", None) or default


def login(request, user, passed_2fa=None, after_2fa=None, organization_id=None, source=None):
    CALLS.append({"user_id": user.pk, "passed_2fa": passed_2fa, "after_2fa": after_2fa, "source": source})
    has_2fa = user.has_2fa()
    if passed_2fa is None:
        passed_2fa = request.session.get(MFA_SESSION_KEY, "") == str(user.id)

    if has_2fa and not passed_2fa:
        request.session["_pending_2fa"] = [user.id, time(), organization_id]
        if after_2fa is not None:
            request.session["_after_2fa"] = after_2fa
        request.session.modified = True
        return False

    if passed_2fa:
        request.session[MFA_SESSION_KEY] = str(user.id)
        request.session.modified = True

    mfa_state = request.session.pop("_pending_2fa", ())
    if organization_id is None and len(mfa_state) == 3:
        organization_id = mfa_state[2]

    # Checked after the 2FA step, as the real helper does.
    if user.is_password_expired:
        raise AuthUserPasswordExpired(user)

    # The nonce binding is why the module must not call Django's login directly.
    if user.session_nonce is not None:
        request.session["_nonce"] = user.session_nonce
    if not hasattr(user, "backend"):
        user.backend = settings.AUTHENTICATION_BACKENDS[0]
    # Django's: needs user._meta (an RpcUser has none), and sends user_logged_in, whose receivers
    # include sudo's grant (src/sudo/signals.py).
    _login(request, user)
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
