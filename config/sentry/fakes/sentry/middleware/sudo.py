"""Stand-in for sentry.middleware.sudo.SudoMiddleware (getsentry/sentry src/sentry/middleware/sudo.py
@ c258bf2bd2f67e7d3a7ca893de223c7f9f0202ff): a user without a usable password is always in sudo."""
from sudo.middleware import SudoMiddleware as BaseSudoMiddleware


class SudoMiddleware(BaseSudoMiddleware):
    def has_sudo_privileges(self, request):
        # Users without a password are assumed to always have sudo powers
        user = request.user
        if user.is_authenticated and not user.has_usable_password():
            return True

        return super().has_sudo_privileges(request)
