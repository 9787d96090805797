"""The review form of a room import: which rows, the time zone of each new building, and where rooms without a
building or floor go. Its fields follow the plan, so it is built from one."""

from __future__ import annotations

from django import forms
from django.http import QueryDict

from spaces_calendar.core.forms import TimeZoneField
from spaces_calendar.core.models import Building, Floor

from .room_import import DEFAULT_BUILDING, DEFAULT_FLOOR, ImportChoices, ImportPlan


class FallbackForm(forms.Form):
    """Where rooms the directory gives no building or floor go; read first, because the plan depends on it."""

    fallback_building = forms.CharField(
        max_length=Building._meta.get_field("name").max_length, required=False, initial=DEFAULT_BUILDING,
        label="Building for rooms the directory puts in none")
    fallback_floor = forms.CharField(
        max_length=Floor._meta.get_field("name").max_length, required=False, initial=DEFAULT_FLOOR,
        label="Floor for rooms the directory puts on none")

    def names(self) -> dict[str, str]:
        """The names to plan with; a blank or invalid one falls back to the default."""
        if not self.is_bound:
            return {"fallback_building": DEFAULT_BUILDING, "fallback_floor": DEFAULT_FLOOR}
        data = self.cleaned_data if self.is_valid() else {}
        return {"fallback_building": data.get("fallback_building") or DEFAULT_BUILDING,
                "fallback_floor": data.get("fallback_floor") or DEFAULT_FLOOR}


class ImportForm(FallbackForm):
    def __init__(self, plan: ImportPlan, data: QueryDict | None = None) -> None:
        super().__init__(data, initial={"fallback_building": plan.fallback_building,
                                        "fallback_floor": plan.fallback_floor})
        self.plan = plan
        for building in plan.new_buildings:
            # Not required: a building that only appears on submit (the admin renamed the fallback building to a
            # new one) has had no field to fill in, and takes the default like an untouched field.
            self.fields[self.zone_field(building.key)] = TimeZoneField(
                initial=building.time_zone, required=False, label=f"Time zone of {building.name}")

    @staticmethod
    def zone_field(key: str) -> str:
        return f"tz_{key}"

    def zone_input(self, key: str) -> forms.BoundField:
        return self[self.zone_field(key)]

    def choices(self) -> ImportChoices:
        """What the admin chose (call after is_valid); rows the plan does not offer are ignored."""
        offered = {item.email for item in self.plan.rooms if item.importable}
        existing = {item.email for item in self.plan.rooms if item.room is not None}
        picked = set(self.data.getlist("room")) if self.is_bound else offered
        updates = set(self.data.getlist("update")) if self.is_bound else set()
        zones = {building.key: self.cleaned_data.get(self.zone_field(building.key)) or building.time_zone
                 for building in self.plan.new_buildings}
        return ImportChoices(rooms=frozenset(picked & offered), update=frozenset(updates & existing), time_zones=zones)
