"""Export and report jobs: requested over the API, run by a Celery task, progress visible, the file
downloadable when done, audited with its hash; refused, failed and duplicated jobs handled."""

from __future__ import annotations

import base64
import hashlib
import io
import re
import time
from datetime import timedelta

import pandas as pd
import pytest
from django.utils import timezone

from analysis.models import Job, JobStatus
from analysis.services import job_run, jobs_resume
from config.celery import app as celery_app
from tests import helpers
from trial.models import AuditEvent
from trial.services import trial_set_status

pytestmark = pytest.mark.django_db

BASE = "/api/v1/trials/therabot"


@pytest.fixture(autouse=True)
def _export_root(settings, tmp_path):
    settings.EXPORT_ROOT = tmp_path / "exports"


@pytest.fixture
def request_job(api, django_capture_on_commit_callbacks):
    def post(user, path, body):
        with django_capture_on_commit_callbacks(execute=True):
            response = api(user).post(f"{BASE}/{path}", body, format="json")
        return response

    return post


def _download(api, user, job_id) -> bytes:
    response = api(user).get(f"{BASE}/jobs/{job_id}/download/")
    assert response.status_code == 200, response.content
    return b"".join(response.streaming_content)


def test_a_long_export_job_runs_and_its_file_is_the_streamed_file(api, blinded_statistician, trial, request_job):
    for _ in range(3):
        helpers.randomized(trial)
    response = request_job(blinded_statistician, "exports/", {"dataset": "long", "format": "csv"})
    assert response.status_code == 202
    job_id = response.json()["id"]
    job = api(blinded_statistician).get(f"{BASE}/jobs/{job_id}/").json()
    assert job["status"] == "done" and job["progress"] == 1.0
    assert job["rows_done"] == job["rows_total"] > 0 and job["download_url"].endswith(f"/jobs/{job_id}/download/")
    body = _download(api, blinded_statistician, job_id)
    assert hashlib.sha256(body).hexdigest() == job["sha256"] and len(body) == job["bytes"]
    streamed = b"".join(api(blinded_statistician).get(f"{BASE}/exports/long.csv").streaming_content)
    assert body == streamed  # one layout, however it is fetched
    event = AuditEvent.objects.filter(action="export.long", changes__job__1=job_id).get()
    assert event.changes["sha256"][1] == job["sha256"] and event.actor == blinded_statistician
    assert [j["id"] for j in api(blinded_statistician).get(f"{BASE}/jobs/").json()] == [job_id]


@pytest.mark.parametrize("fmt", ["parquet", "stata", "spss"])
def test_every_format_reads_back_with_labels(api, blinded_statistician, trial, request_job, tmp_path, fmt):
    people = [helpers.randomized(trial, condition=c) for c in ("MDD", "GAD", "CHR-FED")]
    response = request_job(blinded_statistician, "exports/", {"dataset": "wide", "format": fmt})
    job = Job.objects.get(pk=response.json()["id"])
    assert job.status == JobStatus.DONE, job.error
    body = _download(api, blinded_statistician, job.pk)
    path = tmp_path / job.file_name
    path.write_bytes(body)
    if fmt == "parquet":
        frame = pd.read_parquet(path)
        assert set(frame["arm"].astype(str)) <= {"A", "B"}
    elif fmt == "stata":
        frame = pd.read_stata(path, convert_categoricals=True)
        reader = pd.io.stata.StataReader(path)
        with reader:
            assert reader.variable_labels()["phq9_total_week4"].startswith("PHQ-9 total, Week 4")
    else:
        pyreadstat = pytest.importorskip("pyreadstat")
        frame, meta = pyreadstat.read_sav(str(path), apply_value_formats=True)
        assert "Major depressive disorder" in meta.value_labels[meta.variable_to_label["condition"]].values()
    assert sorted(frame["participant_id"]) == sorted(p.study_id for p in people)
    conditions = set(frame["condition"].astype(str))
    labels = {"Major depressive disorder", "Generalized anxiety disorder",
              "Clinically high risk for feeding and eating disorders"}  # fmt: skip
    assert conditions in ({"MDD", "GAD", "CHR-FED"}, labels)
    assert frame["phq9_total_baseline"].notna().all() and frame["phq9_total_week8"].isna().all()


def test_the_item_level_file_as_a_stata_job(api, blinded_statistician, trial, request_job, tmp_path):
    participant = helpers.randomized(trial)
    response = request_job(blinded_statistician, "exports/", {"dataset": "items", "format": "stata"})
    job = Job.objects.get(pk=response.json()["id"])
    assert job.status == JobStatus.DONE, job.error
    path = tmp_path / job.file_name
    path.write_bytes(_download(api, blinded_statistician, job.pk))
    frame = pd.read_stata(path, convert_categoricals=False)
    with pd.io.stata.StataReader(path) as reader:
        assert reader.variable_labels()["phq9_1"] == "PHQ-9 item 1"
    assert list(frame["visit"].map({1: "baseline", 2: "week4", 3: "week8"})) == ["baseline", "week4", "week8"]
    baseline = frame.iloc[0]
    assert baseline["participant_id"] == participant.study_id
    assert {k: baseline[k] for k in helpers.lowest_answers("phq9")} == helpers.lowest_answers("phq9")
    assert frame.iloc[2][["phq9_1", "gad7_7"]].isna().all()  # week 8: not yet answered


def test_the_dictionary_as_a_job(api, blinded_statistician, trial, request_job):
    response = request_job(blinded_statistician, "exports/", {"dataset": "dictionary", "format": "csv"})
    job = Job.objects.get(pk=response.json()["id"])
    assert job.status == JobStatus.DONE
    text = _download(api, blinded_statistician, job.pk).decode()
    assert "phq9_total_week4" in text and "ended_reason" in text


def test_refusals_name_the_problem_and_create_nothing(api, blinded_statistician, coordinator, trial, request_job):
    response = request_job(blinded_statistician, "exports/", {"dataset": "long", "format": "csv", "unblinded": True})
    assert response.status_code == 403 and "unblinded statistician" in response.json()["detail"]
    response = request_job(blinded_statistician, "exports/", {"dataset": "contacts", "format": "csv"})
    assert response.status_code == 400 and "dataset" in response.json()
    response = request_job(blinded_statistician, "exports/", {"dataset": "dictionary", "format": "stata"})
    assert response.status_code == 400 and "Format 'stata'" in response.json()["detail"]
    assert request_job(coordinator, "exports/", {"dataset": "long", "format": "csv"}).status_code == 403
    assert Job.objects.count() == 0


def test_a_job_is_its_requesters_alone(api, blinded_statistician, unblinded_statistician, outsider, trial, request_job):
    job_id = request_job(blinded_statistician, "exports/", {"dataset": "long", "format": "csv"}).json()["id"]
    assert api(unblinded_statistician).get(f"{BASE}/jobs/{job_id}/").status_code == 404
    assert api(unblinded_statistician).get(f"{BASE}/jobs/{job_id}/download/").status_code == 404
    assert api(outsider).get(f"{BASE}/jobs/{job_id}/").status_code == 404
    assert api(blinded_statistician).get(f"{BASE}/jobs/not-a-uuid/").status_code == 404


def test_an_unblinded_report_after_lock(api, unblinded_statistician, trial, request_job):
    for condition in ("MDD", "GAD", "CHR-FED") * 2:
        helpers.randomized(trial, condition=condition)
    trial_set_status(trial=trial, status="closed", by=None)
    trial_set_status(trial=trial, status="locked", by=None)
    response = request_job(unblinded_statistician, "reports/", {"unblinded": True})
    assert response.status_code == 202
    job = Job.objects.get(pk=response.json()["id"])
    assert job.status == JobStatus.DONE, job.error
    html = _download(api, unblinded_statistician, job.pk).decode()
    assert html.lstrip().lower().startswith("<!doctype html") and "<svg" in html
    # Shown in a browser from here, it may use its own style sheet (by its hash) and nothing else.
    style = re.search(r"<style>(.*?)</style>", html, re.DOTALL)
    assert style is not None and html.count("<style") == 1 and "<script" not in html
    digest = base64.b64encode(hashlib.sha256(style.group(1).encode()).digest()).decode()
    policy = api(unblinded_statistician).get(f"{BASE}/jobs/{job.pk}/download/")["Content-Security-Policy"]
    assert policy.split("; ")[:2] == ["default-src 'none'", f"style-src 'sha256-{digest}'"]
    # No follow-up yet: every outcome says so instead of a number, and the CONSORT counts are there.
    assert job.result["consort"]["randomized"] == 6 and job.result["blinded"] is False
    assert all(o["error"] for o in job.result["outcomes"])
    data = api(unblinded_statistician).get(f"{BASE}/jobs/{job.pk}/download/", {"as": "json"}).json()
    assert data["consort"]["randomized"] == 6
    assert AuditEvent.objects.filter(action="report.create", trial=trial).count() == 1


def test_a_job_that_fails_says_why_and_leaves_no_file(api, blinded_statistician, trial, request_job, settings):
    response = request_job(blinded_statistician, "reports/", {})  # nobody randomized: nothing to compare
    job = Job.objects.get(pk=response.json()["id"])
    assert job.status == JobStatus.FAILED and "two arms" in job.error
    assert not list((settings.EXPORT_ROOT).glob("*"))
    response = api(blinded_statistician).get(f"{BASE}/jobs/{job.pk}/download/")
    assert response.status_code == 409 and "failed" in response.json()["detail"]


def test_a_job_runs_once_and_a_dead_workers_job_runs_again(blinded_statistician, trial):
    from analysis.services import job_request
    from trial.access import roles_for

    helpers.randomized(trial)
    roles = roles_for(blinded_statistician, trial)
    job = job_request(trial=trial, roles=roles, by=blinded_statistician, kind="export", dataset="long", fmt="csv",
                      blinded=True)  # fmt: skip
    assert job.status == JobStatus.QUEUED  # no commit inside the test: the hand-off waits
    assert job_run(job.pk).status == JobStatus.DONE
    assert job_run(job.pk) is None  # a duplicate delivery does nothing
    other = job_request(trial=trial, roles=roles, by=blinded_statistician, kind="export", dataset="long", fmt="csv",
                        blinded=True)  # fmt: skip
    Job.objects.filter(pk=other.pk).update(status=JobStatus.RUNNING, started_at=timezone.now())
    assert job_run(other.pk) is None  # running elsewhere, within its lease
    Job.objects.filter(pk=other.pk).update(started_at=timezone.now() - timedelta(hours=6))
    assert jobs_resume()["resumed"] == 1  # eager: the resumed task ran at once
    assert Job.objects.get(pk=other.pk).status == JobStatus.DONE


def test_old_files_expire(api, blinded_statistician, trial, request_job):
    job_id = request_job(blinded_statistician, "exports/", {"dataset": "long", "format": "csv"}).json()["id"]
    Job.objects.filter(pk=job_id).update(finished_at=timezone.now() - timedelta(days=30))
    assert jobs_resume()["expired"] == 1
    response = api(blinded_statistician).get(f"{BASE}/jobs/{job_id}/download/")
    assert response.status_code == 410


@pytest.mark.redis
@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_a_real_worker_runs_an_export_job(db):
    from celery.contrib.testing.worker import start_worker
    from django.contrib.auth import get_user_model
    from rest_framework.test import APIClient

    from analysis.models import Job as JobModel

    trial = helpers.open_reference_trial()
    for _ in range(4):
        helpers.randomized(trial)
    statistician = get_user_model().objects.create_user("stats-worker")
    helpers.grant(trial, statistician, "blinded_statistician")
    celery_app.conf.task_always_eager = False
    client = APIClient()
    client.force_authenticate(statistician)
    with start_worker(celery_app, pool="threads", concurrency=2, perform_ping_check=False, shutdown_timeout=15):
        response = client.post(f"{BASE}/exports/", {"dataset": "long", "format": "parquet"}, format="json")
        assert response.status_code == 202 and response.json()["status"] in {"queued", "running", "done"}
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            job = JobModel.objects.get(pk=response.json()["id"])
            if job.status in {JobStatus.DONE, JobStatus.FAILED}:
                break
            time.sleep(0.1)
    assert job.status == JobStatus.DONE, job.error
    body = b"".join(client.get(f"{BASE}/jobs/{job.pk}/download/").streaming_content)
    assert len(pd.read_parquet(io.BytesIO(body))) == job.rows_total
