from django.apps import AppConfig


class AnalysisConfig(AppConfig):
    name = "analysis"
    verbose_name = "Analysis"

    def ready(self) -> None:
        from analysis.checks import check_outcome_instruments
        from trial.models import register_design_check

        register_design_check(check_outcome_instruments)
