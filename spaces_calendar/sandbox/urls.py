from django.urls import include, path

from spaces_calendar.sandbox import pieces, views

urlpatterns = [
    path("", views.index, name="sandbox"),
    # Each registered provider's sandbox controls (Microsoft 365's: microsoft/meetings/<action>).
    *[path("", include(module)) for module in pieces.page_modules()],
    path("spaces/activation-token", views.spaces_token, name="sandbox-spaces-token"),
]
