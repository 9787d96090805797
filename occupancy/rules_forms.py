"""Forms of the occupancy rules page: the tenant's rules, and a room's own grace window."""

from __future__ import annotations

from django import forms

from spaces_calendar.core.models import Room, Tenant

from .rules import EXEMPT_HOURS, GRACE_MINUTES


def _minutes_field(**kwargs) -> forms.IntegerField:
    return forms.IntegerField(min_value=GRACE_MINUTES[0], max_value=GRACE_MINUTES[1], **kwargs)


class PolicyForm(forms.Form):
    grace_minutes = _minutes_field(
        label="Grace window (minutes)",
        help_text="A booking is a ghost when its room stays empty from the start through this window; presence "
                  "that first shows up after it makes a late start. Time without sensor data never counts as "
                  "empty: such a booking is “unknown”, never a ghost.")
    exempt_after_hours = forms.IntegerField(
        min_value=EXEMPT_HOURS[0], max_value=EXEMPT_HOURS[1], label="Exempt bookings of this many hours or more",
        help_text="Bookings this long or longer, and all-day events, get no outcome: they are never ghosts.")
    show_subjects = forms.BooleanField(
        required=False, label="Show meeting subjects on kiosks",
        help_text="Room screens then show each booking's subject. Private meetings never show theirs.")


class RoomChoiceField(forms.ModelChoiceField):
    def label_from_instance(self, obj: Room) -> str:
        return f"{obj.floor.building.name} / {obj.floor.name} / {obj.name}"


class RoomGraceForm(forms.Form):
    room = RoomChoiceField(queryset=Room.objects.none())
    grace_minutes = _minutes_field(label="Grace window (minutes)")

    def __init__(self, *args, tenant: Tenant, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fields["room"].queryset = (Room.objects.filter(tenant=tenant).select_related("floor__building")
                                        .order_by("floor__building__name", "floor__level", "floor__name", "name"))

    def names_no_room(self) -> bool:
        """The room posted is not one of the tenant's (another tenant's, or none at all)."""
        return self.has_error("room", "invalid_choice")
