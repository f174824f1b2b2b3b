"""Settings come from ZL_* variables; every problem is reported at once, naming the variable."""

from __future__ import annotations

import pytest

from zettaledger.errors import ConfigError
from zettaledger.settings import Settings


def test_the_take_size_in_bytes_is_read_from_the_environment() -> None:
    assert Settings.from_env({"ZL_TAKE_MAX_BYTES": "1048576"}).take_max_bytes == 1 << 20
    assert Settings.from_env({}).take_max_bytes == 64 << 20


def test_bad_values_are_all_reported_with_their_variable() -> None:
    with pytest.raises(ConfigError) as caught:
        Settings.from_env({"ZL_TAKE_MAX_BYTES": "0", "ZL_BATCH_MAX_MESSAGES": "0", "ZL_FLUSH_MAX_BYTES": "lots"})
    message = str(caught.value)
    assert "ZL_TAKE_MAX_BYTES=0: must be >= 1" in message
    assert "ZL_BATCH_MAX_MESSAGES=0: must be >= 1" in message
    assert "ZL_FLUSH_MAX_BYTES='lots'" in message
