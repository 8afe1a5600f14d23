"""What Twilio sends this site (participants.sms): delivery status callbacks and participants' replies.

Each request must carry Twilio's signature (``X-Twilio-Signature``) of the address Twilio requested, which
is ``PUBLIC_BASE_URL`` and the path, and of the form it posted, made with the account's auth token:
anything else is refused with 403 and changes nothing. Neither view logs a number or a message's text.
"""

from __future__ import annotations

import logging

from django.conf import settings
from django.http import HttpRequest, HttpResponse, HttpResponseForbidden
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST
from twilio.request_validator import RequestValidator

from participants.services.sms import delivery_record, sms_inbound
from participants.sms import public_url

log = logging.getLogger(__name__)

EMPTY_TWIML = '<?xml version="1.0" encoding="UTF-8"?><Response></Response>'


def signed_by_twilio(request: HttpRequest) -> bool:
    token = str(getattr(settings, "TWILIO_AUTH_TOKEN", "") or "")
    signature = request.headers.get("X-Twilio-Signature", "")
    if not token or not signature:
        return False
    query = request.META.get("QUERY_STRING", "")
    url = public_url(request.path_info) + (f"?{query}" if query else "")
    return bool(RequestValidator(token).validate(url, request.POST, signature))


def _refused(what: str) -> HttpResponse:
    log.warning("SMS %s without a valid Twilio signature refused.", what)
    return HttpResponseForbidden("The request is not signed by Twilio.", content_type="text/plain")


@csrf_exempt
@require_POST
def status(request: HttpRequest) -> HttpResponse:
    """A delivery report: the message log takes it, unless it is older than what the log has."""
    if not signed_by_twilio(request):
        return _refused("delivery report")
    raw_id = request.GET.get("m", "")
    delivery_record(
        provider_id=request.POST.get("MessageSid", "").strip()[:64],
        status=request.POST.get("MessageStatus", "") or request.POST.get("SmsStatus", ""),
        error_code=request.POST.get("ErrorCode", "").strip()[:10],
        message_id=int(raw_id) if raw_id.isdigit() else None,
    )
    return HttpResponse(status=204)


@csrf_exempt
@require_POST
def inbound(request: HttpRequest) -> HttpResponse:
    """A participant's reply: STOP and START are acted on; the answer asks Twilio to send nothing back (its
    own opt-out confirmation, where enabled, still goes)."""
    if not signed_by_twilio(request):
        return _refused("reply")
    number = request.POST.get("From", "").strip()
    if number:
        sms_inbound(number=number, body=request.POST.get("Body", ""), opt_out_type=request.POST.get("OptOutType", ""))
    return HttpResponse(EMPTY_TWIML, content_type="text/xml")
