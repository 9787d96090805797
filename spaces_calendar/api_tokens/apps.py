from django.apps import AppConfig


class ApiTokensConfig(AppConfig):
    name = "spaces_calendar.api_tokens"
    label = "api_tokens"
    verbose_name = "API tokens"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from spaces_calendar.api_tokens import auth  # noqa: F401  (registers the OpenAPI security scheme)
