from django.apps import AppConfig


class ParticipantsConfig(AppConfig):
    name = "participants"
    verbose_name = "Participants"

    def ready(self) -> None:
        from django.core.signals import request_finished, request_started

        from participants import message_templates, messaging
        from participants.messaging import register_renderer
        from participants.services import adverse_events, safety, unblinding
        from trial.events import trial_unblinding_step

        request_started.connect(messaging.request_started, dispatch_uid="outbox-request-started")
        request_finished.connect(messaging.deliver_after_response, dispatch_uid="outbox-after-response")

        register_renderer(safety.ALERT_KIND, safety.render_alert, retry_forever=True)
        register_renderer(unblinding.NOTICE_KIND, unblinding.render_unblinding_notice)
        register_renderer(unblinding.TRIAL_NOTICE_KIND, unblinding.render_trial_unblinding_notice)
        register_renderer(safety.ESCALATION_KIND, safety.render_alert, retry_forever=True)
        register_renderer(adverse_events.SERIOUS_KIND, adverse_events.render_serious_event, retry_forever=True)
        message_templates.register_template_kind(
            safety.ALERT_KIND,
            description="Safety alert (and its escalation) to the trial's safety clinicians; staff, in English.",
            sample_context=safety.sample_alert_context,
            staff=True,
        )
        message_templates.register_template_kind(
            adverse_events.SERIOUS_KIND,
            description="A serious adverse event, to the trial's investigators and safety clinicians; staff.",
            sample_context=adverse_events.sample_serious_context,
            staff=True,
        )
        message_templates.register_template_kind(
            unblinding.NOTICE_KIND,
            description="Emergency unblinding of a participant, to the trial's clinical roles; staff, in English.",
            sample_context=unblinding.sample_notice_context,
            staff=True,
        )
        trial_unblinding_step.connect(unblinding.notify_trial_unblinding_step, dispatch_uid="trial-unblinding-notices")
