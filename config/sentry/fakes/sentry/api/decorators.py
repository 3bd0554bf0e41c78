"""Stand-in for sentry.api.decorators (getsentry/sentry src/sentry/api/decorators.py
@ 0c2925a4c6a382e8b3881714fd64c342983f51de): what a @sudo_required endpoint (creating an auth
token, for one) accepts. Token-authenticated requests and password-less users always pass."""


def is_considered_sudo(request):
    # Users without a password are assumed to always have sudo powers
    user = request.user
    return (
        request.is_sudo()
        or getattr(request, "auth", None) is not None
        or user.is_authenticated
        and not user.has_usable_password()
    )
