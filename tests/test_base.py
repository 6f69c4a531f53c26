"""The Base model: consistency checks, m2m checks, specialization, ``__str__``,
``get_or_create_from_parameters`` and the automatic columns, on a real database."""

from __future__ import annotations

import datetime
import getpass

import pytest
from django import forms
from django.core.exceptions import NON_FIELD_ERRORS, ValidationError
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext

from espresso_static.exceptions import ConsistencyError
from espresso_static.models import Base
from tests.baseapp.models import (
    Action,
    CloverWilson,
    Config,
    Correlator,
    Ensemble,
    Lattice,
    Measurement,
    NoPreSave,
    Solve,
    Staggered,
    Unchecked,
    Wilson,
)

pytestmark = pytest.mark.django_db

WRITES = ("INSERT", "UPDATE", "DELETE")

#: Parameters that build a Measurement and everything it depends on.
MEASUREMENT = {
    "value": 1.5,
    "residual": 1e-8,
    "trajectory": 10,
    "label": "e1",
    "nx": 4,
    "nt": 8,
    "name": "clover",
    "kappa": 0.12,
    "csw": 1.1,
}
CLOVER_TREE = {"solve.action": "CloverWilson"}
NESTED_MODELS = (Lattice, Ensemble, Config, Action, Wilson, CloverWilson, Solve, Measurement)


def row_counts(*models) -> dict[str, int]:
    return {model.__name__: model.objects.count() for model in models}


def writes_in(queries) -> list[str]:
    return [q["sql"] for q in queries if q["sql"].lstrip().upper().startswith(WRITES)]


def make_config(trajectory: int = 2, label: str = "e1", nx: int = 4) -> Config:
    lattice = Lattice.objects.create(nx=nx, nt=8)
    ensemble = Ensemble.objects.create(lattice=lattice, label=label)
    return Config.objects.create(ensemble=ensemble, trajectory=trajectory)


# -- checks on every write ------------------------------------------------------------


def test_check_refuses_save_and_stores_nothing():
    with pytest.raises(ConsistencyError):
        Wilson(name="w", kappa=0.3).save()
    assert Wilson.objects.count() == 0
    assert Action.objects.count() == 0


def test_check_runs_on_objects_create():
    with pytest.raises(ConsistencyError, match=r"kappa=0\.3"):
        Wilson.objects.create(name="w", kappa=0.3)
    assert Action.objects.count() == 0


def test_check_runs_on_get_or_create_and_update_or_create():
    with pytest.raises(ConsistencyError):
        Wilson.objects.get_or_create(name="w", kappa=0.3)
    with pytest.raises(ConsistencyError):
        Wilson.objects.update_or_create(name="w", defaults={"kappa": 0.3})
    assert Action.objects.count() == 0
    wilson, created = Wilson.objects.get_or_create(name="w", kappa=0.1)
    assert created and wilson.pk is not None


def test_save_returns_the_row_and_takes_espressodbs_keyword():
    wilson = Wilson(name="w", kappa=0.1)
    assert wilson.save() is wilson
    wilson.kappa = 0.2
    assert wilson.save(save_instance_only=True) is wilson
    assert Wilson.objects.get().kappa == 0.2


def test_check_runs_when_an_existing_row_is_changed():
    wilson = Wilson.objects.create(name="w", kappa=0.1)
    wilson.kappa = 0.3
    with pytest.raises(ConsistencyError):
        wilson.save()
    assert Wilson.objects.get(pk=wilson.pk).kappa == 0.1


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"name": "", "kappa": 0.1, "csw": 1.0}, "an action needs a name"),
        ({"name": "c", "kappa": 0.3, "csw": 1.0}, "kappa=0.3 is outside"),
        ({"name": "c", "kappa": 0.1, "csw": 0.5}, "csw=0.5 is below 1"),
    ],
    ids=["level-1", "level-2", "level-3"],
)
def test_checks_of_every_inheritance_level_run(values, message):
    with pytest.raises(ConsistencyError, match=message):
        CloverWilson.objects.create(**values)
    assert Action.objects.count() == 0


def test_switched_off_checks_do_not_run():
    row = Unchecked.objects.create(value=1)
    row.value = 2
    row.save()
    assert Unchecked.objects.get().value == 2
    Unchecked(value=3).full_clean()  # clean() honours run_checks too


def test_pre_save_derives_a_column_before_the_check():
    lattice = Lattice.objects.create(nx=4, nt=8)
    assert Lattice.objects.get(pk=lattice.pk).volume == 4**3 * 8
    lattice.nt = 16
    lattice.save()
    assert Lattice.objects.get(pk=lattice.pk).volume == 4**3 * 16


def test_switched_off_pre_save_does_not_run():
    NoPreSave.objects.create(value=7)
    assert NoPreSave.objects.get().value == 7


# -- the error message ----------------------------------------------------------------


def test_consistency_error_names_model_check_error_and_data():
    with pytest.raises(ConsistencyError) as caught:
        Wilson.objects.create(name="w1", kappa=0.3, tag="run-7")
    error = caught.value
    message = str(error)
    assert "baseapp.Wilson" in message
    assert "ValidationError: kappa=0.3 is outside (0, 0.25)." in message
    assert "kappa: 0.3" in message
    assert "name: 'w1'" in message
    assert "tag: 'run-7'" in message
    # A ValidationError (forms, admin) that keeps what EspressoDB's error keeps.
    assert isinstance(error, ValidationError)
    assert error.messages == [message]
    assert isinstance(error.error, ValidationError)
    assert isinstance(error.instance, Wilson)
    assert error.data["kappa"] == 0.3


def test_consistency_error_of_a_plain_exception_keeps_its_type_and_text():
    with pytest.raises(ConsistencyError) as caught:
        Config.objects.create(ensemble=make_config().ensemble, trajectory=3)
    assert "ValueError: odd trajectory 3" in str(caught.value)
    assert "ensemble: " in str(caught.value)  # foreign keys show their id


# -- clean() and forms ----------------------------------------------------------------


def test_clean_runs_the_checks():
    with pytest.raises(ValidationError) as caught:
        Wilson(name="w", kappa=0.3).clean()
    assert caught.value.messages == ["kappa=0.3 is outside (0, 0.25)."]
    with pytest.raises(ValidationError, match="an action needs a name"):
        Wilson(name="", kappa=0.1).clean()
    Wilson(name="w", kappa=0.1).clean()


def test_clean_sees_the_columns_pre_save_derives():
    Lattice(nx=4, nt=8).clean()
    with pytest.raises(ValidationError, match="nt=2 is smaller than nx=4"):
        Lattice(nx=4, nt=2).clean()


def test_a_model_form_shows_the_check_message():
    form_class = forms.modelform_factory(Wilson, fields=["name", "kappa"])
    form = form_class(data={"name": "w", "kappa": "0.3"})
    assert not form.is_valid()
    assert form.errors[NON_FIELD_ERRORS] == ["kappa=0.3 is outside (0, 0.25)."]
    good = form_class(data={"name": "w", "kappa": "0.1"})
    assert good.is_valid(), good.errors
    good.save()
    assert Wilson.objects.get().kappa == 0.1


def test_a_model_form_of_a_model_with_a_pre_save():
    form_class = forms.modelform_factory(Lattice, fields=["nx", "nt"])
    assert form_class(data={"nx": "4", "nt": "8"}).is_valid()
    form = form_class(data={"nx": "4", "nt": "2"})
    assert not form.is_valid()
    assert "nt=2 is smaller than nx=4." in form.errors[NON_FIELD_ERRORS]


# -- many-to-many checks --------------------------------------------------------------


@pytest.fixture
def two_ensembles():
    """Configs 2 and 4 of ensemble e1, config 6 of ensemble e2, one correlator on e1."""
    mine = [make_config(2, "e1")]
    mine.append(Config.objects.create(ensemble=mine[0].ensemble, trajectory=4))
    other = make_config(6, "e2", nx=2)
    correlator = Correlator.objects.create(ensemble=mine[0].ensemble, name="pion")
    return correlator, mine, other


def test_m2m_forward_add_is_checked_and_adds_nothing_on_failure(two_ensembles):
    correlator, mine, other = two_ensembles
    with pytest.raises(ConsistencyError) as caught, transaction.atomic():
        correlator.configs.add(mine[0], other)
    message = str(caught.value)
    assert "baseapp.Correlator" in message
    assert "configs [6] are from another ensemble" in message
    assert "column: 'configs'" in message
    assert "instances_to_add" in message
    assert correlator.configs.count() == 0
    correlator.configs.add(*mine)
    assert set(correlator.configs.values_list("trajectory", flat=True)) == {2, 4}


def test_m2m_forward_set_is_checked(two_ensembles):
    correlator, mine, other = two_ensembles
    correlator.configs.set(mine)
    with pytest.raises(ConsistencyError), transaction.atomic():
        correlator.configs.set([mine[0], other])
    assert set(correlator.configs.values_list("trajectory", flat=True)) == {2, 4}


def test_m2m_reverse_add_is_checked_and_adds_nothing_on_failure(two_ensembles):
    correlator, mine, other = two_ensembles
    mine_too = Correlator.objects.create(ensemble=mine[0].ensemble, name="kaon")
    with (
        pytest.raises(ConsistencyError, match="configs \\[6\\] are from another ensemble"),
        transaction.atomic(),
    ):
        other.correlators.add(mine_too, correlator)
    assert other.correlators.count() == 0
    assert Correlator.configs.through.objects.count() == 0
    mine[0].correlators.add(correlator, mine_too)
    assert set(mine[0].correlators.values_list("name", flat=True)) == {"pion", "kaon"}


def test_m2m_create_through_the_relation_adds_nothing_on_failure(two_ensembles):
    correlator, mine, other = two_ensembles
    with pytest.raises(ConsistencyError), transaction.atomic():
        correlator.configs.create(ensemble=other.ensemble, trajectory=8)
    assert correlator.configs.count() == 0
    assert not Config.objects.filter(trajectory=8).exists()
    correlator.configs.create(ensemble=mine[0].ensemble, trajectory=8)
    assert correlator.configs.get().trajectory == 8


@pytest.mark.django_db(transaction=True)
def test_m2m_failure_in_autocommit_leaves_the_connection_usable():
    """A script outside any transaction (the usual population script) can go on after
    a refused addition; inside a transaction, wrap the addition in ``atomic()`` as for
    any database error."""
    config = make_config(2, "e1")
    other = make_config(6, "e2", nx=2)
    correlator = Correlator.objects.create(ensemble=config.ensemble, name="pion")
    with pytest.raises(ConsistencyError):
        correlator.configs.add(config, other)
    assert correlator.configs.count() == 0
    correlator.configs.add(config)
    assert correlator.configs.get() == config


# -- specialization ---------------------------------------------------------------------


@pytest.fixture
def actions():
    """One row at each level of the hierarchy, and a sibling."""
    return {
        "action": Action.objects.create(name="plain"),
        "wilson": Wilson.objects.create(name="wil", kappa=0.12),
        "clover": CloverWilson.objects.create(name="clo", kappa=0.13, csw=1.2),
        "staggered": Staggered.objects.create(name="stag", naik=-0.1),
    }


def test_specialization_reaches_the_most_derived_row_from_any_level(actions):
    clover = actions["clover"]
    for model in (Action, Wilson, CloverWilson):
        special = model.objects.get(pk=clover.pk).specialization
        assert type(special) is CloverWilson
        assert (special.pk, special.name, special.kappa, special.csw) == (
            clover.pk,
            "clo",
            0.13,
            1.2,
        )
    assert type(Action.objects.get(pk=actions["wilson"].pk).specialization) is Wilson
    assert type(Action.objects.get(pk=actions["staggered"].pk).specialization) is Staggered
    plain = Action.objects.get(pk=actions["action"].pk)
    assert plain.specialization is plain
    assert Action.objects.get(pk=clover.pk).type == "CloverWilson"


def test_specialization_of_an_unsaved_row_is_itself():
    wilson = Wilson(name="w", kappa=0.1)
    assert wilson.specialization is wilson


def test_specialization_costs_one_query_and_is_cached(actions, django_assert_num_queries):
    action = Action.objects.get(pk=actions["clover"].pk)
    with django_assert_num_queries(1):
        assert type(action.specialization) is CloverWilson
    with django_assert_num_queries(0):
        assert type(action.specialization) is CloverWilson


def test_specialized_queryset_costs_one_query_whatever_the_rows(actions):
    with CaptureQueriesContext(connection) as few:
        small = Action.objects.order_by("pk").specialized()
    for index in range(10):
        CloverWilson.objects.create(name=f"c{index}", kappa=0.1, csw=1.0)
        Staggered.objects.create(name=f"s{index}")
    with CaptureQueriesContext(connection) as many:
        large = Action.objects.order_by("pk").specialized()
    assert len(few) == len(many) == 1
    assert [type(row).__name__ for row in small] == [
        "Action",
        "Wilson",
        "CloverWilson",
        "Staggered",
    ]
    assert len(large) == 24
    assert sum(type(row) is CloverWilson for row in large) == 11
    # The specialized rows carry their inherited columns without further queries.
    with CaptureQueriesContext(connection) as reading:
        names = [row.name for row in large]
        csws = [row.csw for row in large if isinstance(row, CloverWilson)]
    assert len(reading) == 0
    assert names[:4] == ["plain", "wil", "clo", "stag"]
    assert csws[0] == 1.2


# -- names ------------------------------------------------------------------------------


def test_str_has_espressodb_form(actions):
    lattice = Lattice.objects.create(nx=4, nt=8)
    assert str(lattice) == "Lattice[Base](nx=4, nt=8, volume=512)"
    tagged = Lattice.objects.create(nx=2, nt=4, tag="t1")
    assert str(tagged) == "Lattice[Base](tag=t1, nx=2, nt=4, volume=32)"
    # The parent row prints as its most specialized row; null columns are left out.
    assert str(Action.objects.get(pk=actions["clover"].pk)) == (
        "CloverWilson[Wilson](name=clo, kappa=0.13, csw=1.2)"
    )
    assert str(Wilson(name="w", kappa=0.1)) == "Wilson[Action](name=w, kappa=0.1)"
    assert str(CloverWilson(name="w", kappa=0.1)) == "CloverWilson[Wilson](name=w, kappa=0.1)"
    # Foreign keys and many-to-many columns are not listed.
    ensemble = Ensemble.objects.create(lattice=lattice, label="e1")
    assert str(ensemble) == "Ensemble[Base](label=e1)"
    assert str(Correlator(ensemble=ensemble, name="pion")) == "Correlator[Base](name=pion)"


def test_labels_slugs_and_open_fields():
    assert CloverWilson.get_label() == "CloverWilson[Wilson]"
    assert Lattice.get_label() == "Lattice[Base]"
    assert CloverWilson.get_slug() == "cloverwilson"
    assert Base.get_label() == "Base"
    assert CloverWilson.get_app().label == "baseapp"
    assert CloverWilson.get_app_name() == "Baseapp"
    assert [f.name for f in CloverWilson.get_open_fields()] == ["tag", "name", "kappa", "csw"]
    assert [f.name for f in Correlator.get_open_fields()] == ["tag", "ensemble", "name", "configs"]


def test_recursive_columns_follow_foreign_keys_and_the_tree():
    columns = Measurement.get_recursive_columns(tree=CLOVER_TREE)
    assert columns["value"] == ["Measurement"]
    assert columns["residual"] == ["Measurement.Solve"]
    assert columns["csw"] == ["Measurement.Solve.CloverWilson"]
    assert columns["trajectory"] == ["Measurement.Config"]
    assert columns["nx"] == ["Measurement.Config.Ensemble.Lattice"]
    assert "volume" in columns  # pre_save fills it, but it is an open column
    assert "naik" not in columns
    assert Solve.get_recursive_columns(tree={"action": "Staggered"})["naik"] == ["Solve.Staggered"]


# -- get_or_create_from_parameters --------------------------------------------------------


def test_get_or_create_from_parameters_creates_the_nested_rows():
    measurement, created = Measurement.get_or_create_from_parameters(MEASUREMENT, CLOVER_TREE)
    assert created and measurement.pk is not None
    assert row_counts(*NESTED_MODELS) == dict.fromkeys((m.__name__ for m in NESTED_MODELS), 1)
    stored = Measurement.objects.get(pk=measurement.pk)
    assert stored.value == 1.5 and stored.reference is None
    assert stored.config.trajectory == 10
    assert stored.config.ensemble.label == "e1"
    assert stored.config.ensemble.lattice.volume == 4**3 * 8  # pre_save ran
    action = stored.solve.action.specialization
    assert type(action) is CloverWilson
    assert (action.name, action.kappa, action.csw) == ("clover", 0.12, 1.1)


def test_get_or_create_from_parameters_returns_the_existing_row():
    first, _ = Measurement.get_or_create_from_parameters(MEASUREMENT, CLOVER_TREE)
    counts = row_counts(*NESTED_MODELS)
    with CaptureQueriesContext(connection) as queries:
        again, created = Measurement.get_or_create_from_parameters(MEASUREMENT, CLOVER_TREE)
    assert not created and again.pk == first.pk
    assert row_counts(*NESTED_MODELS) == counts
    assert writes_in(queries) == []


def test_dotted_keys_win_over_plain_ones_and_reach_optional_keys():
    parameters = {**MEASUREMENT, "config.trajectory": 20, "reference.trajectory": 30}
    measurement, _ = Measurement.get_or_create_from_parameters(parameters, CLOVER_TREE)
    assert measurement.config.trajectory == 20
    assert measurement.reference.trajectory == 30
    # Both configs share the ensemble the plain keys describe.
    assert measurement.reference.ensemble_id == measurement.config.ensemble_id
    assert Ensemble.objects.count() == 1


@pytest.mark.parametrize(
    ("tree", "expected"),
    [
        ({}, Action),
        ({"action": "Wilson"}, Wilson),
        ({"action": "CloverWilson"}, CloverWilson),
        ({"action": "Staggered"}, Staggered),
    ],
)
def test_tree_chooses_the_concrete_class_at_any_depth(tree, expected):
    solve, created = Solve.get_or_create_from_parameters(
        {"residual": 1e-6, "name": "a", "kappa": 0.1}, tree
    )
    assert created
    assert type(solve.action) is expected
    assert type(Action.objects.get().specialization) is expected


def test_tree_with_an_unknown_class_names_the_options():
    with pytest.raises(KeyError, match=r"Wilsn.*CloverWilson"):
        Solve.get_or_create_from_parameters({"residual": 1.0, "name": "a"}, {"action": "Wilsn"})


def test_missing_parameter_is_named():
    with pytest.raises(KeyError, match=r"Lattice\.nt"):
        Ensemble.get_or_create_from_parameters({"label": "e", "nx": 4})
    with pytest.raises(KeyError, match=r"Lattice\.nt"):
        Ensemble.get_or_create_from_parameters({"label": "e", "nx": 4, "nt": None})
    assert row_counts(Lattice, Ensemble) == {"Lattice": 0, "Ensemble": 0}


def test_a_foreign_key_may_be_given_as_an_instance():
    config = make_config(trajectory=2)
    solve = Solve.objects.create(action=Action.objects.create(name="a"), residual=1.0)
    measurement, created = Measurement.get_or_create_from_parameters(
        {"config": config, "solve": solve, "value": 3.0}
    )
    assert created and measurement.config == config and measurement.solve == solve
    assert row_counts(Lattice, Config, Solve) == {"Lattice": 1, "Config": 1, "Solve": 1}


def test_dry_run_writes_nothing_and_returns_what_would_be_created():
    with CaptureQueriesContext(connection) as queries:
        measurement, created = Measurement.get_or_create_from_parameters(
            MEASUREMENT, CLOVER_TREE, dry_run=True
        )
    assert writes_in(queries) == []
    assert created and measurement.pk is None
    assert row_counts(*NESTED_MODELS) == dict.fromkeys((m.__name__ for m in NESTED_MODELS), 0)
    assert measurement.config.ensemble.lattice.volume == 4**3 * 8  # pre_save ran
    assert type(measurement.solve.action) is CloverWilson


def test_dry_run_runs_the_checks():
    with pytest.raises(ConsistencyError, match="odd trajectory 3"):
        Measurement.get_or_create_from_parameters(
            {**MEASUREMENT, "trajectory": 3}, CLOVER_TREE, dry_run=True
        )


def test_dry_run_finds_existing_rows():
    Lattice.objects.create(nx=4, nt=8)
    ensemble, created = Ensemble.get_or_create_from_parameters(
        {"label": "e1", "nx": 4, "nt": 8}, dry_run=True
    )
    assert created and ensemble.pk is None
    assert ensemble.lattice.pk == Lattice.objects.get().pk
    stored = Ensemble.get_or_create_from_parameters({"label": "e1", "nx": 4, "nt": 8})[0]
    again, created = Ensemble.get_or_create_from_parameters(
        {"label": "e1", "nx": 4, "nt": 8}, dry_run=True
    )
    assert not created and again.pk == stored.pk


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"value": -1.0}, "negative value"),  # the last row written fails
        ({"trajectory": 3}, "odd trajectory"),  # a row in the middle fails
        ({"kappa": 0.5}, "kappa=0.5"),  # a specialized row fails
    ],
)
def test_a_failed_check_anywhere_rolls_everything_back(change, message):
    with pytest.raises(ConsistencyError, match=message):
        Measurement.get_or_create_from_parameters({**MEASUREMENT, **change}, CLOVER_TREE)
    assert row_counts(*NESTED_MODELS) == dict.fromkeys((m.__name__ for m in NESTED_MODELS), 0)


CORRELATOR = {"name": "pion", "label": "e1", "nx": 4, "nt": 8}


def test_many_to_many_values_are_set_and_part_of_the_identity(two_ensembles):
    _, mine, _ = two_ensembles
    correlator, created = Correlator.get_or_create_from_parameters({**CORRELATOR, "configs": mine})
    assert created
    assert set(correlator.configs.values_list("trajectory", flat=True)) == {2, 4}
    again, created = Correlator.get_or_create_from_parameters(
        {**CORRELATOR, "configs": [config.pk for config in mine]}
    )
    assert not created and again.pk == correlator.pk
    fewer, created = Correlator.get_or_create_from_parameters({**CORRELATOR, "configs": mine[:1]})
    assert created and fewer.pk != correlator.pk


def test_a_failed_many_to_many_check_rolls_everything_back(two_ensembles):
    _, mine, other = two_ensembles
    correlators = Correlator.objects.count()
    for dry_run in (False, True):
        with pytest.raises(ConsistencyError, match="another ensemble"):
            Correlator.get_or_create_from_parameters(
                {**CORRELATOR, "configs": [mine[0], other]}, dry_run=dry_run
            )
    assert Correlator.objects.count() == correlators
    assert Correlator.configs.through.objects.count() == 0


# -- automatic columns ------------------------------------------------------------------


def test_user_is_filled_automatically():
    lattice = Lattice.objects.create(nx=4, nt=8)
    expected = connection.settings_dict.get("USER") or getpass.getuser()
    assert Lattice.objects.get(pk=lattice.pk).user.username == expected
    other = type(lattice.user).objects.create(username="someone-else")
    mine = Lattice.objects.create(nx=2, nt=2, user=other)
    assert Lattice.objects.get(pk=mine.pk).user == other


def test_last_modified_updates_on_save():
    lattice = Lattice.objects.create(nx=4, nt=8)
    long_ago = datetime.datetime(2000, 1, 1, tzinfo=datetime.UTC)
    Lattice.objects.filter(pk=lattice.pk).update(last_modified=long_ago)
    lattice.refresh_from_db()
    assert lattice.last_modified == long_ago
    lattice.nt = 16
    lattice.save()
    assert Lattice.objects.get(pk=lattice.pk).last_modified > long_ago + datetime.timedelta(
        days=365
    )
