"""The public surface: __all__ is complete and importable, exceptions form one tree."""

from __future__ import annotations

import inspect

import spark
import spark.core
from spark import SparkException


def test_all_names_resolve() -> None:
    for name in spark.__all__:
        assert hasattr(spark, name), name
    assert set(spark.core.__all__) <= set(spark.__all__)


def test_every_public_class_of_core_is_exported() -> None:
    exported = set(spark.core.__all__)
    for name, value in vars(spark.core).items():
        if inspect.isclass(value) and not name.startswith("_"):
            assert name in exported, f"{name} is public in spark.core but not in __all__"


def test_every_exception_derives_from_spark_exception() -> None:
    for name in spark.__all__:
        value = getattr(spark, name)
        if inspect.isclass(value) and issubclass(value, BaseException):
            assert issubclass(value, SparkException), name


def test_timeouts_are_timeout_errors() -> None:
    assert issubclass(spark.ActorTimeout, TimeoutError)
    assert issubclass(spark.HandshakeError, spark.TransportError)
    assert issubclass(spark.PlacementError, spark.FederationError)
