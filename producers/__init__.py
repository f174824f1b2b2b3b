"""Producer side: the Kafka producer library, topic creation, and the national generator (``generator``)."""

if __name__ != "zettaledger.producers":  # one module, one name: see the README's "Layout"
    raise ImportError(
        f"import zettaledger.producers, not {__name__}: the producers/ folder is installed as zettaledger.producers"
    )

__all__ = ["EventProducer", "ProduceError", "ensure_topics"]


def __getattr__(name: str) -> object:
    # Lazy, so importing zettaledger.producers.generator needs no Kafka client installed.
    if name in ("EventProducer", "ProduceError"):
        from zettaledger.producers import producer

        return getattr(producer, name)
    if name == "ensure_topics":
        from zettaledger.producers.topics import ensure_topics

        return ensure_topics
    raise AttributeError(name)
