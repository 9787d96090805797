from django.urls import path

from . import views

urlpatterns = [
    path("account/api-tokens/", views.api_tokens, name="api-tokens"),
    path("account/api-tokens/<int:token_id>/revoke", views.revoke, name="api-token-revoke"),
]
