"""Producer side: the Kafka producer library, topic creation, and the national generator."""

__all__ = ["EventProducer", "ProduceError", "ensure_topics"]


def __getattr__(name: str) -> object:
    # Lazy, so `import producers.generator` needs no Kafka client installed.
    if name in ("EventProducer", "ProduceError"):
        from producers import producer

        return getattr(producer, name)
    if name == "ensure_topics":
        from producers.topics import ensure_topics

        return ensure_topics
    raise AttributeError(name)
