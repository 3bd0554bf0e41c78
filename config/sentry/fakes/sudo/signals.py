"""Stand-in for sudo.signals (getsentry/sentry src/sudo/signals.py
@ 032b0990fddd59e12d1b4a0d7c0a9b9852e63ded): every login grants sudo (for COOKIE_AGE), every
logout revokes it. Registered by importing sudo.models, as installing the app does."""
from django.contrib.auth.signals import user_logged_in, user_logged_out
from django.dispatch import receiver

from sudo.utils import grant_sudo_privileges, revoke_sudo_privileges


@receiver(user_logged_in)
def grant(sender, request, **kwargs):
    grant_sudo_privileges(request)


@receiver(user_logged_out)
def revoke(sender, request, **kwargs):
    revoke_sudo_privileges(request)
