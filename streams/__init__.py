"""The worker: the Faust app and agent, and the plain-Python arithmetic they call (accounting, dedup, flushing)."""

if __name__ != "zettaledger.streams":  # one module, one name: see the README's "Layout"
    raise ImportError(f"import zettaledger.streams, not {__name__}: the streams/ folder is installed as zettaledger.streams")
