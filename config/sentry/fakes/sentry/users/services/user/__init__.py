from sentry.users.services.user.model import RpcUser  # noqa: F401
