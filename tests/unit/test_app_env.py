"""Faust's own environment variables do not override the ZL_ settings, and its extra web views are off."""

from __future__ import annotations

from pathlib import Path

import pytest

from zettaledger.settings import Settings
from zettaledger.streams.app import build_app


def test_fausts_environment_does_not_override_zl_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in {
        "WEB_BIND": "0.0.0.0",
        "WEB_PORT": "1234",
        "WEB_ENABLED": "true",
        "APP_WEB_STATS_ENABLED": "true",
        "APP_WEB_ROUTER_ENABLED": "true",
        "BROKER_COMMIT_INTERVAL": "99",
        "APP_DEBUG": "true",
    }.items():
        monkeypatch.setenv(name, value)
    conf = build_app(Settings.from_env({"ZL_WEB_ENABLED": "false", "ZL_WEB_PORT": "6070"})).conf
    assert (conf.web_bind, conf.web_port, conf.web_enabled) == ("127.0.0.1", 6070, False)
    assert conf.broker_commit_interval == 1.0 and not conf.debug
    assert not (conf.web_stats_enabled or conf.web_router_enabled or conf.web_tables_enabled or conf.web_graph_enabled)


def test_a_var_dir_that_does_not_exist_yet_is_created_for_fausts_datadir(tmp_path: Path) -> None:
    var_dir = tmp_path / "not" / "yet"
    conf = build_app(Settings.from_env({"ZL_VAR_DIR": str(var_dir), "ZL_WEB_ENABLED": "false"})).conf
    Path(conf.datadir).mkdir(exist_ok=True)  # what Faust does at its first start: one level, no parents
    assert Path(conf.datadir) == var_dir / "faust" and Path(conf.datadir).is_dir()
