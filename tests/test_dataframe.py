"""``Model.objects.to_dataframe``: dtypes that follow the model fields, on a real database."""

from __future__ import annotations

import datetime
import decimal

import pandas as pd
import pytest
from django.core.exceptions import FieldDoesNotExist

from espresso_static.data.fieldkinds import field_kind
from tests.baseapp.models import CloverWilson, Config, Ensemble, Lattice, Sample

pytestmark = pytest.mark.django_db

WHEN = datetime.datetime(2024, 5, 17, 13, 45, 30, 123456, tzinfo=datetime.UTC)


@pytest.fixture
def samples():
    """A full row, a row with every nullable column empty, and a big integer."""
    lattice = Lattice.objects.create(nx=4, nt=8)
    full = Sample.objects.create(
        count=3,
        maybe_count=7,
        big=2**40,
        flag=True,
        maybe_flag=False,
        ratio=0.25,
        amount=decimal.Decimal("12.345"),
        when=WHEN,
        day=datetime.date(2024, 5, 17),
        label="full",
        payload={"a": [1, 2]},
        lattice=lattice,
    )
    empty = Sample.objects.create(count=-1, label="")
    return full, empty, lattice


def assert_utc_datetimes(column: pd.Series) -> None:
    assert pd.api.types.is_datetime64_any_dtype(column.dtype), column.dtype
    assert str(column.dt.tz) == "UTC"


def test_dtypes_follow_the_fields(samples):
    full, _, lattice = samples
    frame = Sample.objects.order_by("pk").to_dataframe()
    assert list(frame.columns) == [f.name for f in Sample._meta.concrete_fields]
    assert frame["id"].dtype == "int64"
    assert frame["count"].dtype == "int64"
    assert frame["big"].dtype == "int64"
    assert frame["maybe_count"].dtype == "Int64"
    assert frame["flag"].dtype == "bool"
    assert frame["maybe_flag"].dtype == "boolean"
    assert frame["ratio"].dtype == "float64"
    assert frame["amount"].dtype == "float64"
    assert_utc_datetimes(frame["when"])
    assert_utc_datetimes(frame["last_modified"])
    assert pd.api.types.is_datetime64_any_dtype(frame["day"].dtype)
    assert frame["day"].dt.tz is None
    assert frame["label"].dtype == object
    # Nullable foreign keys hold the related primary key as Int64.
    assert frame["lattice"].dtype == "Int64"
    assert frame["user"].dtype == "Int64"

    first, second = frame.iloc[0], frame.iloc[1]
    assert (first["id"], first["count"], first["maybe_count"]) == (full.pk, 3, 7)
    assert first["big"] == 2**40
    assert bool(first["flag"]) is True and bool(first["maybe_flag"]) is False
    assert first["amount"] == pytest.approx(12.345)
    assert first["when"] == pd.Timestamp(WHEN)
    assert first["day"] == pd.Timestamp("2024-05-17")
    assert first["label"] == "full"
    assert first["payload"] == {"a": [1, 2]}
    assert first["lattice"] == lattice.pk
    # The empty row: missing values, not zeros or strings.
    assert second["count"] == -1
    for column in ("maybe_count", "maybe_flag", "ratio", "amount", "when", "day", "lattice"):
        assert pd.isna(second[column]), column
    assert second["payload"] is None
    assert second["label"] == ""


def test_fieldnames_and_foreign_key_lookups(samples):
    _, _, lattice = samples
    ensemble = Ensemble.objects.create(lattice=lattice, label="e1")
    Config.objects.create(ensemble=ensemble, trajectory=4)
    Config.objects.create(ensemble=ensemble, trajectory=2)
    frame = Config.objects.order_by("trajectory").to_dataframe(
        ["trajectory", "ensemble", "ensemble__label", "ensemble__lattice__nx"]
    )
    assert list(frame.columns) == [
        "trajectory",
        "ensemble",
        "ensemble__label",
        "ensemble__lattice__nx",
    ]
    assert frame["trajectory"].tolist() == [2, 4]
    assert frame["trajectory"].dtype == "int64"
    assert frame["ensemble"].dtype == "int64"
    assert frame["ensemble__label"].tolist() == ["e1", "e1"]
    assert frame["ensemble__lattice__nx"].dtype == "int64"
    assert frame["ensemble__lattice__nx"].tolist() == [4, 4]
    by_pk = Config.objects.order_by("pk").to_dataframe(["pk", "ensemble__pk"])
    assert by_pk["pk"].tolist() == list(Config.objects.order_by("pk").values_list("pk", flat=True))
    assert by_pk["ensemble__pk"].dtype == "int64"


def test_a_key_to_a_subclass_table_holds_integers():
    """LatteDB's Status → Baryon2pt: a key to a subclass's table holds its parent link,
    which holds the parent's key (here CloverWilson's wilson_ptr → Wilson's action_ptr
    → Action's id). The column was ``object``."""
    clover = CloverWilson.objects.create(name="clover", kappa=0.12, csw=1.5)
    frame = CloverWilson.objects.to_dataframe()
    assert (frame["wilson_ptr"].dtype, frame["action_ptr"].dtype) == ("int64", "int64")
    assert frame["wilson_ptr"].tolist() == [clover.pk]
    assert field_kind(CloverWilson._meta.get_field("wilson_ptr")) == "int"


def test_lookups_through_a_nullable_key_may_be_missing(samples):
    frame = Sample.objects.order_by("pk").to_dataframe(["label", "lattice__nx", "lattice__tag"])
    assert frame["lattice__nx"].dtype == "Int64"
    assert frame["lattice__nx"].iloc[0] == 4
    assert pd.isna(frame["lattice__nx"].iloc[1])
    assert frame["lattice__tag"].isna().all()


def test_filters_and_manager_give_the_same_frame(samples):
    full, _, _ = samples
    filtered = Sample.objects.filter(label="full").to_dataframe(["id", "when"])
    assert filtered["id"].tolist() == [full.pk]
    assert_utc_datetimes(filtered["when"])
    assert len(Sample.objects.to_dataframe(["id"])) == 2


@pytest.mark.parametrize("queryset", ["empty table", "none()", "filter"])
def test_empty_querysets_keep_columns_and_dtypes(queryset):
    if queryset != "empty table":
        Sample.objects.create(count=1)
    rows = {
        "empty table": Sample.objects.all(),
        "none()": Sample.objects.none(),
        "filter": Sample.objects.filter(count=99),
    }[queryset]
    frame = rows.to_dataframe(["id", "maybe_count", "flag", "ratio", "when", "day", "label"])
    assert len(frame) == 0
    assert list(frame.columns) == ["id", "maybe_count", "flag", "ratio", "when", "day", "label"]
    assert frame["id"].dtype == "int64"
    assert frame["maybe_count"].dtype == "Int64"
    assert frame["flag"].dtype == "bool"
    assert frame["ratio"].dtype == "float64"
    assert_utc_datetimes(frame["when"])
    assert pd.api.types.is_datetime64_any_dtype(frame["day"].dtype)


def test_all_null_columns_keep_their_dtype():
    Sample.objects.create(count=1)
    frame = Sample.objects.to_dataframe(["maybe_count", "maybe_flag", "amount", "when", "day"])
    assert frame["maybe_count"].dtype == "Int64"
    assert frame["maybe_flag"].dtype == "boolean"
    assert frame["amount"].dtype == "float64"
    assert_utc_datetimes(frame["when"])
    assert pd.api.types.is_datetime64_any_dtype(frame["day"].dtype)
    assert frame.isna().all().all()


def test_to_many_lookups_are_refused():
    with pytest.raises(ValueError, match="to-many"):
        Ensemble.objects.to_dataframe(["label", "configs__trajectory"])


def test_unknown_field_is_named():
    with pytest.raises(FieldDoesNotExist, match="nope"):
        Sample.objects.to_dataframe(["count", "nope"])
