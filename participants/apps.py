from django.apps import AppConfig


class ParticipantsConfig(AppConfig):
    name = "participants"
    verbose_name = "Participants"

    def ready(self) -> None:
        from participants.messaging import register_renderer
        from participants.services import safety

        register_renderer(safety.ALERT_KIND, safety.render_alert)
        register_renderer(safety.ESCALATION_KIND, safety.render_alert)
