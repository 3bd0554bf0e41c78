"""Stand-in for sentry.middleware.auth.AuthenticationMiddleware (getsentry/sentry
src/sentry/middleware/auth.py @ 002b1bcb09da4e11ac82e6e110ea705b205af48a).

Like the real one: a recognised token sets request.user and request.auth; an Authorization header
no authenticator accepts falls back to the session user; the session user is anonymous when the
user's session nonce no longer matches the session's.
"""
from django.contrib.auth import get_user as auth_get_user
from django.contrib.auth.models import AnonymousUser
from django.utils.functional import SimpleLazyObject

# token string -> user id; tests fill it (ApiToken rows work as well).
TOKENS = {}


def get_user(request):
    if not hasattr(request, "_cached_user"):
        user = auth_get_user(request)
        if user.is_authenticated and not user.is_sentry_app and user.session_nonce and request.session.get("_nonce", "") != user.session_nonce:
            user = AnonymousUser()
        request._cached_user = user
    return request._cached_user


class AuthenticationMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        self.process_request(request)
        return self.get_response(request)

    def process_request(self, request):
        header = request.META.get("HTTP_AUTHORIZATION", "").split()
        if len(header) == 2 and header[0].lower() == "bearer":
            from sentry.models.apitoken import ApiToken
            from sentry.users.models.user import User

            from django.utils import timezone

            # UserAuthTokenAuthentication (src/sentry/api/authentication.py, current master text):
            # an ApiToken row, not expired, of an active user ("Token expired", "User inactive or
            # deleted" otherwise, and this middleware falls back to the session user).
            row = ApiToken.objects.filter(token=header[1]).select_related("user").first()
            expired = row is not None and row.expires_at is not None and timezone.now() >= row.expires_at
            if row is not None and not expired and row.user.is_active:
                request.user, request.auth = row.user, row
                return
            if header[1] in TOKENS:
                request.user = User.objects.get(pk=TOKENS[header[1]])
                request.auth = header[1]
                return
        request.user = SimpleLazyObject(lambda: get_user(request))
