"""Stand-in for Sentry's SuperuserMiddleware and the login receiver that turns superuser mode on.

On self-hosted Sentry, logging in a superuser activates superuser mode only if request.superuser
already exists, i.e. if the login happens after SuperuserMiddleware ran.
"""
from django.contrib.auth.signals import user_logged_in


class Superuser:
    def __init__(self, request):
        self.request = request
        self.is_active = False

    def set_logged_in(self, user):
        self.is_active = True


class SuperuserMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        request.superuser = Superuser(request)
        return self.get_response(request)


def enable_superuser(request, user, **kwargs):
    su = getattr(request, "superuser", None)
    if su and user.is_superuser:
        su.set_logged_in(user)


user_logged_in.connect(enable_superuser, dispatch_uid="enable_superuser", weak=False)
