from django.urls import path

from . import api, docs, views

urlpatterns = [
    # The most polled first. str, not int: a malformed id gets the API's JSON 400 instead of Django's HTML 404.
    path("api/v1/rooms/<str:room_id>/status", api.RoomStatus.as_view(), name="kiosk-api-room-status"),
    path("api/v1/rooms/status", api.RoomStatusList.as_view(), name="kiosk-api-room-status-list"),
    path("api/v1/rooms/available", api.AvailableRooms.as_view(), name="kiosk-api-available-rooms"),
    path("api/v1/rooms/<path:rest>", api.no_such_endpoint, name="kiosk-api-unknown"),
    path("api/docs/", docs.OfflineSwaggerView.as_view(), name="api-docs"),
    path("api/docs/assets/<str:name>", docs.asset, name="api-docs-asset"),
    path("kiosk/", views.kiosk, name="kiosk"),
    path("kiosk/<str:token>/", views.kiosk_with_token, name="kiosk-token"),
    path("kiosk-tokens/", views.kiosk_tokens, name="kiosk-tokens"),
    path("kiosk-tokens/<int:token_id>/revoke", views.revoke, name="kiosk-token-revoke"),
]
