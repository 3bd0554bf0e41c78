"""Stand-in for sudo.utils.grant_sudo_privileges: a random token in the session and on the request."""
from django.utils.crypto import get_random_string

from sudo.settings import COOKIE_AGE, COOKIE_NAME


def grant_sudo_privileges(request, max_age=COOKIE_AGE):
    user = getattr(request, "user", None)
    if user is None:
        return None
    if not user.is_authenticated:
        raise ValueError("User needs to be logged in to be elevated to sudo")
    token = get_random_string(12)
    request.session[COOKIE_NAME] = token
    request._sudo = True
    request._sudo_token = token
    request._sudo_max_age = max_age
    return token
