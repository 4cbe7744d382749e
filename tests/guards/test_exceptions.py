"""One root exception: every error class of every package derives from guards.exceptions.LinkguardError."""

from __future__ import annotations

import importlib
import inspect
import pkgutil

import pytest

from guards import normalize
from guards.exceptions import GuardError, LinkguardError

PACKAGES = ("guards", "schemas", "streams", "sinks", "linkguard", "bench")


def error_classes() -> list[type[BaseException]]:
    """Every exception class defined (not imported) in the project's modules."""
    found: dict[str, type[BaseException]] = {}
    for package in PACKAGES:
        root = importlib.import_module(package)
        names = [package, *(info.name for info in pkgutil.walk_packages(root.__path__, f"{package}."))]
        for module_name in names:
            if module_name.endswith("__main__"):  # running it would start the CLI
                continue
            module = importlib.import_module(module_name)
            for name, value in vars(module).items():
                if inspect.isclass(value) and issubclass(value, BaseException) and value.__module__ == module_name:
                    found[f"{module_name}.{name}"] = value
    return [found[key] for key in sorted(found)]


ERRORS = error_classes()


def test_the_walk_finds_the_errors_of_every_package():
    packages = {cls.__module__.split(".")[0] for cls in ERRORS}
    assert {"guards", "schemas", "streams", "sinks", "linkguard"} <= packages


@pytest.mark.parametrize("error", ERRORS, ids=lambda cls: f"{cls.__module__}.{cls.__qualname__}")
def test_every_error_derives_from_the_one_root(error):
    assert issubclass(error, LinkguardError)


@pytest.mark.parametrize("parse, value", [
    (normalize.parse_date, "621498320257"), (normalize.parse_date, "6214-9832-0257"),
    (normalize.parse_sex, "6214 9832 0257"), (normalize.parse_sex, "６２１４９８３２０２５７"),
])
def test_a_number_keyed_into_the_date_or_sex_column_is_not_in_the_message(parse, value):
    with pytest.raises(GuardError) as raised:
        parse(value, "birth_date")
    assert "<12 digits>" in str(raised.value) and not any(c.isdigit() for c in str(raised.value).split(";")[0]
                                                          .replace("<12 digits>", ""))
