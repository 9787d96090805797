"""The API tokens page: each signed-in user creates, lists and revokes their own tokens (no Django admin needed)."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_http_methods, require_POST

from . import tokens
from .forms import NewApiTokenForm


@login_required
@require_http_methods(["GET", "POST"])
def api_tokens(request: HttpRequest) -> HttpResponse:
    form = NewApiTokenForm(request.POST or None)
    created = raw = None
    if request.method == "POST" and form.is_valid():
        created, raw = tokens.issue_token(request.user, form.cleaned_data["name"])
        form = NewApiTokenForm()
    # The new key is in this response only (rendered, not redirected): nothing keeps it, not even the session.
    context = {"form": form, "tokens": tokens.tokens_of(request.user), "created": created, "raw": raw}
    response = render(request, "api_tokens/tokens.html", context, status=400 if form.errors else 200)
    response["Cache-Control"] = "no-store"
    return response


@login_required
@require_POST
def revoke(request: HttpRequest, token_id: int) -> HttpResponse:
    tokens.revoke_token(get_object_or_404(tokens.tokens_of(request.user), pk=token_id))
    return redirect("api-tokens")
