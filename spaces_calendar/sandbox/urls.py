from django.urls import path

from spaces_calendar.sandbox import views

urlpatterns = [
    path("", views.index, name="sandbox"),
    path("microsoft/meetings/<slug:action>", views.change_meeting, name="sandbox-meeting"),
    path("spaces/activation-token", views.spaces_token, name="sandbox-spaces-token"),
]
