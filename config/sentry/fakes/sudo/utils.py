"""Stand-in for sudo.utils (getsentry/sentry src/sudo/utils.py
@ 0c0611675bf6440e17760dcd41e257311df67eb5): grant, revoke and check sudo."""
from django.core.signing import BadSignature
from django.utils.crypto import constant_time_compare, get_random_string

from sudo.settings import COOKIE_AGE, COOKIE_NAME, COOKIE_SALT


def grant_sudo_privileges(request, max_age=COOKIE_AGE):
    user = getattr(request, "user", None)
    if user is None:
        return None
    if not user.is_authenticated:
        raise ValueError("User needs to be logged in to be elevated to sudo")
    # The real one calls get_random_string() (12 characters); newer Django wants the length.
    token = get_random_string(12)
    request.session[COOKIE_NAME] = token
    request._sudo = True
    request._sudo_token = token
    request._sudo_max_age = max_age
    return token


def revoke_sudo_privileges(request):
    request._sudo = False
    if COOKIE_NAME in request.session:
        del request.session[COOKIE_NAME]


def has_sudo_privileges(request):
    if getattr(request, "_sudo", None) is None:
        try:
            request._sudo = request.user.is_authenticated and constant_time_compare(
                request.get_signed_cookie(COOKIE_NAME, salt=COOKIE_SALT, max_age=COOKIE_AGE),
                request.session[COOKIE_NAME],
            )
        except (KeyError, BadSignature):
            request._sudo = False
    return request._sudo
