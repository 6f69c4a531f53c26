"""An allow-audience with restrictions of its own (tests.allowapp: ``staff`` has a row
filter, a hidden column and a hidden subclass) sees none of what they hide, in the
population examples and on the Data health page; an unrestricted allow-audience
(``everyone``) still sees all of it."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner
from django.db.models import Q
from django.test import override_settings

from espresso_static.cli import cli
from espresso_static.declare.access import Access, Audience, AudienceView
from espresso_static.project.config import load_config
from espresso_static.website.collect import collect_site
from espresso_static.website.features.health import MESSAGE_WITHHELD, collect_health
from espresso_static.website.population import population_scripts
from espresso_static.website.stored_example import stored_example
from tests.allowapp.models import (
    Batch,
    Device,
    Keyed,
    Member,
    Ref,
    Run,
    SecretDevice,
    Slot,
    Team,
)
from tests.test_build import article

pytestmark = pytest.mark.django_db
PROJECT = Path(__file__).parent / "allowproject"
SECRET_MEMBER = "cnrysecretmember"
SECRET_COLUMN = "cnrybatchsecret"
SECRET_SERIAL = "cnryserial"


def view(name: str) -> AudienceView:
    return AudienceView(Audience(name, "allow", Path("site")))


@pytest.fixture
def rows(monkeypatch):
    """The restrictions of staff (see tests.allowapp) and rows they hide."""
    monkeypatch.setattr(Member, "access", Access(rows={"staff": Q(secret=False)}), raising=False)
    monkeypatch.setattr(
        Batch, "access", Access(hidden_fields={"staff": ["secretcol"]}), raising=False
    )
    monkeypatch.setattr(SecretDevice, "access", Access(hidden_from=["staff"]), raising=False)
    visible = Member.objects.create(name="member-ok")
    secret = Member.objects.create(name=SECRET_MEMBER, secret=True)
    Team.objects.create(title="team-with-secret").members.set([visible, secret])
    Team.objects.create(title="team-visible").members.set([visible])
    batch = Batch.objects.create(code="B1", secretcol=SECRET_COLUMN)
    Run.objects.create(batch=batch, value=1)
    Run.objects.bulk_create([Run(batch=batch, value=-5)])  # past its check
    Slot.objects.create(
        device=SecretDevice.objects.create(name="dev-1", serial=SECRET_SERIAL), number=1
    )


def script(audience: str, label: str) -> str:
    site = collect_site(load_config(PROJECT), view=view(audience))
    return next(s.code for s in population_scripts(site) if s.model_label == label)


def test_a_population_script_names_only_members_the_audience_sees(rows):
    code = script("staff", "allowapp.Team")
    # The first team has a member staff does not see: a script naming only the others
    # would not find it, so the example is the team whose members staff sees.
    assert SECRET_MEMBER not in code
    assert '"title": "team-visible",' in code and '"name": "member-ok",' in code
    assert '"title": "team-with-secret",' in script("everyone", "allowapp.Team")


def test_a_team_whose_members_are_not_all_visible_makes_no_example(rows):
    Team.objects.filter(title="team-visible").delete()
    assert stored_example(Team, view("staff")) == ((), ())
    values, _ = stored_example(Team, view("everyone"))
    assert dict(values)["members.1.name"] == SECRET_MEMBER


def test_stored_examples_show_visible_columns_and_classes_of_related_rows(rows):
    values, _ = stored_example(Run, view("staff"))
    assert dict(values)["batch.code"] == "B1" and "batch.secretcol" not in dict(values)
    values, tree = stored_example(Slot, view("staff"))
    assert dict(tree)["device"] == Device.__name__
    assert dict(values)["device.name"] == "dev-1" and "device.serial" not in dict(values)
    values, _ = stored_example(Run, view("everyone"))
    assert dict(values)["batch.secretcol"] == SECRET_COLUMN
    values, tree = stored_example(Slot, view("everyone"))
    assert dict(tree)["device"] == SecretDevice.__name__
    assert dict(values)["device.serial"] == SECRET_SERIAL


def test_a_foreign_key_to_another_column_than_the_id_is_followed():
    Ref.objects.create(target=Keyed.objects.create(key="k-1"))
    values, tree = stored_example(Ref, view("staff"))
    assert dict(values)["target.key"] == "k-1" and dict(tree)["target"] == "Keyed"


def test_a_check_message_shows_only_to_an_unrestricted_audience(rows):
    """The message names a column of the batch, hidden from staff though every column of
    Run is visible: staff (restricted somewhere) never reads a message."""
    (restricted,) = collect_health([Run], view("staff"))
    assert [row.message for row in restricted.rows] == [MESSAGE_WITHHELD]
    (unrestricted,) = collect_health([Run], view("everyone"))
    (row,) = unrestricted.rows
    assert f"negative value in batch {SECRET_COLUMN}" in row.message


def test_built_sites_show_the_staff_nothing_hidden_from_it(tmp_path, rows):
    project = tmp_path / "project"  # a build writes into the project's folder
    shutil.copytree(PROJECT, project)
    args = ["build-site", "--project", str(project), "--audience", "all", "--out", str(tmp_path)]
    # Django was set up with the demo's audiences: the declaration checks ask these.
    with override_settings(ESPRESSO_STATIC_PROJECT=load_config(project)):
        result = CliRunner().invoke(cli, args, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    staff, everyone = tmp_path / "staff", tmp_path / "everyone"
    script = staff / "generated" / "allowapp" / "populate_team.py"
    assert '"name": "member-ok",' in script.read_text(encoding="utf-8")
    assert (staff / "search" / "search_index.json").is_file()
    for path in staff.rglob("*"):
        if path.is_file() and path.suffix in (".html", ".py", ".json", ".md", ".csv", ".xml"):
            text = path.read_text(encoding="utf-8")
            assert "cnry" not in text, path
    team_page = article(staff / "generated" / "allowapp" / "team" / "index.html").get_text()
    assert "member-ok" in team_page
    messages = {
        audience: [
            cells[2].get_text(strip=True)
            for tr in article(site / "generated" / "health" / "index.html").select("tr")
            if len(cells := tr.find_all("td")) == 3
        ]
        for audience, site in (("staff", staff), ("everyone", everyone))
    }
    assert messages["staff"] == [MESSAGE_WITHHELD]
    (message,) = messages["everyone"]
    assert f"negative value in batch {SECRET_COLUMN}" in message
