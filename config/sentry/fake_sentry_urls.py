"""URLs of the stand-in Sentry used by the middleware tests: a page, an API POST, token creation
(behind sudo, as Sentry's ApiTokensEndpoint.post is @sudo_required), a health path."""
from django.http import HttpResponse, JsonResponse
from django.middleware.csrf import get_token
from django.urls import path


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


def health(request):
    return HttpResponse("ok")


urlpatterns = [
    path("", whoami),
    path("organizations/acme/", whoami),
    path("api/0/things/", api_write),
    path("api/0/api-tokens/", api_tokens),
    path("_health/", health),
]
