"""The occupancy rules page: a tenant admin's grace window, exempt length, kiosk subjects and room overrides.

Admin only, scoped to request.tenant: a room that is not the tenant's is a 404. A valid POST redirects back
(post/redirect/get) with a message saying what changed; an invalid one renders the page with its errors (400).
"""

from __future__ import annotations

from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_http_methods, require_POST

from spaces_calendar.core.models import Room
from spaces_calendar.core.permissions import tenant_admin_required

from . import rules
from .models import RoomGrace
from .rules_forms import PolicyForm, RoomGraceForm

_ROOM_FORM_IDS = "id_room_grace_%s"  # the two forms share the grace_minutes field name, not its id


@tenant_admin_required
@require_http_methods(["GET", "POST"])
def occupancy_rules(request: HttpRequest) -> HttpResponse:
    if request.method == "GET":
        return _page(request)
    form = PolicyForm(request.POST)
    if not form.is_valid():
        return _page(request, policy_form=form)
    _tell(request, rules.save_policy(request.tenant, **form.cleaned_data))
    return redirect("occupancy-rules")


@tenant_admin_required
@require_POST
def set_room_grace(request: HttpRequest) -> HttpResponse:
    form = RoomGraceForm(request.POST, tenant=request.tenant, auto_id=_ROOM_FORM_IDS)
    if not form.is_valid():
        if form.names_no_room():
            raise Http404("No such room in this tenant.")
        return _page(request, grace_form=form)
    _tell(request, rules.set_room_grace(form.cleaned_data["room"], form.cleaned_data["grace_minutes"]))
    return redirect("occupancy-rules")


@tenant_admin_required
@require_POST
def clear_room_grace(request: HttpRequest, room_id: int) -> HttpResponse:
    room = get_object_or_404(Room, pk=room_id, tenant=request.tenant)
    _tell(request, rules.clear_room_grace(room))
    return redirect("occupancy-rules")


def _tell(request: HttpRequest, change: rules.PolicyChange) -> None:
    if not change.changes:
        messages.info(request, "Nothing changed.")
        return
    text = f"Saved: {'; '.join(change.changes)}."
    if change.recompute_room_ids:
        count = len(change.recompute_room_ids)
        text += (f" Outcomes of the last {rules.RULES_RECOMPUTE_DAYS} days are being recalculated for {count} "
                 f"room{'s' if count != 1 else ''}; reports show them within a few minutes.")
    messages.success(request, text)


def _page(request: HttpRequest, *, policy_form: PolicyForm | None = None,
          grace_form: RoomGraceForm | None = None) -> HttpResponse:
    tenant = request.tenant
    policy = rules.policy_of(tenant)
    if policy_form is None:
        policy_form = PolicyForm(initial={"grace_minutes": policy.grace_minutes,
                                          "exempt_after_hours": policy.exempt_after_hours,
                                          "show_subjects": policy.show_subjects})
    grace_form = grace_form or RoomGraceForm(tenant=tenant, auto_id=_ROOM_FORM_IDS)
    overrides = dict(RoomGrace.objects.filter(room__tenant=tenant).values_list("room_id", "grace_minutes"))
    rooms = grace_form.fields["room"].queryset
    context = {"policy": policy, "policy_form": policy_form, "grace_form": grace_form,
               "rows": [(room, overrides.get(room.pk)) for room in rooms], "override_count": len(overrides),
               "recompute_days": rules.RULES_RECOMPUTE_DAYS}
    status = 400 if policy_form.errors or grace_form.errors else 200
    return render(request, "occupancy/rules.html", context, status=status)
