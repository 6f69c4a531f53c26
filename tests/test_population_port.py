"""Population scripts for LatteDB's patterns (tests.portapp): a polymorphic key takes a
subclass that terminates, example values per dotted path, values of a stored row,
scripts that find their rows when run twice, and a one-line error for a conflict."""

from __future__ import annotations

import ast
import re
from decimal import Decimal
from pathlib import Path

import pytest
from django.db import IntegrityError

from espresso_static.declare.progress import Progress
from espresso_static.exceptions import ConfigError
from espresso_static.project.config import load_config
from espresso_static.website.collect import collect_site
from espresso_static.website.population import population_scripts
from tests.portapp import models as port
from tests.test_specialization_through_parents import make_config

pytestmark = pytest.mark.django_db
PORT_PROJECT = Path(__file__).parent / "portproject"


def scripts() -> dict[str, str]:
    site = collect_site(load_config(PORT_PROJECT))
    return {script.model_label: script.code for script in population_scripts(site)}


def run(code: str) -> None:
    exec(compile(code, "populate.py", "exec"), {"__name__": "__main__"})


def test_every_concrete_model_gets_a_script_that_runs_on_an_empty_database_twice():
    codes = scripts()
    concrete = [m for m in port.__dict__.values() if isinstance(m, type) and hasattr(m, "_meta")]
    expected = {m._meta.label for m in concrete if m._meta.app_label == "portapp"}
    expected -= {"portapp.Kinds", "portapp.PgKinds"} - set(codes)  # field kinds, not patterns
    assert expected <= set(codes)
    for label in ("portapp.Propagator", "portapp.CoherentSeq", "portapp.Hisq", "portapp.OneToAll"):
        ast.parse(codes[label])
        run(codes[label])
        run(codes[label])  # finds the rows it created
    assert port.Hisq.objects.count() == 1 and port.CoherentSeq.objects.count() == 1


def test_a_polymorphic_key_takes_a_subclass_that_terminates():
    propagator = scripts()["portapp.Propagator"]
    # CoherentSeq comes first alphabetically but needs another propagator: a cycle.
    coherent = scripts()["portapp.CoherentSeq"]
    assert '"source": "OneToAll",' in coherent
    assert "CoherentSeq" not in propagator.split("tree={")[0]


def test_example_parameters_name_the_class_a_polymorphic_key_takes(monkeypatch):
    """A check may need one class of the family (LatteDB's Feynman-Hellmann
    propagators): the key names it, as ``tree`` does; a name outside it is one line."""
    monkeypatch.setattr(
        port.Staggered, "example_parameters", {"quark_tag": "light", "smear": "Unsmeared"}
    )
    code = scripts()["portapp.Staggered"]
    assert '"smear": "Unsmeared",' in code
    run(code)
    assert type(port.Staggered.objects.get().smear.specialization) is port.Unsmeared
    monkeypatch.setattr(port.Staggered, "example_parameters", {"smear": "Staggered"})
    with pytest.raises(Exception, match="names 'Staggered' for smear, which takes one of Smear, "):
        scripts()


def test_example_values_per_dotted_path():
    code = scripts()["portapp.OneToAll"]
    assert '"gaugeconfig.light.quark_tag": "light",' in code
    assert '"gaugeconfig.strange.quark_tag": "strange",' in code
    assert '"gaugeconfig.nx": 24,' in code


def test_values_of_a_stored_row_when_there_is_one():
    flow = port.Flow.objects.create(flowtime="1.25")
    action = port.Staggered.objects.create(smear=flow, quark_mass="0.0102", quark_tag="light")
    code = scripts()["portapp.Staggered"]
    assert '"quark_mass": "0.01020",' in code and '"smear.flowtime": "1.25",' in code
    assert '"smear": "Flow",' in code
    run(code)  # finds the stored row
    assert list(port.Staggered.objects.all()) == [action]


def test_a_stored_null_is_written_as_none_not_a_placeholder():
    flow = port.Flow.objects.create(flowtime="1.25")
    light, strange = (
        port.Staggered.objects.create(smear=flow, quark_mass="0.01", quark_tag=tag)
        for tag in ("light", "strange")
    )
    port.Hisq.objects.create(
        short_tag="a12m310", stream="a", config=1, nx=24, light=light, strange=strange
    )
    port.Hisq.objects.update(tag="campaign")  # set at the top: below too, unless said
    code = scripts()["portapp.Hisq"]
    assert '"tag": "campaign",' in code and '"light.tag": None,' in code
    run(code)  # finds the stored rows, nested ones included
    assert (port.Hisq.objects.count(), port.Staggered.objects.count()) == (1, 2)


def test_an_integer_choice_is_written_as_the_integer_it_is():
    """LatteDB's status codes: the script sets and lists them as integers, not texts."""
    code = scripts()["portapp.Job"]
    assert '# "status": 0,' in code and "(one of 0, 1, 2; optional)" in code
    run(code.replace('# "status": 0,', '"status": 0,'))  # as a user sets the optional value
    assert port.Job.objects.get().status == 0


def test_every_optional_value_a_script_lists_runs_when_set():
    """Defaults whose repr names a class the script does not import (Decimal('1.5'))
    are written as what their field reads: a user uncommenting them runs the script."""
    code = scripts()["portapp.Kinds"]
    assert '# "decimal": "1.5",' in code
    assert '# "uuid": "00000000-0000-0000-0000-000000000001",' in code  # not cut to 32
    run(re.sub(r'^(\s*)# (".*",)$', r"\1\2", code, flags=re.MULTILINE))
    assert port.Kinds.objects.get().decimal == Decimal("1.5")


def test_a_conflicting_unique_value_is_one_line_naming_the_row():
    port.Ensemble.objects.create(label="a12m310")
    port.Label.objects.create(name="x")
    with pytest.raises(IntegrityError, match=r"a stored row already has label='a12m310'"):
        port.Ensemble.get_or_create_from_parameters({"label": "a12m310", "tag": "other"})


def test_the_example_of_a_stored_row_lists_all_its_members_and_finds_it():
    """LatteDB's ensembles: the members are part of a row's identity. The script named
    only the first one, so it did not find the stored row it was made from."""
    first, second = make_config(config=1), make_config(config=2)
    ensemble = port.Ensemble.objects.create(label="a12m310_a")
    ensemble.configurations.add(*port.GaugeConfig.objects.filter(pk__in=[first.pk, second.pk]))
    code = scripts()["portapp.Ensemble"]
    assert '"configurations": [hisq, hisq_2],' in code and '"config": 2,' in code
    run(code)
    assert list(port.Ensemble.objects.all()) == [ensemble]
    assert port.Hisq.objects.count() == 2


def test_a_conflict_over_the_members_names_the_many_to_many_field():
    first, second = make_config(config=1), make_config(config=2)
    ensemble = port.Ensemble.objects.create(label="a12m310_a")
    ensemble.configurations.add(*port.GaugeConfig.objects.filter(pk__in=[first.pk, second.pk]))
    with pytest.raises(
        IntegrityError,
        match=r"has label='a12m310_a' and these columns, but its configurations hold other "
        r"members than the parameters \(",
    ):
        port.Ensemble.get_or_create_from_parameters(
            {"label": "a12m310_a", "configurations": [first]}
        )
    with pytest.raises(IntegrityError, match=r"but other columns differ from the parameters"):
        port.Ensemble.get_or_create_from_parameters(
            {"label": "a12m310_a", "tag": "other", "configurations": [first]}
        )


def test_progress_groups_by_a_relation_path():
    from espresso_static.declare.progress import DeclaredProgress, check_declaration, summarize
    from tests.test_specialization_through_parents import make_propagator

    first, second = make_propagator(config=2), make_propagator(config=4)
    ensemble = port.Ensemble.objects.create(label="a12m310_a")
    ensemble.configurations.add(first.gaugeconfig, second.gaugeconfig)
    port.Measure.objects.create(propagator=first, status="done")
    port.Measure.objects.create(propagator=second, status="todo")
    port.Measure.objects.create(propagator=second, status="done")
    item = DeclaredProgress(port.Measure, port.Measure.progress)
    check_declaration(item)
    assert item.group_columns[0].lookup == "propagator__gaugeconfig__ensemble__label"
    summary = summarize(item)
    assert [(g.group, g.counts["done"], g.counts["missing"]) for g in summary.groups] == [
        (("a12m310_a",), 2, 1)
    ]
    wrong = DeclaredProgress(
        port.Measure,
        Progress(status="status", done=["done"], missing=["todo"], group_by=["propagator__gauge"]),
    )
    with pytest.raises(ConfigError, match="'gauge', which is not a column of Propagator"):
        check_declaration(wrong)
