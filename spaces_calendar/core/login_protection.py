"""Brute-force protection of the sign-in forms, on django-axes: who is locked out, what they are told, who hears.

Policy (settings ``LOGIN_FAILURE_LIMIT``, ``LOGIN_LOCKOUT_S``): a username is locked **from one address** after that
many failed sign-ins in a row, on ``/accounts/login/`` and ``/admin/login/`` alike, until the lockout has passed
since the last failure (a failure while locked starts it again, so a guesser that keeps going stays locked). Per
username and address, not per username alone, so that an attacker cannot lock a colleague out from elsewhere, nor a
whole office behind one NAT address. Tenant admins see their members' lockouts on the home page, superusers all of
them (and the axes pages of the Django admin); each lockout is logged as a warning.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime

from axes.helpers import get_cool_off, get_failure_limit
from axes.models import AccessAttempt
from axes.signals import user_locked_out
from django.conf import settings
from django.contrib.auth import get_user_model
from django.db.models import Max, Sum
from django.dispatch import receiver
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils import timezone

from spaces_calendar.core.models import Membership, Role

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Lockout:
    username: str
    address: str
    failures: int
    until: datetime


def client_address(request: HttpRequest) -> str | None:
    """The address a sign-in came from. Behind our TLS proxy every request comes from the proxy, which appends the
    address it saw to ``X-Forwarded-For``: the last entry is that one (earlier entries are the client's to forge)."""
    if settings.LOGIN_TRUST_X_FORWARDED_FOR:
        forwarded = [part.strip() for part in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",")]
        if forwarded[-1]:
            return forwarded[-1][:45]
    return request.META.get("REMOTE_ADDR")


def lockouts(usernames: list[str] | None = None, *, now: datetime | None = None) -> list[Lockout]:
    """Locks in force now (of ``usernames`` only, if given), the latest to lift first. Axes counts failures per
    username and address within the lockout since the newest; this reads its rows the same way."""
    cool_off, limit = get_cool_off(), settings.AXES_FAILURE_LIMIT
    attempts = AccessAttempt.objects.filter(attempt_time__gte=(now or timezone.now()) - cool_off)
    if usernames is not None:
        attempts = attempts.filter(username__in=usernames)
    rows = (attempts.values("username", "ip_address").annotate(failures=Sum("failures_since_start"),
                                                               last=Max("attempt_time"))
            .filter(failures__gte=limit).order_by("-last", "username"))
    return [Lockout(row["username"] or "", row["ip_address"] or "", row["failures"], row["last"] + cool_off)
            for row in rows]


def lockouts_for(user, membership: Membership | None) -> list[Lockout]:
    """What the home page tells ``user``: every lock for a superuser, their workplace's members' locks for a tenant
    admin (a username nobody has is nobody's business in a workplace), nothing for anyone else."""
    if user.is_superuser:
        return lockouts()
    if membership is None or membership.role != Role.ADMIN:
        return []
    members = get_user_model().objects.filter(memberships__tenant_id=membership.tenant_id)
    return lockouts(list(members.values_list("username", flat=True)))


def lockout_response(request: HttpRequest, original_response: HttpResponse | None,
                     credentials: dict | None) -> HttpResponse:
    """The sign-in page's answer while locked (``AXES_LOCKOUT_CALLABLE``): 429, what happened, until when, and
    who can help. Both sign-in forms get it."""
    username = (credentials or {}).get("username") or request.POST.get("username", "")
    address = getattr(request, "axes_ip_address", None) or client_address(request) or ""
    until = _locked_until(username, address)
    context = {"username": username, "until": until, "failure_limit": get_failure_limit(request, credentials),
               "lockout": get_cool_off(request)}
    return render(request, "registration/locked_out.html", context, status=429)


def _locked_until(username: str, address: str) -> datetime:
    newest = (AccessAttempt.objects.filter(username=username, ip_address=address)
              .aggregate(newest=Max("attempt_time"))["newest"])
    return (newest or timezone.now()) + get_cool_off()


@receiver(user_locked_out)
def log_lockout(sender, request: HttpRequest, username: str | None, ip_address: str | None, **kwargs) -> None:
    """Axes sends this on the failure that locks and on every failure while locked; the admin hears of the first."""
    failures = getattr(request, "axes_failures_since_start", None)
    if failures is not None and failures != settings.AXES_FAILURE_LIMIT:
        return
    logger.warning("Sign-in locked for username %r from %s after %s failed attempts, until %s", username,
                   ip_address, failures, _locked_until(username or "", ip_address or "").isoformat())
