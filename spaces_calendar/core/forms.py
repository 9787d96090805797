"""Forms of the first-run pages."""

from __future__ import annotations

from functools import cache
from zoneinfo import available_timezones

from django import forms

from .models import Tenant, validate_time_zone

TIME_ZONE_LIST_ID = "time-zones"


@cache
def time_zone_names() -> list[str]:
    """Every IANA zone name this Python knows, for a ``<datalist>`` (typing one in is validated all the same)."""
    return sorted(name for name in available_timezones() if "/" in name or name == "UTC")


class TimeZoneField(forms.CharField):
    def __init__(self, **kwargs) -> None:
        kwargs.setdefault("max_length", Tenant._meta.get_field("time_zone").max_length)
        super().__init__(validators=[validate_time_zone], **kwargs)

    def widget_attrs(self, widget: forms.Widget) -> dict[str, str]:
        return {**super().widget_attrs(widget), "list": TIME_ZONE_LIST_ID, "autocomplete": "off", "spellcheck": "false"}


class WorkplaceForm(forms.Form):
    name = forms.CharField(max_length=Tenant._meta.get_field("name").max_length, label="Workplace name",
                           help_text="Your organisation, as your colleagues will see it (e.g. Contoso Oslo).")
    time_zone = TimeZoneField(
        label="Time zone",
        help_text="Where most of your rooms are (e.g. Europe/Oslo). It decides what “today” means in reports and is "
                  "the default of every building you add; each building can have its own.")
