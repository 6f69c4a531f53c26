"""The local admin GUI on the demo models, through Django's test client (real
database, real admin views and templates)."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

import pytest
from bs4 import BeautifulSoup
from django.contrib import admin as django_admin
from django.contrib.auth import get_user_model
from django.urls import reverse

from espresso_static import admin
from espresso_static.models import Notification
from models.demo import data
from models.demo import models as demo
from tests.test_cli_basics import run_cli, write_self_setup_project

REPO = Path(__file__).resolve().parents[1]
DEMO_MODELS = [
    demo.Ensemble,
    demo.GaugeConfig,
    demo.FermionAction,
    demo.DomainWall,
    demo.MobiusDomainWall,
    demo.Hisq,
    demo.Propagator,
    demo.Correlator,
    demo.DataFile,
]


@pytest.fixture(scope="module")
def demo_rows(django_db_setup, django_db_blocker):
    """The demo campaign (300 file rows), written once for the module."""
    with django_db_blocker.unblock():
        data.generate(files=300)
        yield
        data.clear()


def changelist_url(model) -> str:
    return reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_changelist")


def change_url(row) -> str:
    return reverse(f"admin:{row._meta.app_label}_{row._meta.model_name}_change", args=[row.pk])


def add_url(model) -> str:
    return reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_add")


def result_rows(response) -> list:
    soup = BeautifulSoup(response.content, "html.parser")
    return soup.select("#result_list tbody tr")


def column_texts(response, column_class: str) -> list[str]:
    """The cells of one changelist column (Django marks them ``field-<name>``)."""
    return [
        row.select_one(f".field-{column_class}").get_text(strip=True)
        for row in result_rows(response)
    ]


def test_every_project_model_is_registered_with_derived_options():
    admin.register_project_models()
    for model in [*DEMO_MODELS, Notification]:
        assert django_admin.site.is_registered(model), model
    files = django_admin.site.get_model_admin(demo.DataFile)
    assert "file_name" in files.search_fields
    assert "ensemble__name" in files.search_fields
    assert "status" in files.list_filter and "machine" in files.list_filter
    assert ("ensemble", admin.UsedRelatedFilter) in files.list_filter
    assert "released" in django_admin.site.get_model_admin(demo.Ensemble).list_filter


def test_an_apps_own_registration_wins():
    class HisqAdmin(django_admin.ModelAdmin):
        list_display = ["id", "naik_epsilon"]

    site = django_admin.AdminSite(name="own-registration")
    site.register(demo.Hisq, HisqAdmin)
    automatic = admin.register_project_models(site)
    assert type(site.get_model_admin(demo.Hisq)) is HisqAdmin
    assert demo.Hisq not in automatic
    assert demo.Ensemble in automatic


@pytest.mark.django_db
@pytest.mark.parametrize("model", DEMO_MODELS, ids=lambda model: model.__name__)
def test_changelist_and_change_form_load(admin_client, demo_rows, model):
    response = admin_client.get(changelist_url(model))
    assert response.status_code == 200
    assert len(result_rows(response)) == min(model.objects.count(), 50)

    row = model.objects.order_by("pk").first()
    response = admin_client.get(change_url(row))
    assert response.status_code == 200
    soup = BeautifulSoup(response.content, "html.parser")
    form = soup.select_one(f"form#{model._meta.model_name}_form")
    assert form is not None
    assert form.select_one('input[name="_save"]') is not None


@pytest.mark.django_db
def test_notification_changelist_and_form_load(admin_client):
    notification = Notification.objects.create(title="Tape check", level=30, tag="sync")
    response = admin_client.get(changelist_url(Notification))
    assert column_texts(response, "title") == ["Tape check"]
    assert column_texts(response, "level") == ["WARNING"]
    assert admin_client.get(change_url(notification)).status_code == 200


def test_with_many_fields_the_filterable_ones_keep_a_column():
    columns = admin.list_columns(demo.DataFile)
    names = [getattr(column, "__name__", column) for column in columns]
    assert len(names) <= admin.MAX_COLUMNS + 1  # + last_modified
    assert {"status", "machine", "ensemble"} <= set(names)  # filterable: kept
    assert "size" not in names and "produced" not in names  # the last plain fields: left out
    assert names[:3] == ["id", "file_name", "ensemble"]  # declaration order kept
    assert names[-1] == "last_modified"


@pytest.mark.django_db
def test_foreign_key_columns_show_the_short_name(admin_client, demo_rows):
    response = admin_client.get(changelist_url(demo.DataFile))
    names = {ensemble.name for ensemble in demo.Ensemble.objects.all()}
    assert set(column_texts(response, "ensemble")) <= names


@pytest.mark.django_db
def test_search_over_text_fields_and_related_names(admin_client, demo_rows):
    response = admin_client.get(changelist_url(demo.GaugeConfig), {"q": "a09m220"})
    expected = demo.GaugeConfig.objects.filter(ensemble__name="a09m220").count()
    assert response.context["cl"].result_count == expected > 0
    assert set(column_texts(response, "ensemble")) == {"a09m220"}

    response = admin_client.get(changelist_url(demo.DataFile), {"q": "x0y0z0t126"})
    sources = column_texts(response, "source")
    assert sources and set(sources) == {"x0y0z0t126"}


@pytest.mark.django_db
def test_filters_by_choice_boolean_and_foreign_key(admin_client, demo_rows):
    response = admin_client.get(changelist_url(demo.DataFile), {"status__exact": "on_disk"})
    assert set(column_texts(response, "status")) == {"on disk"}
    soup = BeautifulSoup(response.content, "html.parser")
    filter_titles = [
        title.get_text(strip=True) for title in soup.select("#changelist-filter summary")
    ]
    assert {"By machine", "By status", "By ensemble"} <= set(filter_titles)
    choices = soup.select('#changelist-filter details[data-filter-title="ensemble"] li a')
    names = sorted(demo.Ensemble.objects.values_list("name", flat=True))
    assert [choice.get_text(strip=True) for choice in choices] == ["All", *names]

    response = admin_client.get(changelist_url(demo.Ensemble), {"released__exact": "1"})
    released = set(demo.Ensemble.objects.filter(released=True).values_list("name", flat=True))
    assert set(column_texts(response, "name")) == released

    ensemble = demo.Ensemble.objects.get(name="a12m220")
    response = admin_client.get(changelist_url(demo.DataFile), {"ensemble__id__exact": ensemble.pk})
    assert response.context["cl"].result_count == ensemble.files.count() > 0
    assert set(column_texts(response, "ensemble")) == {"a12m220"}


def ensemble_form(ensemble, **changes) -> dict:
    values = {
        field: getattr(ensemble, field)
        for field in ("name", "beta", "nx", "nt", "lattice_spacing", "pion_mass")
    }
    values.update(tag="", _save="Save", **changes)
    if ensemble.released:
        values["released"] = "on"
    return values


@pytest.mark.django_db
def test_an_edit_violating_a_check_is_refused_with_its_message(admin_client, demo_rows):
    ensemble = demo.Ensemble.objects.get(name="a12m310")
    response = admin_client.post(change_url(ensemble), ensemble_form(ensemble, nt=8))
    assert response.status_code == 200  # the form again, not a redirect
    soup = BeautifulSoup(response.content, "html.parser")
    assert soup.select_one(".errornote") is not None
    errors = [item.get_text(strip=True) for item in soup.select(".errorlist li")]
    assert "nt=8 is smaller than nx=24." in errors
    ensemble.refresh_from_db()
    assert ensemble.nt == 64


@pytest.mark.django_db
def test_an_invalid_new_row_is_not_created(admin_client, demo_rows):
    before = demo.MobiusDomainWall.objects.count()
    response = admin_client.post(
        add_url(demo.MobiusDomainWall),
        {"quark_mass": 0.01, "l5": 8, "m5": 1.3, "b5": 2.0, "c5": 0.5, "tag": "", "_save": "Save"},
    )
    soup = BeautifulSoup(response.content, "html.parser")
    assert "b5 - c5 = 1.5, expected 1." in [
        li.get_text(strip=True) for li in soup.select(".errorlist li")
    ]
    assert demo.MobiusDomainWall.objects.count() == before


@pytest.mark.django_db
def test_a_valid_edit_is_saved_and_attributed_to_the_admin(admin_client, demo_rows):
    ensemble = demo.Ensemble.objects.get(name="a09m310")
    response = admin_client.post(change_url(ensemble), ensemble_form(ensemble, pion_mass=300.0))
    assert response.status_code == 302
    ensemble.refresh_from_db()
    assert ensemble.pion_mass == 300.0
    assert ensemble.user.username == "admin"


@pytest.mark.django_db
def test_a_refused_many_to_many_addition_saves_nothing(admin_client, demo_rows):
    first, second = (
        demo.Propagator.objects.filter(gaugeconfig=config).first()
        for config in demo.GaugeConfig.objects.filter(propagator__isnull=False).distinct()[:2]
    )
    before = demo.Correlator.objects.count()
    response = admin_client.post(
        add_url(demo.Correlator),
        {
            "interpolator": "pion",
            "momentum": 0,
            "propagators": [first.pk, second.pk],
            "tag": "",
            "_save": "Save",
        },
        follow=True,
    )
    assert demo.Correlator.objects.count() == before
    soup = BeautifulSoup(response.content, "html.parser")
    notes = [item.get_text(strip=True) for item in soup.select(".messagelist .error")]
    assert notes == ["Not saved: propagators on 2 gauge configurations."]


@pytest.mark.django_db
def test_ensure_superuser_promotes_the_user_rows_are_attributed_to():
    user = get_user_model().objects.create(username="campaign")
    promoted, created = admin.ensure_superuser("campaign", "secret-password")
    assert not created and promoted.pk == user.pk
    assert promoted.is_superuser and promoted.check_password("secret-password")
    assert admin.has_superuser()


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def wait_for_server(url: str, process: subprocess.Popen, seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"the admin exited: {process.stdout.read()}")
        try:
            urllib.request.urlopen(url, timeout=2)
            return
        except urllib.error.HTTPError:
            return
        except OSError:
            time.sleep(0.3)
    raise AssertionError(f"no admin on {url} after {seconds} s")


@pytest.mark.slow
def test_admin_command_serves_the_demo_with_a_new_superuser(tmp_path):
    """The real command in its own process, on its own SQLite file: superuser created
    from the prompts, login, a changelist with its CSS."""
    environ = {**os.environ, "DATABASE_URL": f"sqlite:///{tmp_path / 'admin.sqlite3'}"}
    command = [sys.executable, "-m", "espresso_static"]
    demo_run = subprocess.run(
        [*command, "demo", "--project", str(REPO), "--rows", "50"],
        env=environ, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert demo_run.returncode == 0, demo_run.stderr
    port = free_port()
    server = subprocess.Popen(
        [*command, "admin", "--project", str(REPO), "--port", str(port), "--create-superuser"],
        env=environ, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
        text=True, start_new_session=True,  # no terminal: the password prompt reads stdin
    )  # fmt: skip
    try:
        server.stdin.write("curator\nsecret-pw\nsecret-pw\n")
        server.stdin.close()
        base = f"http://127.0.0.1:{port}"
        wait_for_server(f"{base}/login/", server)
        browser = urllib.request.build_opener(urllib.request.HTTPCookieProcessor())
        login = BeautifulSoup(browser.open(f"{base}/login/").read(), "html.parser")
        token = login.select_one('input[name="csrfmiddlewaretoken"]')["value"]
        form = {"username": "curator", "password": "secret-pw", "csrfmiddlewaretoken": token}
        browser.open(f"{base}/login/?next=/", urllib.parse.urlencode(form).encode())
        page = BeautifulSoup(browser.open(f"{base}/demo/ensemble/").read(), "html.parser")
        names = [cell.get_text(strip=True) for cell in page.select("#result_list .field-name")]
        assert names == sorted(name for name, *_ in data.ENSEMBLES)
        assert browser.open(f"{base}/static/admin/css/base.css").status == 200
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=30)
        output = server.stdout.read()
    assert "Superuser curator created." in output
    assert f"on http://127.0.0.1:{port}/" in output


@pytest.mark.slow
def test_admin_command_of_a_project_whose_package_sets_django_up(tmp_path):
    """The package's own ``espresso_static.setup()`` runs inside the command's set-up:
    Django gets the admin's settings, and the admin serves its login page."""
    project = write_self_setup_project(tmp_path)
    migrated = run_cli("migrate", cwd=project)  # admin, as all but migrate, needs a database
    assert migrated.returncode == 0, migrated.stderr
    environ = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"}
    port = free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "espresso_static", "admin", "--port", str(port)],
        cwd=project, env=environ, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        start_new_session=True,
    )  # fmt: skip
    try:
        wait_for_server(f"http://127.0.0.1:{port}/login/", server)
        login = urllib.request.urlopen(f"http://127.0.0.1:{port}/login/", timeout=10)
        assert login.status == 200
    finally:
        if server.poll() is None:
            os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=30)
    assert f"Admin of Copy on http://127.0.0.1:{port}/" in server.stdout.read()
