"""Create the bench database and fill it with a trial of N randomized participants, through the real models.

    .venv/bin/python bench/load.py --reset --participants 10000     # new database, 10,000 participants
    .venv/bin/python bench/load.py --participants 100000            # grow the same trial to 100,000

The trial is the bundled reference trial (fixtures/trials/therabot.json: stratified permuted blocks, three
visits, four questionnaires each, the WAI-SR for the chatbot arm at follow-up), created and opened by the
project's own services. Participants are written with ``bulk_create`` on the project's models, with what the
live paths would have written: a study ID from the trial's counter, contact details apart, a consent to the
published document, the lifecycle's status changes, an allocation drawn by the project's block procedure
(trial.randomization.block_draw) with the stratum's sequence state kept in RandomizationSequence, three
scheduled visits with windows from assessments.schedule.visit_window in the participant's timezone, and
responses scored by assessments.scoring.score_instrument. Allocations and responses are only ever inserted
(the database triggers refuse anything else).

Shape of the data (per participant, at every size):
- 92% "past": all three visits over; baseline completed; each follow-up completed (88%) or missed (12%);
- 5% "recent": baseline completed, both follow-ups scheduled in the future;
- 3% "due": baseline completed, week 4 scheduled and its window open now (the sweep must open it), week 8
  in the future. 3% of participants = 1% of scheduled visits: the sweep benchmark's "1% of visits due".
No answer raises a safety flag (PHQ-9 item 9 is 0), since bulk rows raise no alerts.
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import common

CHUNK = 5000
TIMEZONES = ["America/New_York", "America/Chicago", "America/Denver", "America/Los_Angeles", "UTC"]
CONDITIONS = ["MDD", "GAD", "CHR-FED"]
SEND_HOUR = 9
ANSWER_POOL = 400


def reset_database() -> None:
    common.pg_admin(f'DROP DATABASE IF EXISTS "{common.BENCH_DB}" WITH (FORCE)')
    common.pg_admin(f'CREATE DATABASE "{common.BENCH_DB}"')
    import subprocess

    subprocess.run(
        [common.PYTHON, str(common.ROOT / "manage.py"), "migrate", "--noinput", "-v", "0"],
        env=common.bench_env(),
        check=True,
        cwd=common.ROOT,
    )
    import psycopg

    with psycopg.connect(common.DATABASE_URL, autocommit=True) as conn:
        conn.execute(
            "CREATE TABLE bench_bare (id bigserial PRIMARY KEY, body text NOT NULL, at timestamptz DEFAULT now())"
        )
    import redis

    redis.Redis.from_url(common.REDIS_URL).flushdb()


def ensure_trial() -> Any:
    from django.contrib.auth import get_user_model

    from trial.models import Role, Trial
    from trial.services import membership_grant, trial_set_status
    from trial.templates import read_template, trial_create_from_template

    trial = Trial.objects.filter(slug=common.TRIAL_SLUG).first()
    if trial is None:
        trial = trial_create_from_template(data=read_template("therabot-demo"), by=None)
        trial = trial_set_status(trial=trial, status="recruiting", by=None, reason="Opened for the benchmark")
    users = get_user_model()
    for name, role in (("bench_coordinator", Role.COORDINATOR), ("bench_statistician", Role.BLINDED_STATISTICIAN)):
        user, made = users.objects.get_or_create(username=name, defaults={"email": f"{name}@example.org"})
        if made:
            membership_grant(trial=trial, user=user, role=role, by=None)
    return trial


def token_for(username: str) -> str:
    """A fresh API token (stored hashed: an earlier one cannot be read back), valid for a day."""
    from django.contrib.auth import get_user_model

    from trial.services import api_token_create

    _, key = api_token_create(user=get_user_model().objects.get(username=username), name="bench", days=1)
    return key


class AnswerPool:
    """Valid, scored answer sets per instrument (random values; PHQ-9 item 9 always 0: no safety flag)."""

    def __init__(self, codes: list[str], rng: random.Random) -> None:
        from assessments.instruments import default_registry
        from assessments.scoring import score_instrument

        self.sets: dict[str, list[tuple[dict[str, int | float], Any]]] = {}
        for code in codes:
            instrument = default_registry().get(code)
            pool = []
            while len(pool) < ANSWER_POOL:
                answers = {item.key: rng.choice(item.values) for item in instrument.items}
                if "phq9_9" in answers:
                    answers["phq9_9"] = 0
                score = score_instrument(code, answers)
                if score.flags:
                    continue
                pool.append((answers, score))
            self.sets[code] = pool

    def draw(self, code: str, rng: random.Random) -> tuple[dict[str, int | float], Any]:
        return rng.choice(self.sets[code])


class Loader:
    def __init__(self, trial: Any, seed: int) -> None:
        from participants.models import RandomizationSequence
        from trial.models import ConsentDocument, VisitDefinition, VisitInstrument

        self.trial = trial
        self.rng = random.Random(seed)
        self.arms = {a.code: a for a in trial.arms.all()}
        self.arm_specs = trial.arm_specs()
        self.site = trial.sites.first()
        self.document = ConsentDocument.objects.filter(trial=trial).order_by("-id").first()
        self.visits = list(VisitDefinition.objects.filter(trial=trial).order_by("order", "week"))
        rows = list(VisitInstrument.objects.filter(visit__trial=trial).order_by("order", "id"))
        self.instruments: dict[tuple[int, int | None], list[str]] = {}
        for visit in self.visits:
            for arm in [None, *self.arms.values()]:
                self.instruments[(visit.pk, arm.pk if arm else None)] = [
                    r.instrument_code
                    for r in rows
                    if r.visit_id == visit.pk and (r.arm_id is None or (arm is not None and r.arm_id == arm.pk))
                ]
        codes = sorted({c for v in self.instruments.values() for c in v})
        self.pool = AnswerPool(codes, self.rng)
        self.sequences: dict[str, Any] = {}
        for condition in CONDITIONS:
            stratum = f"condition={condition}"
            seq, _ = RandomizationSequence.objects.get_or_create(trial=trial, stratum=stratum)
            self.sequences[stratum] = seq

    def window(self, visit: Any, anchor: datetime, tz: ZoneInfo) -> Any:
        from assessments.schedule import visit_window

        return visit_window(
            anchor_at=anchor,
            tz=tz,
            offset_days=visit.offset_days,
            before_days=visit.window_before_days,
            after_days=visit.window_after_days,
            send_hour=SEND_HOUR,
        )

    def allocate(self, stratum: str) -> tuple[Any, int]:
        from trial import randomization as procedures

        seq = self.sequences[stratum]
        draw, state = procedures.block_draw(
            self.arm_specs, procedures.BlockState.from_json(seq.state), self.trial.block_sizes, self.rng
        )
        seq.state = state.to_json()
        seq.allocated += 1
        return draw, seq.allocated

    def next_numbers(self, n: int) -> list[int]:
        from participants.models import StudyIdCounter

        counter, _ = StudyIdCounter.objects.select_for_update().get_or_create(trial=self.trial)
        first = counter.last_number + 1
        counter.last_number += n
        counter.save(update_fields=["last_number"])
        return list(range(first, first + n))

    def study_id(self, number: int) -> str:
        return f"{self.trial.study_id_prefix}-{number:0{self.trial.study_id_digits}d}"

    def chunk(self, n: int, now: datetime, kinds: list[str]) -> dict[str, int]:
        """Insert ``n`` participants, ``kinds[i]`` saying each one's shape (past / recent / due / and the
        pools of the live benchmarks: open_baseline, enrolled)."""
        from django.db import transaction

        from assessments.models import AssessmentStatus, Response, ResponseSource, ScheduledAssessment
        from participants.models import Allocation, Consent, ContactDetails, Participant, Status, StatusChange

        rng = self.rng
        counts = {"participants": 0, "allocations": 0, "assessments": 0, "responses": 0, "items": 0}
        with transaction.atomic():
            numbers = self.next_numbers(n)
            plans = []
            participants = []
            for i in range(n):
                kind = kinds[i]
                condition = rng.choice(CONDITIONS)
                tz = ZoneInfo(rng.choice(TIMEZONES))
                if kind == "past":
                    randomized_at = now - timedelta(days=rng.uniform(70, 700))
                elif kind == "recent":
                    randomized_at = now - timedelta(days=rng.uniform(1, 20))
                elif kind == "due":
                    randomized_at = now - timedelta(days=27, hours=rng.uniform(0, 12))
                else:  # pools: enrolled today, not randomized
                    randomized_at = None
                enrolled_at = (randomized_at or now) - timedelta(days=rng.uniform(1, 5))
                screened_at = enrolled_at - timedelta(days=rng.uniform(1, 10))
                status = Status.RANDOMIZED if randomized_at else Status.ENROLLED
                plans.append((kind, condition, tz, screened_at, enrolled_at, randomized_at))
                participants.append(
                    Participant(
                        trial=self.trial,
                        site=self.site,
                        study_id=self.study_id(numbers[i]),
                        status=status,
                        screening_answers={
                            "age": rng.randint(18, 70),
                            "us_resident": True,
                            "condition": condition,
                            "phq9_total": rng.randint(10, 27),
                            "gad7_total": 12,
                            "swed_high_risk": True,
                            "suicidality_treatment": False,
                            "bipolar": False,
                            "psychosis": False,
                        },
                        strata={"condition": condition},
                        screened_at=screened_at,
                        enrolled_at=enrolled_at,
                        randomized_at=randomized_at,
                    )
                )
            Participant.objects.bulk_create(participants, batch_size=CHUNK)
            contacts, consents, changes, allocations = [], [], [], []
            for p, (_kind, _cond, tz, screened_at, enrolled_at, randomized_at) in zip(participants, plans, strict=True):
                contacts.append(
                    ContactDetails(
                        participant=p,
                        full_name=f"Bench Participant {p.study_id}",
                        email=f"{p.study_id.lower()}@example.org",
                        timezone=tz.key,
                        updated_at=enrolled_at,
                    )
                )
                consented_at = screened_at + (enrolled_at - screened_at) / 2
                consents.append(
                    Consent(
                        participant=p,
                        document=self.document,
                        signed_name=f"Bench Participant {p.study_id}",
                        signed_at=consented_at,
                        recorded_at=consented_at,
                    )
                )
                steps = [
                    ("", Status.SCREENED, screened_at),
                    (Status.SCREENED, Status.ELIGIBLE, screened_at),
                    (Status.ELIGIBLE, Status.CONSENTED, consented_at),
                    (Status.CONSENTED, Status.ENROLLED, enrolled_at),
                ]
                if randomized_at:
                    steps.append((Status.ENROLLED, Status.RANDOMIZED, randomized_at))
                changes.extend(StatusChange(participant=p, from_status=a, to_status=b, at=at) for a, b, at in steps)
            ContactDetails.objects.bulk_create(contacts, batch_size=CHUNK)
            Consent.objects.bulk_create(consents, batch_size=CHUNK)
            StatusChange.objects.bulk_create(changes, batch_size=CHUNK)
            arm_of: dict[int, Any] = {}
            for p, plan in zip(participants, plans, strict=True):
                if plan[5] is None:
                    continue
                stratum = f"condition={plan[1]}"
                draw, number = self.allocate(stratum)
                arm = self.arms[draw.arm]
                arm_of[p.pk] = arm
                allocations.append(
                    Allocation(
                        participant=p,
                        trial=self.trial,
                        arm=arm,
                        method=self.trial.randomization_method,
                        stratum=stratum,
                        sequence_number=number,
                        block_index=draw.block_index,
                        block_size=draw.block_size,
                        allocated_at=plan[5],
                    )
                )
            Allocation.objects.bulk_create(allocations, batch_size=CHUNK)
            for seq in self.sequences.values():
                seq.save(update_fields=["allocated", "state"])

            assessments: list[Any] = []
            answered: list[tuple[Any, datetime]] = []  # (assessment, completed_at) to give responses
            for p, (kind, _cond, tz, _s, enrolled_at, randomized_at) in zip(participants, plans, strict=True):
                arm = arm_of.get(p.pk)
                for visit in self.visits:
                    codes = self.instruments[(visit.pk, arm.pk if arm else None)]
                    if visit.anchor == "enrollment":
                        w = self.window(visit, enrolled_at, tz)
                    elif randomized_at is None:
                        continue
                    else:
                        w = self.window(visit, randomized_at, tz)
                    a = ScheduledAssessment(
                        participant=p,
                        visit=visit,
                        instruments=codes,
                        due_at=w.due_at,
                        opens_at=w.opens_at,
                        closes_at=w.closes_at,
                    )
                    if visit.anchor == "enrollment" and kind == "open_baseline":
                        a.status = AssessmentStatus.OPEN
                        a.opened_at = w.opens_at
                        a.next_reminder_at = now + timedelta(days=2)
                    elif visit.anchor == "enrollment" or (kind == "past" and rng.random() < 0.88):
                        a.status = AssessmentStatus.COMPLETED
                        a.opened_at = w.opens_at
                        a.completed_at = w.opens_at + timedelta(hours=rng.uniform(1, 60))
                        answered.append((a, a.completed_at))
                    elif kind == "past":
                        a.status = AssessmentStatus.MISSED
                        a.opened_at = w.opens_at
                        a.ended_at = w.closes_at
                        a.ended_reason = "Window closed before completion"
                    else:  # recent, or due: scheduled (the due ones have opens_at <= now < closes_at)
                        a.status = AssessmentStatus.SCHEDULED
                    assessments.append(a)
            ScheduledAssessment.objects.bulk_create(assessments, batch_size=CHUNK)
            responses = []
            for a, completed_at in answered:
                for j, code in enumerate(a.instruments):
                    answers, score = self.pool.draw(code, rng)
                    responses.append(
                        Response(
                            assessment=a,
                            instrument_code=code,
                            version=1,
                            answers=answers,
                            total=score.total,
                            subscales=dict(score.subscales),
                            band=score.band or "",
                            flags=sorted(score.flags),
                            prorated=score.prorated,
                            source=ResponseSource.SURVEY,
                            submitted_at=completed_at - timedelta(minutes=3 * (len(a.instruments) - j)),
                        )
                    )
                    counts["items"] += len(answers)
            Response.objects.bulk_create(responses, batch_size=CHUNK)
        counts.update(
            participants=n, allocations=len(allocations), assessments=len(assessments), responses=len(responses)
        )
        return counts


def bulk_participants() -> int:
    from participants.models import Allocation

    return Allocation.objects.filter(trial__slug=common.TRIAL_SLUG).count()


def grow(target: int, *, seed: int = 1, verbose: bool = True) -> dict[str, Any]:
    """Add randomized participants until the trial has ``target`` of them."""
    from django.db import connection

    trial = ensure_trial()
    have = bulk_participants()
    loader = Loader(trial, seed + have)
    from django.utils import timezone

    now = timezone.now()
    totals = {"participants": 0, "allocations": 0, "assessments": 0, "responses": 0, "items": 0}
    start = time.perf_counter()
    done = have
    while done < target:
        n = min(CHUNK, target - done)
        # 3% due, 5% recent, 92% past, spread evenly (by position, so every size has the same shares).
        kinds = []
        for k in range(done, done + n):
            r = k % 100
            kinds.append("due" if r < 3 else "recent" if r < 8 else "past")
        counts = loader.chunk(n, now, kinds)
        for key, value in counts.items():
            totals[key] += value
        done += n
        if verbose:
            rate = (done - have) / (time.perf_counter() - start)
            print(f"  loaded {done:>7} participants ({rate:,.0f}/s)", flush=True)
    elapsed = time.perf_counter() - start
    # VACUUM, not only ANALYZE: a live database's rows have been vacuumed (by autovacuum) long before anyone
    # exports them; freshly bulk-loaded ones have not. Vacuumed here, untimed, no benchmark pays for the
    # first scan's hint-bit writes, and autovacuum has nothing left to do in the middle of one.
    vacuum_start = time.perf_counter()
    with connection.cursor() as cursor:
        cursor.execute("VACUUM (ANALYZE)")
    return {
        "from": have,
        "to": target,
        "seconds": round(elapsed, 1),
        "vacuum_seconds": round(time.perf_counter() - vacuum_start, 1),
        "inserted": totals,
    }


def add_pools(*, open_baselines: int, enrolled: int, seed: int = 7) -> dict[str, Any]:
    """Participants for the live benchmarks: enrolled with the baseline open and unanswered (submission),
    and enrolled with the baseline completed, not yet randomized (randomization)."""
    from django.utils import timezone

    trial = ensure_trial()
    loader = Loader(trial, seed)
    now = timezone.now()
    made: dict[str, Any] = {}
    for kind, n in (("open_baseline", open_baselines), ("enrolled", enrolled)):
        done = 0
        while done < n:
            step = min(CHUNK, n - done)
            loader.chunk(step, now, [kind] * step)
            done += step
        made[kind] = n
    return made


def table_counts() -> dict[str, int]:
    from django.db import connection

    out = {}
    with connection.cursor() as cursor:
        for table in (
            "participants_participant",
            "participants_allocation",
            "assessments_scheduledassessment",
            "assessments_response",
            "participants_statuschange",
        ):
            cursor.execute(f"SELECT count(*) FROM {table}")  # noqa: S608
            out[table] = cursor.fetchone()[0]
        cursor.execute(
            "SELECT coalesce(sum((SELECT count(*) FROM jsonb_object_keys(answers))), 0) FROM assessments_response"
        )
        out["item_answers"] = int(cursor.fetchone()[0])
        cursor.execute("SELECT pg_database_size(current_database())")
        out["database_bytes"] = cursor.fetchone()[0]
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--participants", type=int, required=True)
    parser.add_argument("--reset", action="store_true", help="Drop and recreate the bench database first.")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    if args.reset:
        reset_database()
    common.setup_django()
    print(grow(args.participants, seed=args.seed))
    print(table_counts())


if __name__ == "__main__":
    main()
