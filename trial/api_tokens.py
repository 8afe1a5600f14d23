"""People's API tokens: the endpoints where an owner lists, creates and revokes their tokens
(``/api/v1/tokens/``); the authentication is trial.authentication.

A token is created from a signed-in browser session (after the login's second factor, where one is
required), never with another token: a leaked token cannot be used to mint fresh ones, so its expiry holds.
"""

from __future__ import annotations

from typing import Any

from django.contrib.auth.models import User
from django.shortcuts import get_object_or_404
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.permissions import BasePermission
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from trial import services
from trial.models import ApiToken


class TokenScheme(OpenApiAuthenticationExtension):  # type: ignore[no-untyped-call]
    target_class = "trial.authentication.TokenAuthentication"
    name = "tokenAuth"

    def get_security_definition(self, auto_schema: Any) -> dict[str, str]:
        return {"type": "apiKey", "in": "header", "name": "Authorization", "description": "Token <key>"}


class CreatedFromSession(BasePermission):
    message = "Create tokens from a signed-in browser session (/api-auth/login/), not with a token."

    def has_permission(self, request: Request, view: Any) -> bool:
        return request.method != "POST" or not isinstance(request.auth, ApiToken)


class ApiTokenOut(serializers.ModelSerializer[ApiToken]):
    class Meta:
        model = ApiToken
        fields = ["id", "name", "prefix", "created_at", "expires_at", "last_used_at"]


class ApiTokenCreatedOut(ApiTokenOut):
    token = serializers.CharField(help_text="The key: shown this once, stored only hashed.")

    class Meta(ApiTokenOut.Meta):
        fields = [*ApiTokenOut.Meta.fields, "token"]


def owner(request: Request) -> User:
    user = request.user
    assert isinstance(user, User)  # IsAuthenticated, and tokens belong to people
    return user


class ApiTokenListView(APIView):
    """Your tokens that are not revoked (expired ones too, until you revoke them); create one."""

    permission_classes = [*APIView.permission_classes, CreatedFromSession]

    class Input(serializers.Serializer[Any]):
        class Meta:
            ref_name = "ApiTokenIn"

        name = serializers.CharField(max_length=100)
        days = serializers.IntegerField(required=False, help_text="Lifetime; at most, and by default, the site's.")

    @extend_schema(responses=ApiTokenOut(many=True))
    def get(self, request: Request) -> Response:
        tokens = ApiToken.objects.filter(user=owner(request), revoked_at=None)
        return Response(ApiTokenOut(tokens, many=True).data)

    @extend_schema(request=Input, responses={201: ApiTokenCreatedOut})
    def post(self, request: Request) -> Response:
        data = self.Input(data=request.data)
        data.is_valid(raise_exception=True)
        token, key = services.api_token_create(
            user=owner(request), name=data.validated_data["name"], days=data.validated_data.get("days")
        )
        token.token = key  # type: ignore[attr-defined]  # shown once, in this response only
        return Response(ApiTokenCreatedOut(token).data, status=201)


class ApiTokenDetailView(APIView):
    @extend_schema(responses={204: None})
    def delete(self, request: Request, token_id: int) -> Response:
        token = get_object_or_404(ApiToken, pk=token_id, user=owner(request), revoked_at=None)
        services.api_token_revoke(token=token, by=request.user)
        return Response(status=204)
