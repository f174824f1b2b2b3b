from zettaledger.errors import ConfigError, ZettaledgerError

__all__ = ["ConfigError", "ZettaledgerError"]
