"""Stand-in for sentry.middleware.sudo.SudoMiddleware (getsentry/sentry src/sentry/middleware/sudo.py
@ 008af598c5c946bce4e0f9e99c0478cd98dd5c9d; the older copy @ c258bf2bd2f67e7d3a7ca893de223c7f9f0202ff
compares the password with EMPTY_PASSWORD_VALUES): a user without a usable password is always
in sudo."""
from sudo.middleware import SudoMiddleware as BaseSudoMiddleware


class SudoMiddleware(BaseSudoMiddleware):
    def has_sudo_privileges(self, request):
        # Users without a password are assumed to always have sudo powers
        user = request.user
        if user.is_authenticated and not user.has_usable_password():
            return True

        return super().has_sudo_privileges(request)
