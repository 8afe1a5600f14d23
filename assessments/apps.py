from django.apps import AppConfig


class AssessmentsConfig(AppConfig):
    name = "assessments"
    verbose_name = "Assessments"

    def ready(self) -> None:
        from django.conf import settings

        from assessments import instruments, join_messages, messages, new_link_message
        from assessments.services import new_link, scheduling
        from participants import events
        from participants.messaging import register_renderer
        from participants.services import joining
        from trial.models import register_design_check

        # Instruments: the built-in definitions, plus a deployment's own directories and the wording of
        # licensed instruments. A bad file stops start-up with a message naming the file and the field.
        extra_dirs = getattr(settings, "INSTRUMENT_DIRS", [])
        wording_files = getattr(settings, "INSTRUMENT_WORDING_FILES", [])
        if extra_dirs or wording_files:
            instruments.install_registry(instruments.load_registry(extra_dirs, wording_files=wording_files))

        # The participant lifecycle drives the schedule through named events (participants.events).
        events.participant_enrolled.connect(scheduling.schedule_baseline, dispatch_uid="assessments.baseline")
        events.participant_randomized.connect(scheduling.schedule_follow_up, dispatch_uid="assessments.follow_up")
        events.participant_follow_up_ended.connect(
            scheduling.assessments_cancel_pending, dispatch_uid="assessments.cancel"
        )
        events.register_randomization_precondition(scheduling.require_completed_baseline)
        register_design_check(scheduling.check_visit_instruments)
        register_renderer(scheduling.INVITATION_KIND, messages.render_assessment_message)
        register_renderer(scheduling.REMINDER_KIND, messages.render_assessment_message)
        register_renderer(new_link.NEW_LINK_KIND, new_link_message.render_new_link)
        messages.register_message_templates()
        new_link_message.register_message_templates()
        join_messages.register_message_templates()
        register_renderer(joining.VERIFY_KIND, join_messages.render_verification)
        register_renderer(joining.CONSENT_COPY_KIND, join_messages.render_consent_copy)
