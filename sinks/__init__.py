"""ClickHouse: the ledger's columns, DDL and migrations, the writer, the ledger host and the statisticians' queries."""

if __name__ != "zettaledger.sinks":  # one module, one name: see the README's "Layout"
    raise ImportError(f"import zettaledger.sinks, not {__name__}: the sinks/ folder is installed as zettaledger.sinks")
