"""URLs of the stand-in Sentry used by the middleware tests: a page, an API POST, a health path."""
from django.http import HttpResponse, JsonResponse
from django.middleware.csrf import get_token
from django.urls import path


def whoami(request):
    user = request.user
    return JsonResponse(
        {
            "user_id": user.pk if user.is_authenticated else None,
            "csrf": get_token(request),
            "sudo": bool(getattr(request, "_sudo", False)),
            "superuser_active": bool(getattr(getattr(request, "superuser", None), "is_active", False)),
        }
    )


def api_write(request):
    return JsonResponse({"ok": True, "user_id": request.user.pk if request.user.is_authenticated else None})


def health(request):
    return HttpResponse("ok")


urlpatterns = [
    path("", whoami),
    path("organizations/acme/", whoami),
    path("api/0/things/", api_write),
    path("_health/", health),
]
