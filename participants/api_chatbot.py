"""The chatbot service's API: engagement sessions and crisis flags, authenticated by a per-trial key
(``Authorization: Api-Key <key>``). A key works for its own trial only."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from drf_spectacular.extensions import OpenApiAuthenticationExtension
from drf_spectacular.utils import extend_schema
from rest_framework import authentication, exceptions, serializers
from rest_framework.permissions import BasePermission
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from participants.models import ChatbotApiKey
from participants.services import chatbot
from trial import throttling


class ChatbotClient:
    """The authenticated principal of a chatbot request."""

    is_authenticated = True

    def __init__(self, key: ChatbotApiKey):
        self.key = key
        self.trial = key.trial

    def get_username(self) -> str:
        return f"chatbot:{self.key.prefix}"


class ApiKeyAuthentication(authentication.BaseAuthentication):
    keyword = "Api-Key"

    def authenticate(self, request: Request) -> tuple[ChatbotClient, ChatbotApiKey] | None:
        header = authentication.get_authorization_header(request).decode(errors="replace").split()
        if not header or header[0] != self.keyword:
            return None
        throttling.refuse_if_guessing(request)
        key = chatbot.chatbot_key_resolve(header[1]) if len(header) == 2 else None
        if key is None:
            throttling.count_bad_key(request)
            if len(header) != 2:
                raise exceptions.AuthenticationFailed("Send the header as: Authorization: Api-Key <key>.")
            raise exceptions.AuthenticationFailed("Unknown or revoked API key.")
        return ChatbotClient(key), key

    def authenticate_header(self, request: Request) -> str:
        return self.keyword


class ApiKeyScheme(OpenApiAuthenticationExtension):  # type: ignore[no-untyped-call]
    target_class = "participants.api_chatbot.ApiKeyAuthentication"
    name = "chatbotApiKey"

    def get_security_definition(self, auto_schema: Any) -> dict[str, str]:
        return {"type": "apiKey", "in": "header", "name": "Authorization", "description": "Api-Key <key>"}


class KeyForThisTrial(BasePermission):
    def has_permission(self, request: Request, view: Any) -> bool:
        client = request.user
        if not isinstance(client, ChatbotClient):
            return False
        if client.trial.slug != view.kwargs.get("slug"):
            raise exceptions.NotFound("No such trial for this key.")
        return True


class ChatbotView(APIView):
    authentication_classes = [ApiKeyAuthentication]
    permission_classes = [KeyForThisTrial]
    throttle_classes = [throttling.ChatbotThrottle]

    def trial(self, request: Request) -> Any:
        client = request.user
        assert isinstance(client, ChatbotClient)  # guaranteed by KeyForThisTrial
        return client.trial


class SessionIn(serializers.Serializer[Any]):
    participant = serializers.CharField(max_length=32, help_text="Study ID, e.g. TB-0001.")
    session_id = serializers.CharField(max_length=100)
    started_at = serializers.DateTimeField()
    ended_at = serializers.DateTimeField(required=False, allow_null=True, default=None)
    participant_messages = serializers.IntegerField(min_value=0, default=0)
    bot_messages = serializers.IntegerField(min_value=0, default=0)


class SessionOut(serializers.Serializer[Any]):
    session_id = serializers.CharField()
    started_at = serializers.DateTimeField()
    ended_at = serializers.DateTimeField(allow_null=True)
    participant_messages = serializers.IntegerField()
    bot_messages = serializers.IntegerField()


class EngagementSessionView(ChatbotView):
    @extend_schema(request=SessionIn, responses={200: SessionOut}, tags=["chatbot"])
    def post(self, request: Request, slug: str) -> Response:
        data = SessionIn(data=request.data)
        data.is_valid(raise_exception=True)
        values = dict(data.validated_data)
        study_id = values.pop("participant")
        session = chatbot.engagement_record(trial=self.trial(request), study_id=study_id, **values)
        return Response(SessionOut(session).data)


class CrisisFlagIn(serializers.Serializer[Any]):
    participant = serializers.CharField(max_length=32, help_text="Study ID, e.g. TB-0001.")
    event_id = serializers.CharField(
        max_length=100, help_text="The service's id for this detection; repeats are ignored."
    )
    detected_at = serializers.DateTimeField()
    severity = serializers.ChoiceField(choices=["moderate", "high", "imminent"], default="high")
    summary = serializers.CharField(max_length=1000, required=False, allow_blank=True, default="")


class CrisisFlagOut(serializers.Serializer[Any]):
    alert = serializers.IntegerField(allow_null=True, help_text="The alert raised; null if this event was seen before.")
    duplicate = serializers.BooleanField()


class CrisisFlagView(ChatbotView):
    @extend_schema(request=CrisisFlagIn, responses={201: CrisisFlagOut, 200: CrisisFlagOut}, tags=["chatbot"])
    def post(self, request: Request, slug: str) -> Response:
        data = CrisisFlagIn(data=request.data)
        if not data.is_valid():
            if isinstance(request.data, Mapping):  # a crisis all the same, if the body says whose
                why = f"Refused: {', '.join(data.errors)} not valid"
                chatbot.crisis_flag_refused(trial=self.trial(request), body=request.data, why=why)
            raise serializers.ValidationError(data.errors)
        values = dict(data.validated_data)
        alert, _ = chatbot.crisis_flag_record(trial=self.trial(request), study_id=values.pop("participant"), **values)
        body = {"alert": alert.pk if alert else None, "duplicate": alert is None}
        return Response(body, status=201 if alert else 200)
