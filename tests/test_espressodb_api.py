"""EspressoDB's API that real projects (LatteDB) import or call, beyond ``Base``:
``register_admins``, django-pandas' ``to_dataframe`` keywords, ``get_doc_url``, the
settings helpers, and errors that name their cause."""

from __future__ import annotations

import dataclasses
import logging

import pandas as pd
import pytest
from django.conf import settings
from django.contrib import admin as django_admin
from django.test import override_settings

import espresso_static.settings as project_settings
from espresso_static.admin import register_admins
from espresso_static.exceptions import ConfigError
from espresso_static.project.config import load_config
from espresso_static.project.django_setup import _check_importable
from tests.baseapp.models import Config, Ensemble, Lattice
from tests.portapp import models as port


def test_register_admins_registers_an_apps_models_but_the_excluded():
    models = [m for m in django_admin.site._registry if m._meta.app_label == "portapp"]
    for model in models:
        django_admin.site.unregister(model)
    try:
        register_admins("tests.portapp", exclude_models=["Kinds"])
        assert django_admin.site.is_registered(port.Hisq)
        assert not django_admin.site.is_registered(port.Kinds)
        register_admins("tests.portapp")  # registered ones keep their registration
    finally:
        for model in [m for m in django_admin.site._registry if m._meta.app_label == "portapp"]:
            django_admin.site.unregister(model)
    with pytest.raises(ConfigError, match=r"no installed app 'lattedb\.nothing'"):
        register_admins("lattedb.nothing")


@pytest.mark.django_db
def test_to_dataframe_takes_django_pandas_keywords():
    lattice = Lattice.objects.create(nx=4, nt=8)
    ensemble = Ensemble.objects.create(lattice=lattice, label="a12")
    Config.objects.create(ensemble=ensemble, trajectory=4)
    Config.objects.create(ensemble=ensemble, trajectory=6)
    frame = Config.objects.order_by("pk").to_dataframe(["trajectory"], index="id")
    assert frame.index.name == "id" and list(frame.columns) == ["trajectory"]
    assert list(frame["trajectory"]) == [4, 6]
    verbose = Config.objects.to_dataframe(["ensemble", "trajectory"], verbose=True)
    assert set(verbose["ensemble"]) == {str(ensemble)}
    by_time = Config.objects.to_dataframe(
        ["trajectory"], index="last_modified", datetime_index=True
    )
    assert isinstance(by_time.index, pd.DatetimeIndex)


def test_doc_urls_point_at_the_model_page_of_the_published_site():
    assert port.Hisq.get_app_doc_url() == "/generated/portapp/"
    assert port.Hisq.get_doc_url() == "/generated/portapp/hisq/"
    published = dataclasses.replace(settings.ESPRESSO_STATIC_PROJECT, site_url="https://db.org/x")
    with override_settings(ESPRESSO_STATIC_PROJECT=published):
        assert port.Hisq.get_doc_url() == "https://db.org/x/generated/portapp/hisq/"


def test_espressodb_settings_helpers_come_from_the_project():
    config = settings.ESPRESSO_STATIC_PROJECT
    assert str(config.root) == project_settings.ROOT_DIR
    assert list(config.apps) == project_settings.PROJECT_APPS
    assert config.apps[0].split(".")[0] == project_settings.PROJECT_NAME
    assert project_settings.DB_CONFIG["ENGINE"] == settings.DATABASES["default"]["ENGINE"]
    with pytest.raises(AttributeError):
        project_settings.SECRET  # noqa: B018


def test_an_app_whose_package_fails_to_import_is_reported_with_the_cause(tmp_path, monkeypatch):
    package = tmp_path / "ported"
    (package / "ensemble").mkdir(parents=True)
    (package / "__init__.py").write_text("import espressodb_is_not_installed\n")
    (package / "ensemble" / "__init__.py").write_text("")
    (tmp_path / "pyproject.toml").write_text('[tool.espresso-static]\napps = ["ported.ensemble"]\n')
    monkeypatch.syspath_prepend(str(tmp_path))
    config = load_config(tmp_path, environ={})
    cause = "ported/__init__.py, line 1: ModuleNotFoundError: No module named 'espressodb_is_"
    with pytest.raises(ConfigError, match=cause):
        _check_importable("ported.ensemble", config)
    with pytest.raises(ConfigError, match=r"no importable package 'absent\.app'"):
        _check_importable("absent.app", config)


def test_the_admin_logs_server_errors_on_stderr():
    handlers = logging.getLogger("django.request").handlers
    assert any(type(handler) is logging.StreamHandler for handler in handlers)
