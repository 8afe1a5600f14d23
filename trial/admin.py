"""The admin for the protocol: trials and their design, memberships and the audit trail.

Access follows the trial roles (trial.access), not Django's model permissions: a staff user sees only the
trials where they hold a membership, and can do there what their roles allow. Superusers see every trial
and have every capability except enrolling, which needs an enrolling role in the trial (whoever enrolls
must not see the block sizes, and superusers can).

Every save and delete made here is written to the audit trail with a before/after diff. The parts of the
design that freeze when recruitment opens are read-only from then on, and the design's secrets (block
sizes, minimization probability) are shown only to roles with VIEW_DESIGN_SECRETS.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from typing import Any, ClassVar, TypeVar
from weakref import WeakKeyDictionary

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db import models, transaction
from django.db.models import QuerySet
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect

from trial import access
from trial.access import ArmView, Capability
from trial.audit import SECRET_FIELDS, audit_record, diff, snapshot
from trial.errors import DomainError
from trial.models import (
    AnalysisOutcome,
    Arm,
    AuditEvent,
    ConsentDocument,
    EligibilityRule,
    FactorLevel,
    ScreeningField,
    Site,
    StratificationFactor,
    Trial,
    TrialMembership,
    TrialStatus,
    VisitDefinition,
    VisitInstrument,
)
from trial.services import consent_document_publish, trial_set_status

_M = TypeVar("_M", bound=models.Model)
_C = TypeVar("_C", bound=models.Model)


# --- Who may see and do what ------------------------------------------------------------------------

_roles_cache: WeakKeyDictionary[HttpRequest, dict[int, frozenset[str]]] = WeakKeyDictionary()


def roles_by_trial(request: HttpRequest) -> dict[int, frozenset[str]]:
    """The user's roles in each trial where they are a member; one query per request."""
    cached = _roles_cache.get(request)
    if cached is None:
        roles: dict[int, set[str]] = defaultdict(set)
        if request.user.is_authenticated:
            for trial_id, role in TrialMembership.objects.filter(user=request.user).values_list("trial_id", "role"):
                roles[trial_id].add(role)
        cached = {trial_id: frozenset(r) for trial_id, r in roles.items()}
        _roles_cache[request] = cached
    return cached


def is_superuser(request: HttpRequest) -> bool:
    return bool(getattr(request.user, "is_superuser", False)) and request.user.is_active


def capabilities_in(request: HttpRequest, trial_id: int | None) -> frozenset[Capability]:
    roles = roles_by_trial(request).get(trial_id, frozenset()) if trial_id is not None else frozenset()
    caps = access.capabilities_for(roles)
    if is_superuser(request):
        caps |= access.ALL - {Capability.ENROLL}
    return caps


def can_in(request: HttpRequest, trial_id: int | None, capability: Capability) -> bool:
    return capability in capabilities_in(request, trial_id)


def trial_ids_with(request: HttpRequest, capability: Capability) -> set[int] | None:
    """Trials where the user has the capability; None means every trial (a superuser)."""
    if is_superuser(request) and capability != Capability.ENROLL:
        return None
    return {tid for tid, roles in roles_by_trial(request).items() if capability in access.capabilities_for(roles)}


def can_anywhere(request: HttpRequest, capability: Capability) -> bool:
    ids = trial_ids_with(request, capability)
    return ids is None or bool(ids)


def arm_view_for(request: HttpRequest, trial: Trial) -> ArmView:
    if is_superuser(request):
        return ArmView.REAL
    return access.arm_view(roles_by_trial(request).get(trial.pk, frozenset()), trial)


def order_hidden_for(request: HttpRequest, trial: Trial) -> bool:
    """Whether the time order of this trial's allocations is hidden from the reader (access.allocation_order_hidden)."""
    return access.allocation_order_hidden(roles_by_trial(request).get(trial.pk, frozenset()), trial)


def order_hidden_anywhere(request: HttpRequest) -> bool:
    """Whether some trial of the reader's hides the order of its allocations from them."""
    concealing = Trial.objects.filter(pk__in=list(roles_by_trial(request)), conceal_allocation_order=True)
    return any(order_hidden_for(request, trial) for trial in concealing)


def require_in(request: HttpRequest, trial_id: int, capability: Capability) -> None:
    if not can_in(request, trial_id, capability):
        raise PermissionDenied(f"Your roles in this trial do not allow this ({capability.value}).")


def _trial_id_along(obj: models.Model, path: str) -> int | None:
    """The trial id of ``obj`` following ``path`` ("" for a Trial, "trial", "factor__trial" ...)."""
    if not path:
        return obj.pk if isinstance(obj, Trial) else None
    *hops, last = path.split("__")
    current: Any = obj
    for hop in hops:
        current = getattr(current, hop, None)
        if current is None:
            return None
    value = getattr(current, f"{last}_id", None)
    return int(value) if value is not None else None


# --- Base classes -----------------------------------------------------------------------------------


class TrialScopedMixin(admin.ModelAdmin[_M]):
    """Rows and permissions by trial membership. ``trial_path`` leads from the model to its Trial."""

    trial_path: ClassVar[str] = "trial"
    view_capability: ClassVar[Capability] = Capability.VIEW_TRIAL
    change_capability: ClassVar[Capability] = Capability.MANAGE_TRIAL

    def trial_id_of(self, obj: _M) -> int | None:
        return _trial_id_along(obj, self.trial_path)

    def get_queryset(self, request: HttpRequest) -> QuerySet[_M]:
        queryset = super().get_queryset(request)
        ids = trial_ids_with(request, self.view_capability)
        if ids is None:
            return queryset
        lookup = f"{self.trial_path}__in" if self.trial_path else "pk__in"
        return queryset.filter(**{lookup: ids})

    def lookup_allowed(self, lookup: str, value: str, request: HttpRequest | None = None) -> bool:
        """Only the filters the list offers. Django would otherwise take any field in the address
        (``?arm=2``, ``?block_size=6``): a masked reader could split the list by arm, an enroller by block."""
        offered = [f if isinstance(f, str) else f[0] for f in self.list_filter if isinstance(f, str | tuple)]
        if not any(lookup == path or lookup.startswith(f"{path}__") for path in offered):
            return False
        return super().lookup_allowed(lookup, value, request)  # type: ignore[arg-type]

    def has_module_permission(self, request: HttpRequest) -> bool:
        return request.user.is_active and request.user.is_staff and self.has_view_permission(request)

    def _allowed(self, request: HttpRequest, obj: _M | None, capability: Capability) -> bool:
        if obj is None:
            return can_anywhere(request, capability)
        return can_in(request, self.trial_id_of(obj), capability)

    def has_view_permission(self, request: HttpRequest, obj: _M | None = None) -> bool:
        return self._allowed(request, obj, self.view_capability) or self.has_change_permission(request, obj)

    def has_change_permission(self, request: HttpRequest, obj: _M | None = None) -> bool:
        return self._allowed(request, obj, self.change_capability)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return can_anywhere(request, self.change_capability)

    def has_delete_permission(self, request: HttpRequest, obj: _M | None = None) -> bool:
        return self._allowed(request, obj, self.change_capability)

    # Outside one's trials an object does not exist: 404, not the admin's "perhaps it was deleted" redirect.
    def _require_object(self, request: HttpRequest, object_id: str) -> _M:
        obj = self.get_object(request, object_id)
        if obj is None:
            raise Http404("No such object.")
        return obj

    def change_view(
        self, request: HttpRequest, object_id: str, form_url: str = "", extra_context: dict[str, Any] | None = None
    ) -> HttpResponse:
        self._require_object(request, object_id)
        return super().change_view(request, object_id, form_url, extra_context)

    def history_view(
        self, request: HttpRequest, object_id: str, extra_context: dict[str, Any] | None = None
    ) -> HttpResponse:
        self._require_object(request, object_id)
        return super().history_view(request, object_id, extra_context)

    def delete_view(
        self, request: HttpRequest, object_id: str, extra_context: dict[str, Any] | None = None
    ) -> HttpResponse:
        self._require_object(request, object_id)
        try:
            return super().delete_view(request, object_id, extra_context)
        except DomainError as exc:
            self.message_user(request, exc.message, messages.ERROR)
            return HttpResponseRedirect(request.path.removesuffix("delete/") + "change/")


class AuditedAdminMixin(TrialScopedMixin[_M]):
    """Writes every save and delete made in the admin to the audit trail (``admin.add``,
    ``admin.change``, ``admin.delete``) with a before/after diff, and turns refusals into messages."""

    def trial_of(self, obj: models.Model) -> Trial | None:
        if isinstance(obj, Trial):
            return obj
        trial_id = _trial_id_along(obj, self.trial_path)
        return Trial.objects.filter(pk=trial_id).first() if trial_id is not None else None

    def _audit(
        self, request: HttpRequest, action: str, obj: models.Model, trial: Trial | None, changes: Mapping[str, Any]
    ) -> None:
        audit_record(actor=request.user, action=action, obj=obj, trial=trial, changes=changes)

    @staticmethod
    def _stored(obj: models.Model) -> dict[str, Any]:
        stored = type(obj)._default_manager.filter(pk=obj.pk).first() if obj.pk is not None else None
        return snapshot(stored) if stored is not None else {}

    def save_model(self, request: HttpRequest, obj: _M, form: Any, change: Any) -> None:
        before = self._stored(obj) if change else {}
        super().save_model(request, obj, form, change)
        changes = diff(before, snapshot(obj))
        if changes or not change:
            self._audit(request, "admin.change" if change else "admin.add", obj, self.trial_of(obj), changes)

    def delete_model(self, request: HttpRequest, obj: _M) -> None:
        # Audited first (a deleted object has lost its pk), in one transaction with the deletion, so a
        # refused deletion leaves no audit row. A trial's own events would block its deletion: none then.
        trial = None if isinstance(obj, Trial) else self.trial_of(obj)
        with transaction.atomic():
            self._audit(request, "admin.delete", obj, trial, diff(snapshot(obj), {}))
            super().delete_model(request, obj)

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> None:
        # One by one, so each model's delete() guard runs and each deletion is audited.
        for obj in queryset:
            self.delete_model(request, obj)

    def save_formset(self, request: HttpRequest, form: Any, formset: Any, change: Any) -> None:
        trial = self.trial_of(form.instance)
        model = formset.model
        pks = [f.instance.pk for f in formset.initial_forms if f.instance.pk is not None]
        before = {obj.pk: snapshot(obj) for obj in model._default_manager.filter(pk__in=pks)}
        instances = formset.save(commit=False)
        for obj in formset.deleted_objects:
            self._audit(request, "admin.delete", obj, trial, diff(snapshot(obj), {}))
            obj.delete()
        for obj in instances:
            is_new = obj.pk is None
            obj.save()
            changes = diff(before.get(obj.pk, {}), snapshot(obj))
            if changes:
                self._audit(request, "admin.add" if is_new else "admin.change", obj, trial, changes)
        formset.save_m2m()

    def changeform_view(
        self,
        request: HttpRequest,
        object_id: str | None = None,
        form_url: str = "",
        extra_context: dict[str, Any] | None = None,
    ) -> HttpResponse:
        # The admin saves in one transaction; a refusal from a model (IntegrityLocked) rolls it back and
        # is shown as a message rather than a server error.
        try:
            return super().changeform_view(request, object_id, form_url, extra_context)
        except DomainError as exc:
            self.message_user(request, exc.message, messages.ERROR)
            return HttpResponseRedirect(request.path)

    def changelist_view(self, request: HttpRequest, extra_context: dict[str, Any] | None = None) -> HttpResponse:
        try:
            return super().changelist_view(request, extra_context)
        except DomainError as exc:
            self.message_user(request, exc.message, messages.ERROR)
            return HttpResponseRedirect(request.get_full_path())


class TrialPartInline(admin.TabularInline[_C, Any]):
    """An inline of a trial's design. ``frozen`` parts are read-only once the trial leaves draft."""

    frozen: ClassVar[bool] = False
    extra = 0

    def parent_trial(self, obj: Any) -> Trial:
        assert isinstance(obj, Trial)
        return obj

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        if obj is None:
            return can_anywhere(request, Capability.VIEW_TRIAL)
        return can_in(request, self.parent_trial(obj).pk, Capability.VIEW_TRIAL)

    def _may_edit(self, request: HttpRequest, obj: Any) -> bool:
        if obj is None:
            return can_anywhere(request, Capability.MANAGE_TRIAL)
        trial = self.parent_trial(obj)
        if self.frozen and trial.design_frozen:
            return False
        return can_in(request, trial.pk, Capability.MANAGE_TRIAL)

    def has_add_permission(self, request: HttpRequest, obj: Any) -> bool:  # type: ignore[override]
        return self._may_edit(request, obj)

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return self._may_edit(request, obj)

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return self._may_edit(request, obj)


# --- Trial and its design ---------------------------------------------------------------------------


class ArmInline(TrialPartInline[Arm]):
    model = Arm
    frozen = True
    fields = ["code", "name", "ratio", "is_control", "order"]

    def get_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        fields = list(self.fields or [])
        # The letter-to-arm key is the blinding itself; only those who may see design secrets get it.
        if obj is not None and (can_in(request, obj.pk, Capability.VIEW_DESIGN_SECRETS) or obj.unblinded_at):
            fields.append("blinded_label")
        return fields

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        return ["blinded_label"]


class SiteInline(TrialPartInline[Site]):
    model = Site
    fields = ["code", "name", "active"]


class FactorInline(TrialPartInline[StratificationFactor]):
    model = StratificationFactor
    frozen = True
    fields = ["code", "name", "weight", "order"]
    show_change_link = True
    verbose_name_plural = "stratification factors (levels: open a factor)"


class VisitInline(TrialPartInline[VisitDefinition]):
    model = VisitDefinition
    fields = ["code", "name", "week", "anchor", "offset_days", "window_before_days", "window_after_days", "order"]
    show_change_link = True
    verbose_name_plural = "visits (questionnaires: open a visit)"


class VisitInstrumentInline(TrialPartInline[VisitInstrument]):
    """Which questionnaires a visit has. They may change while a trial recruits (a protocol amendment):
    a change applies to visits scheduled from then on."""

    model = VisitInstrument
    fields = ["instrument_code", "arm", "order"]

    def parent_trial(self, obj: Any) -> Trial:
        assert isinstance(obj, VisitDefinition)
        return obj.trial

    def formfield_for_foreignkey(self, db_field: Any, request: HttpRequest, **kwargs: Any) -> Any:
        if db_field.name == "arm":
            visit_id = request.resolver_match.kwargs.get("object_id", "") if request.resolver_match else ""
            kwargs["queryset"] = Arm.objects.filter(trial__visits__pk=int(visit_id or 0))
        return super().formfield_for_foreignkey(db_field, request, **kwargs)


class ScreeningFieldInline(TrialPartInline[ScreeningField]):
    """Screening fields feed the strata: once recruiting, their code, kind and choices stay, and none is
    removed or added (labels may still be reworded)."""

    model = ScreeningField
    fields = ["code", "label", "kind", "choices", "required", "order"]

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        if obj is not None and obj.design_frozen:
            return ["code", "kind", "choices", "required"]
        return []

    def has_add_permission(self, request: HttpRequest, obj: Any) -> bool:  # type: ignore[override]
        return super().has_add_permission(request, obj) and not (obj is not None and obj.design_frozen)

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return super().has_delete_permission(request, obj) and not (obj is not None and obj.design_frozen)


class EligibilityRuleInline(TrialPartInline[EligibilityRule]):
    model = EligibilityRule
    fields = ["code", "field", "operator", "value", "applies_if_field", "applies_if_values", "reason", "order"]


class AnalysisOutcomeInline(TrialPartInline[AnalysisOutcome]):
    """The analysis plan's outcomes: editable by managers until database lock (then the plan is final)."""

    model = AnalysisOutcome
    fields = ["code", "name", "instrument_code", "scale", "primary", "subgroup_factor", "subgroup_level", "order"]

    def _may_edit(self, request: HttpRequest, obj: Any) -> bool:
        if obj is not None and self.parent_trial(obj).status == TrialStatus.LOCKED:
            return False
        return super()._may_edit(request, obj)


class ConsentDocumentInline(admin.StackedInline[ConsentDocument, Any]):
    """Published versions never change; a new version is added (and published through the service)."""

    model = ConsentDocument
    extra = 0
    fields = ["version", "title", "text", "requires_reconsent", "published_at"]
    readonly_fields = ["published_at"]

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return (
            can_anywhere(request, Capability.VIEW_TRIAL)
            if obj is None
            else can_in(request, obj.pk, Capability.VIEW_TRIAL)
        )

    def has_add_permission(self, request: HttpRequest, obj: Any) -> bool:  # type: ignore[override]
        if obj is None:
            return can_anywhere(request, Capability.MANAGE_TRIAL)
        return can_in(request, obj.pk, Capability.MANAGE_TRIAL)

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


def _mask_block_problems(problems: Iterable[str]) -> list[str]:
    shown: list[str] = []
    for problem in problems:
        if "block size" in problem.lower():
            problem = "The block sizes are not valid (someone who may see the design's secrets must fix them)."
        if problem not in shown:
            shown.append(problem)
    return shown


@admin.register(Trial)
class TrialAdmin(AuditedAdminMixin[Trial]):
    trial_path = ""
    list_display = ["slug", "title", "registry_id", "status", "randomization_method"]
    list_filter = ["status", "randomization_method"]
    search_fields = ["slug", "title", "registry_id"]
    actions = ["open_recruitment", "close_recruitment"]
    inlines = [
        ArmInline,
        FactorInline,
        SiteInline,
        VisitInline,
        ScreeningFieldInline,
        EligibilityRuleInline,
        AnalysisOutcomeInline,
        ConsentDocumentInline,
    ]

    ALWAYS_READ_ONLY: ClassVar[tuple[str, ...]] = ("status", "unblinded_at", "unblinding_reason", "created_at")

    def _sees_secrets(self, request: HttpRequest, obj: Trial | None) -> bool:
        if obj is None:
            return is_superuser(request)
        return can_in(request, obj.pk, Capability.VIEW_DESIGN_SECRETS)

    def get_fieldsets(self, request: HttpRequest, obj: Trial | None = None) -> Any:
        design = ["randomization_method", "block_sizes", "minimization_probability", "open_label"]
        if not self._sees_secrets(request, obj):
            design = [name for name in design if name not in SECRET_FIELDS]
        trial_fields = ["slug", "title", "registry_id", "status"]
        if obj is not None and not obj.design_frozen:
            trial_fields.append("design_check" if self._sees_secrets(request, obj) else "design_check_masked")
        return [
            (None, {"fields": trial_fields}),
            (
                "Randomization (frozen once recruitment opens)",
                {"fields": [*design, "study_id_prefix", "study_id_digits"]},
            ),
            ("Blinding", {"fields": ["conceal_allocation_order", "unblinded_at", "unblinding_reason", "created_at"]}),
            ("Participants' pages", {"fields": ["crisis_resources"]}),
        ]

    def get_readonly_fields(self, request: HttpRequest, obj: Trial | None = None) -> Any:
        readonly = [*self.ALWAYS_READ_ONLY, "design_check", "design_check_masked"]
        if obj is not None and obj.design_frozen:
            readonly += ["slug", *Trial.INTEGRITY_FIELDS]
        if not self._sees_secrets(request, obj):
            readonly = [name for name in readonly if name not in SECRET_FIELDS]
        return readonly

    def get_inlines(self, request: HttpRequest, obj: Trial | None) -> Any:
        # The design is added to a saved trial: its rules are checked against its stored fields.
        return self.inlines if obj is not None else []

    @admin.display(description="Ready to open?")
    def design_check(self, obj: Trial) -> str:
        problems = obj.design_problems()
        return " ".join(problems) if problems else "Yes: recruitment can be opened."

    @admin.display(description="Ready to open?")
    def design_check_masked(self, obj: Trial) -> str:
        # A design problem can quote a block size: masked for those who may not see them.
        problems = _mask_block_problems(obj.design_problems())
        return " ".join(problems) if problems else "Yes: recruitment can be opened."

    def has_add_permission(self, request: HttpRequest) -> bool:
        # New trials come from a superuser (or load_trial_template), who then grants the team its roles.
        return is_superuser(request)

    def has_delete_permission(self, request: HttpRequest, obj: Trial | None = None) -> bool:
        # Never: a trial's audit trail (protected, append-only) outlives it. A draft is rebuilt instead
        # (load_trial_template --replace) or simply left unopened.
        return False

    def has_manage_permission(self, request: HttpRequest) -> bool:
        return can_anywhere(request, Capability.MANAGE_TRIAL)

    def _set_status(self, request: HttpRequest, queryset: QuerySet[Trial], status: str, verb: str) -> None:
        for trial in queryset:
            if not can_in(request, trial.pk, Capability.MANAGE_TRIAL):
                self.message_user(
                    request, f"{trial.slug}: your roles do not allow managing this trial.", messages.ERROR
                )
                continue
            try:
                trial_set_status(trial=trial, status=status, by=request.user, reason=f"{verb} in the admin")
            except DomainError as exc:
                message = exc.message
                if not can_in(request, trial.pk, Capability.VIEW_DESIGN_SECRETS):
                    message = " ".join(_mask_block_problems([message]))
                self.message_user(request, f"{trial.slug}: {message}", messages.ERROR)
            else:
                self.message_user(request, f"{trial.slug}: {verb}.", messages.SUCCESS)

    @admin.action(description="Open recruitment", permissions=["manage"])
    def open_recruitment(self, request: HttpRequest, queryset: QuerySet[Trial]) -> None:
        self._set_status(request, queryset, TrialStatus.RECRUITING, "recruitment opened")

    @admin.action(description="Close recruitment", permissions=["manage"])
    def close_recruitment(self, request: HttpRequest, queryset: QuerySet[Trial]) -> None:
        self._set_status(request, queryset, TrialStatus.CLOSED, "recruitment closed")

    def save_formset(self, request: HttpRequest, form: Any, formset: Any, change: Any) -> None:
        if formset.model is not ConsentDocument:
            super().save_formset(request, form, formset, change)
            return
        # New consent versions go through the publishing service (validated and audited there).
        for document in formset.save(commit=False):
            if document.pk is None:
                consent_document_publish(
                    trial=form.instance,
                    version=document.version,
                    title=document.title,
                    text=document.text,
                    requires_reconsent=document.requires_reconsent,
                    by=request.user,
                )


class FactorLevelInline(TrialPartInline[FactorLevel]):
    model = FactorLevel
    frozen = True
    fields = ["code", "label", "order"]

    def parent_trial(self, obj: Any) -> Trial:
        assert isinstance(obj, StratificationFactor)
        return obj.trial


@admin.register(StratificationFactor)
class StratificationFactorAdmin(AuditedAdminMixin[StratificationFactor]):
    """A factor with its levels. Factors are added on their trial's page."""

    list_display = ["name", "code", "trial", "weight"]
    list_filter = [("trial", admin.RelatedOnlyFieldListFilter)]
    fields = ["trial", "code", "name", "weight", "order"]
    inlines = [FactorLevelInline]

    def get_readonly_fields(self, request: HttpRequest, obj: StratificationFactor | None = None) -> Any:
        return ["trial"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def _may_edit(self, request: HttpRequest, obj: StratificationFactor | None) -> bool:
        if obj is not None and obj.trial.design_frozen:
            return False
        return self._allowed(request, obj, Capability.MANAGE_TRIAL)

    def has_change_permission(self, request: HttpRequest, obj: StratificationFactor | None = None) -> bool:
        return self._may_edit(request, obj)

    def has_delete_permission(self, request: HttpRequest, obj: StratificationFactor | None = None) -> bool:
        return self._may_edit(request, obj)


@admin.register(VisitDefinition)
class VisitDefinitionAdmin(AuditedAdminMixin[VisitDefinition]):
    """A visit with its questionnaires. Visits are added on their trial's page."""

    list_display = ["name", "code", "trial", "week", "anchor"]
    list_filter = [("trial", admin.RelatedOnlyFieldListFilter)]
    fields = ["trial", "code", "name", "week", "anchor", "offset_days", "window_before_days", "window_after_days"]
    readonly_fields = ["trial"]
    inlines = [VisitInstrumentInline]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False


@admin.register(TrialMembership)
class TrialMembershipAdmin(AuditedAdminMixin[TrialMembership]):
    """Who holds which role. Members who manage a trial see its team; only superusers grant roles, since
    a role chosen for oneself could join enrolling to seeing the block sizes."""

    view_capability = Capability.MANAGE_TRIAL
    list_display = ["user", "role", "trial_slug", "created_at"]
    list_filter = ["role", ("trial", admin.RelatedOnlyFieldListFilter)]
    search_fields = ["user__username", "user__email"]
    fields = ["trial", "user", "role", "created_at"]
    readonly_fields = ["created_at"]

    @admin.display(description="Trial", ordering="trial__slug")
    def trial_slug(self, obj: TrialMembership) -> str:
        return obj.trial.slug

    def get_queryset(self, request: HttpRequest) -> QuerySet[TrialMembership]:
        return super().get_queryset(request).select_related("trial", "user")

    def has_add_permission(self, request: HttpRequest) -> bool:
        return is_superuser(request)

    def has_change_permission(self, request: HttpRequest, obj: TrialMembership | None = None) -> bool:
        return is_superuser(request)

    def has_delete_permission(self, request: HttpRequest, obj: TrialMembership | None = None) -> bool:
        return is_superuser(request)


@admin.register(AuditEvent)
class AuditEventAdmin(TrialScopedMixin[AuditEvent]):
    """The audit trail, read-only, for roles with VIEW_AUDIT in the trial."""

    view_capability = Capability.VIEW_AUDIT
    list_display = ["at", "trial_slug", "actor_label", "action", "object_type", "object_label", "reason"]
    list_filter = ["action", ("trial", admin.RelatedOnlyFieldListFilter)]
    search_fields = ["object_label", "object_id", "actor_label"]
    fields = ["at", "trial", "actor_label", "action", "object_type", "object_id", "object_label", "changes", "reason"]

    @admin.display(description="Trial", ordering="trial__slug")
    def trial_slug(self, obj: AuditEvent) -> str:
        return obj.trial.slug if obj.trial is not None else "-"

    def get_queryset(self, request: HttpRequest) -> QuerySet[AuditEvent]:
        return super().get_queryset(request).select_related("trial")

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: AuditEvent | None = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: AuditEvent | None = None) -> bool:
        return False
