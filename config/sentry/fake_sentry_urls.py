"""URLs of the stand-in Sentry used by the middleware tests: a page, an API POST, token creation
(behind sudo, as Sentry's ApiTokensEndpoint.post is @sudo_required), the sudo modal's
PUT /api/0/auth/, Sentry's 2FA page /auth/2fa/, a health path."""
from django.http import HttpResponse, JsonResponse
from django.middleware.csrf import get_token
from django.urls import path
from django.views.decorators.csrf import csrf_protect


def whoami(request):
    user = request.user
    return JsonResponse(
        {
            "user_id": user.pk if user.is_authenticated else None,
            "csrf": get_token(request),
            "sudo": bool(request.is_sudo()),
            "superuser_active": bool(getattr(getattr(request, "superuser", None), "is_active", False)),
        }
    )


def api_write(request):
    return JsonResponse({"ok": True, "user_id": request.user.pk if request.user.is_authenticated else None})


def api_tokens(request):
    # src/sentry/users/api/endpoints/api_tokens.py: POST is @sudo_required; SudoRequired answers
    # 401 {"detail": {"code": "sudo-required", ...}} (src/sentry/api/exceptions.py).
    from sentry.api.decorators import is_considered_sudo
    from sentry.models.apitoken import ApiToken

    if request.method != "POST":
        return JsonResponse({"detail": "method"}, status=405)
    if not request.user.is_authenticated:
        return JsonResponse({"detail": "Authentication credentials were not provided."}, status=401)
    if not is_considered_sudo(request):
        return JsonResponse({"detail": {"code": "sudo-required", "message": "Account verification required."}}, status=401)
    token = ApiToken.objects.create(user_id=request.user.pk, name="made in a test")
    return JsonResponse({"token": token.token}, status=201)


def auth_index(request):
    # src/sentry/api/endpoints/auth_index.py AuthIndexEndpoint.put: the sudo modal's "Confirm
    # Password" (static/app/components/modals/sudoModal.tsx sends PUT /api/0/auth/ {password}).
    # A wrong password is 403 {"detail": {"code": "ignore"}}; a right one logs in again (which
    # fires user_logged_in, so sudo's receiver grants sudo) and answers the user.
    import json

    from sentry.users.models.user import User
    from sentry.utils import auth

    if request.method != "PUT":
        return JsonResponse({"detail": "method"}, status=405)
    if not request.user.is_authenticated:
        return JsonResponse({}, status=401)
    password = json.loads(request.body or b"{}").get("password")
    if not password:
        return JsonResponse({"password": ["This field is required."]}, status=400)
    user = User.objects.get(pk=request.user.pk)
    if not user.check_password(password):
        return JsonResponse({"detail": {"code": "ignore"}}, status=403)
    try:
        auth.login(request, user)
    except auth.AuthUserPasswordExpired:
        return JsonResponse({"code": "password-expired"}, status=403)
    return JsonResponse({"id": str(user.pk)}, status=200)


@csrf_protect
def two_factor(request):
    # src/sentry/web/frontend/twofactor.py TwoFactorAuthView: the person named by _pending_2fa
    # (at most 5 minutes old, else back to the login page) types a code of one of their Sentry
    # authenticators; on success login(..., passed_2fa=True) and the redirect get_login_redirect
    # gives (_after_2fa first).
    from django.http import HttpResponseRedirect
    from sentry.users.models.authenticator import Authenticator
    from sentry.utils import auth

    user = auth.get_pending_2fa_user(request)
    if user is None:
        return HttpResponseRedirect("/auth/login/")
    if request.method == "POST":
        code = request.POST.get("otp", "")
        if code and Authenticator.objects.filter(user_id=user.pk, code=code).exists():
            auth.login(request, user, passed_2fa=True)
            return HttpResponseRedirect(auth.get_login_redirect(request))
    get_token(request)
    return HttpResponse("two-factor authentication required for user %s" % user.pk)


def health(request):
    return HttpResponse("ok")


urlpatterns = [
    path("", whoami),
    path("organizations/acme/", whoami),
    path("api/0/things/", api_write),
    path("api/0/api-tokens/", api_tokens),
    path("api/0/auth/", auth_index),
    path("auth/2fa/", two_factor),
    path("_health/", health),
]
