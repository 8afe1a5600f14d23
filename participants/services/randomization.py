"""Concealed, atomic randomization.

One transaction per allocation: lock the participant, lock the sequence row of their stratum (or the
trial's single sequence for minimization and simple randomization), draw from the CSPRNG with the pure
procedures in trial.randomization, write the allocation and the new sequence state, commit. Concurrent
randomizations in one sequence queue on the row lock, so none reads a stale state: no duplicate position
(also a unique constraint), no lost update, no unbalanced block.
"""

from __future__ import annotations

from typing import Any

from django.db import IntegrityError, transaction

from participants import events
from participants.models import TRANSITIONS, Allocation, Participant, RandomizationSequence, Status
from participants.services.common import (
    lock_participant,
    require_current_consent,
    require_recruiting,
    step,
)
from trial import clock
from trial import randomization as procedures
from trial.audit import Actor, actor_user, audit_record
from trial.errors import Conflict, DomainError
from trial.models import Arm, RandomizationMethod, Trial


def _lock_sequence(trial: Trial, stratum: str) -> RandomizationSequence:
    sequences = RandomizationSequence.objects.select_for_update()
    try:
        return sequences.get(trial=trial, stratum=stratum)
    except RandomizationSequence.DoesNotExist:
        pass
    try:
        with transaction.atomic():  # savepoint: a concurrent creator wins, and we lock its row
            RandomizationSequence.objects.create(trial=trial, stratum=stratum)
    except IntegrityError:
        pass
    return sequences.get(trial=trial, stratum=stratum)


def _draw(
    trial: Trial, participant: Participant, rng: procedures.RandomSource
) -> tuple[procedures.Draw, RandomizationSequence]:
    arms = trial.arm_specs()
    factors = trial.factor_specs()
    method = trial.randomization_method
    if method == RandomizationMethod.STRATIFIED_BLOCK:
        stratum = procedures.stratum_key(participant.strata, [f.code for f in factors])
        sequence = _lock_sequence(trial, stratum)
        draw, block_state = procedures.block_draw(
            arms, procedures.BlockState.from_json(sequence.state), trial.block_sizes, rng
        )
        sequence.state = block_state.to_json()
    elif method == RandomizationMethod.MINIMIZATION:
        sequence = _lock_sequence(trial, "")
        marginals: dict[str, dict[str, int]] = {k: dict(v) for k, v in sequence.state.get("marginals", {}).items()}
        draw = procedures.minimization_draw(
            arms, factors, participant.strata, marginals, trial.minimization_probability, rng
        )
        procedures.add_to_marginals(marginals, factors, participant.strata, draw.arm)
        sequence.state = {"marginals": marginals}
    else:
        sequence = _lock_sequence(trial, "")
        draw = procedures.simple_draw(arms, rng)
    sequence.allocated += 1
    sequence.save(update_fields=["allocated", "state"])
    return draw, sequence


def _require_randomizable(participant: Participant) -> None:
    """The checks the draw makes before it draws, raising the first refusal."""
    require_recruiting(participant.trial, "randomize")
    if participant.status == Status.ENROLLED:
        require_current_consent(participant, "be randomized")
        for check in events.randomization_preconditions:
            check(participant=participant)


def randomization_refusal(participant: Participant) -> str | None:
    """Why ``participant_randomize`` would refuse this participant now (the same checks, read-only), or
    None when it would draw. For pages that offer the action only when it can succeed; the draw itself
    checks again under its lock."""
    if Allocation.objects.filter(participant=participant).exists():
        return f"Participant {participant} is already randomized; an arm is drawn once."
    if Status.RANDOMIZED not in TRANSITIONS[participant.status]:
        return f"Participant {participant} is {participant.status}; only an enrolled participant can be randomized."
    try:
        _require_randomizable(participant)
    except DomainError as exc:
        return exc.message
    return None


def participant_randomize(
    *, participant: Participant, by: Actor, rng: procedures.RandomSource | None = None
) -> Allocation:
    """Allocate an enrolled participant to an arm. ``rng`` is for tests; live draws use the CSPRNG."""
    with transaction.atomic():
        participant = lock_participant(participant)
        trial = participant.trial
        existing: Any = Allocation.objects.filter(participant=participant).first()
        if existing is not None:
            raise Conflict(f"Participant {participant} was already randomized on {existing.allocated_at:%Y-%m-%d}.")
        _require_randomizable(participant)
        step(participant, Status.RANDOMIZED, by=by)
        arms = {arm.code: arm for arm in Arm.objects.filter(trial=trial)}  # read before the stratum's lock
        draw, sequence = _draw(trial, participant, rng or procedures.live_rng())
        now = clock.now()
        allocation = Allocation.objects.create(
            participant=participant,
            trial=trial,
            arm=arms[draw.arm],
            method=trial.randomization_method,
            stratum=sequence.stratum,
            sequence_number=sequence.allocated,
            block_index=draw.block_index,
            block_size=draw.block_size,
            allocated_at=now,
            allocated_by=actor_user(by),
        )
        participant.randomized_at = now
        participant.save(update_fields=["status", "randomized_at"])
        # The audit names the act, not the arm: investigators read the audit trail, and in a masked trial
        # they must not learn arms from it.
        audit_record(
            actor=by,
            action="participant.randomize",
            obj=participant,
            trial=trial,
            changes={"status": [Status.ENROLLED, Status.RANDOMIZED], "allocation_id": [None, allocation.pk]},
        )
        events.participant_randomized.send(sender=Participant, participant=participant, allocation=allocation, by=by)
    return allocation
