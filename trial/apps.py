from django.apps import AppConfig


class TrialConfig(AppConfig):
    name = "trial"
    verbose_name = "Trial design"

    def ready(self) -> None:
        from django.contrib.auth.signals import user_logged_in

        from trial.middleware import mark_signed_in

        user_logged_in.connect(mark_signed_in, dispatch_uid="trial.session_signed_in")
