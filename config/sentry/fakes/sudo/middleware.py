"""Stand-in for sudo.middleware.SudoMiddleware (getsentry/sentry src/sudo/middleware.py
@ 269d5eedf9ec5239e56c8601214805fbe036c41c): request.is_sudo(), and the signed sudo cookie."""
from django.utils.deprecation import MiddlewareMixin

from sudo.settings import COOKIE_NAME, COOKIE_SALT
from sudo.utils import has_sudo_privileges


class SudoMiddleware(MiddlewareMixin):
    def has_sudo_privileges(self, request):
        return has_sudo_privileges(request)

    def process_request(self, request):
        request.is_sudo = lambda: self.has_sudo_privileges(request)

    def process_response(self, request, response):
        is_sudo = getattr(request, "_sudo", None)
        if is_sudo is None:
            return response
        if is_sudo is False and COOKIE_NAME in request.COOKIES:
            response.delete_cookie(COOKIE_NAME)
            return response
        if is_sudo is True and hasattr(request, "_sudo_token"):
            response.set_signed_cookie(
                COOKIE_NAME,
                request._sudo_token,
                salt=COOKIE_SALT,
                max_age=request._sudo_max_age,
                secure=request.is_secure(),
                httponly=True,
            )
        return response
