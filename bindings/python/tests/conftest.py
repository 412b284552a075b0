"""Fixtures of the inmem binding's tests: a pure in-memory database, and a durable one in a
temporary directory (reopenable). The tests import the built package (make python puts it on
PYTHONPATH); importing it from the source tree instead would miss the extension."""
import pytest

import inmem


@pytest.fixture
def db():
    d = inmem.open(durability="none")
    yield d
    d.close()


@pytest.fixture
def path(tmp_path):
    return str(tmp_path / "db")


@pytest.fixture
def ddb(path):
    d = inmem.open(path)
    yield d
    d.close()
