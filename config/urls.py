from csp.constants import SELF
from csp.decorators import csp_update
from django.contrib import admin
from django.contrib.admin.views.decorators import staff_member_required
from django.urls import URLPattern, URLResolver, include, path
from django.views.generic import RedirectView
from drf_spectacular.views import SpectacularAPIView, SpectacularRedocView, SpectacularSwaggerSplitView

from analysis import api as analysis_api
from assessments import api as assessments_api
from config import health, site
from participants import api as participants_api
from participants import api_chatbot, api_safety
from trial import api as trial_api
from trial import api_tokens, oidc, two_factor

trial_urls: list[URLPattern | URLResolver] = [
    path("", trial_api.TrialDetailView.as_view(), name="trial-detail"),
    path("status/", trial_api.TrialStatusView.as_view(), name="trial-status"),
    path("unblind/", trial_api.TrialUnblindView.as_view(), name="trial-unblind"),
    path(
        "unblind/<int:request_id>/confirm/",
        trial_api.TrialUnblindDecisionView.as_view(decision="confirm"),
        name="trial-unblind-confirm",
    ),
    path(
        "unblind/<int:request_id>/reject/",
        trial_api.TrialUnblindDecisionView.as_view(decision="reject"),
        name="trial-unblind-reject",
    ),
    path("consent-documents/", trial_api.ConsentDocumentsView.as_view(), name="consent-documents"),
    path("audit/", trial_api.AuditTrailView.as_view(), name="audit-trail"),
    path("screenings/", participants_api.ScreeningView.as_view(), name="screening"),
    path("participants/", participants_api.ParticipantListView.as_view(), name="participant-list"),
    path("participants/<int:pk>/", participants_api.ParticipantDetailView.as_view(), name="participant-detail"),
    path("participants/<int:pk>/consent/", participants_api.ConsentView.as_view(), name="participant-consent"),
    path("participants/<int:pk>/enroll/", participants_api.EnrollView.as_view(), name="participant-enroll"),
    path("participants/<int:pk>/randomize/", participants_api.RandomizeView.as_view(), name="participant-randomize"),
    path("participants/<int:pk>/withdraw/", participants_api.WithdrawView.as_view(), name="participant-withdraw"),
    path(
        "participants/<int:pk>/lost-to-follow-up/",
        participants_api.LostToFollowUpView.as_view(),
        name="participant-lost",
    ),
    path("participants/<int:pk>/return/", participants_api.ReturnView.as_view(), name="participant-return"),
    path("participants/<int:pk>/complete/", participants_api.CompleteView.as_view(), name="participant-complete"),
    path("participants/<int:pk>/unblind/", participants_api.UnblindView.as_view(), name="participant-unblind"),
    path("participants/<int:pk>/contact/", participants_api.ContactView.as_view(), name="participant-contact"),
    path("participants/<int:pk>/engagement/", api_safety.EngagementView.as_view(), name="participant-engagement"),
    path("participants/<int:pk>/assessments/", assessments_api.AssessmentListView.as_view(), name="assessments"),
    path(
        "participants/<int:pk>/assessments/<str:assessment_id>/responses/",
        assessments_api.SubmitView.as_view(),
        name="assessment-submit",
    ),
    path("responses/<str:response_id>/corrections/", assessments_api.CorrectView.as_view(), name="response-correct"),
    path("exports/long.csv", analysis_api.LongExportView.as_view(), name="export-long"),
    path("exports/dictionary.<str:fmt>", analysis_api.DictionaryView.as_view(), name="export-dictionary"),
    path("exports/<str:dataset>.csv", analysis_api.DatasetCsvView.as_view(), name="export-csv"),
    path("exports/", analysis_api.ExportJobsView.as_view(), name="export-jobs"),
    path("reports/", analysis_api.ReportJobsView.as_view(), name="report-jobs"),
    path("jobs/", analysis_api.JobListView.as_view(), name="job-list"),
    path("jobs/<str:job_id>/", analysis_api.JobDetailView.as_view(), name="job-detail"),
    path("jobs/<str:job_id>/download/", analysis_api.JobDownloadView.as_view(), name="job-download"),
    path("safety-alerts/", api_safety.SafetyAlertListView.as_view(), name="safety-alerts"),
    path("safety-alerts/<int:alert_id>/acknowledge/", api_safety.AcknowledgeView.as_view(), name="alert-acknowledge"),
    path("safety-alerts/<int:alert_id>/contact/", api_safety.AlertContactView.as_view(), name="alert-contact"),
    path("safety-alerts/<int:alert_id>/resolve/", api_safety.ResolveView.as_view(), name="alert-resolve"),
]

chatbot_urls: list[URLPattern | URLResolver] = [
    path("sessions/", api_chatbot.EngagementSessionView.as_view(), name="chatbot-sessions"),
    path("crisis-flags/", api_chatbot.CrisisFlagView.as_view(), name="chatbot-crisis-flags"),
]

api_v1: list[URLPattern | URLResolver] = [
    path("tokens/", api_tokens.ApiTokenListView.as_view(), name="token-list"),
    path("tokens/<int:token_id>/", api_tokens.ApiTokenDetailView.as_view(), name="token-detail"),
    path("trials/", trial_api.TrialListView.as_view(), name="trial-list"),
    path("trials/<slug:slug>/", include(trial_urls)),
    path("chatbot/<slug:slug>/", include(chatbot_urls)),
]

# ReDoc adds the style sheet of its scroll bars at load, before it is given the nonce: allowed by its hash
# (ReDoc 2.5.4 of drf-spectacular-sidecar 2026.10.1; tests/test_csp_browser.py fails if an update changes
# it). Its search runs in a worker it makes from a blob: URL. The one thing the policy still blocks there is
# the Redocly logo it would fetch from the vendor's CDN.
REDOC_POLICY = {
    "style-src": [
        "'sha256-QMIg+bpjm3JdElJ388KYke01izlUW0UoNOeKjpMxdgc='",
        "'sha256-47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU='",  # the same element, still empty
    ],
    "worker-src": [SELF, "blob:"],
}

# Single sign-on (trial/oidc.py): 404 unless configured. The names are mozilla-django-oidc's.
oidc_urls: list[URLPattern | URLResolver] = [
    path("authenticate/", oidc.authenticate, name="oidc_authentication_init"),
    path("callback/", oidc.callback, name="oidc_authentication_callback"),
    path("refused/", oidc.refused, name="oidc-refused"),
]
admin.site.login_template = "admin/login_sso.html"
# The admin is for trial design and system administration; the study team works in /workspace/.
admin.site.site_header = "Trial platform: design and administration"
admin.site.site_title = "Trial platform administration"
admin.site.index_title = "Trial design and system administration"
admin.site.site_url = "/workspace/"
admin.site.index_template = "admin/trial_index.html"  # a banner pointing the study team to the workspace

urlpatterns = [
    path("", RedirectView.as_view(url="/workspace/", permanent=False)),
    path("workspace/", include("workspace.urls")),
    path("health/", health.health, name="health"),
    path("favicon.ico", site.favicon, name="favicon"),
    path("manifest.webmanifest", site.manifest, name="manifest"),
    path("admin/", admin.site.urls),
    path("api/v1/", include(api_v1)),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    # Staff only: the pages send anyone else to the login page, the schema answers 401 / 403.
    path(
        "api/docs/",
        staff_member_required(SpectacularSwaggerSplitView.as_view(template_name="api/swagger_ui.html")),
        name="api-docs",
    ),
    path(
        "api/redoc/",
        staff_member_required(csp_update(REDOC_POLICY)(SpectacularRedocView.as_view(template_name="api/redoc.html"))),
        name="api-redoc",
    ),
    path("api-auth/", include("rest_framework.urls")),
    path("account/2fa/", two_factor.two_factor, name="two-factor"),
    path("oidc/", include(oidc_urls)),
    path("q/", include("assessments.urls")),
    path("sms/", include("participants.urls")),
    path("join/", include("assessments.join_urls")),
]

# An unknown API address answers in the API's error format (JSON), not with an HTML page.
handler404 = "config.api.not_found"
