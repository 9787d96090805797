"""Forms for issuing kiosk tokens: on the tenant admin's page and in the Django admin."""

from __future__ import annotations

from django import forms
from django.core.exceptions import ValidationError

from spaces_calendar.core.models import Building, Floor, Room, Tenant

from .models import KioskToken
from .tokens import validate_scope


class NewKioskTokenForm(forms.Form):
    name = forms.CharField(max_length=100, help_text="Where the screen hangs, e.g. “Lobby, building A”.")
    rooms = forms.ModelMultipleChoiceField(queryset=Room.objects.none(), required=False,
                                           widget=forms.SelectMultiple(attrs={"size": 8}))
    floor = forms.ModelChoiceField(queryset=Floor.objects.none(), required=False, help_text="Every room on it.")
    building = forms.ModelChoiceField(queryset=Building.objects.none(), required=False,
                                      help_text="Every room in it.")

    def __init__(self, *args, tenant: Tenant, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.tenant = tenant
        self.fields["rooms"].queryset = Room.objects.filter(tenant=tenant).select_related("floor__building")
        self.fields["floor"].queryset = Floor.objects.filter(building__tenant=tenant).select_related("building")
        self.fields["building"].queryset = Building.objects.filter(tenant=tenant)

    def clean(self) -> dict:
        data = super().clean()
        if not self.errors:
            try:
                validate_scope(self.tenant, data["rooms"], data["floor"], data["building"])
            except ValidationError as error:
                raise ValidationError(error.messages) from None
        return data


class KioskTokenAdminForm(forms.ModelForm):
    class Meta:
        model = KioskToken
        fields = ["tenant", "name", "rooms", "floor", "building"]

    def clean(self) -> dict:
        data = super().clean()
        if not self.errors and data.get("tenant"):
            validate_scope(data["tenant"], data.get("rooms") or [], data.get("floor"), data.get("building"))
        return data
