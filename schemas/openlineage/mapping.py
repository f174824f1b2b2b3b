"""Which source and region an OpenLineage run counts under, and which jobs are copies.

Precedence, first that answers wins:

1. the run facet ``zettaledger`` sent by the producer::

       "run": {"facets": {"zettaledger": {"_producer": "...", "_schemaURL": "...",
                                          "source": "INFERENCE", "region": "CN-GD"}}}

   ``source`` is one of IOT, AI, TRAINING, INFERENCE, OTHER; ``region`` an ISO 3166-2 code.
   Either may be left out; a value that is present and wrong rejects the event.
2. the rules (``ZL_OPENLINEAGE_RULES``), tried in order: ``PATTERN=SOURCE[@REGION]`` separated
   by ``;``. PATTERN is a shell glob (``fnmatch``, case-insensitive) matched against
   ``job:{job namespace}/{job name}`` or, when it starts with ``type:``, against
   ``type:{integration}/{jobType}`` of the job's ``jobType`` facet. Example::

       job:airflow/iot_ingest.*=IOT@CN-GD; type:DBT/MODEL=OTHER; job:*/*inference*=INFERENCE

3. otherwise source OTHER and region ``unknown`` (``ZL_OPENLINEAGE_DEFAULT_REGION`` changes the latter).

A job is a **copy job** (all its outputs are COPY) when its name matches one of
``ZL_OPENLINEAGE_COPY_JOBS`` (globs on ``{namespace}/{name}``, comma-separated, default
``*copy*,*replicat*,*mirror*,*backup*``) or its jobType facet says ``COPY``.
"""

from __future__ import annotations

import fnmatch
import re
from dataclasses import dataclass, field

__all__ = ["DEFAULT_COPY_JOBS", "SOURCES", "UNKNOWN_REGION", "JobClass", "MappingRules", "Rule", "is_region"]

SOURCES = frozenset({"IOT", "AI", "TRAINING", "INFERENCE", "OTHER"})
UNKNOWN_REGION = "unknown"
DEFAULT_COPY_JOBS = "*copy*,*replicat*,*mirror*,*backup*"
_REGION = re.compile(r"^[A-Z]{2}-[A-Z0-9]{1,3}$")  # the same shape schemas.validation accepts for native events


def is_region(value: str) -> bool:
    return bool(_REGION.fullmatch(value))  # fullmatch: `$` would accept a trailing newline


@dataclass(frozen=True, slots=True)
class JobClass:
    source: str
    region: str | None  # None: the rules do not say
    copy: bool


@dataclass(frozen=True, slots=True)
class Rule:
    pattern: str  # lower-cased glob, "job:ns/name" or "type:integration/jobtype"
    source: str
    region: str | None

    def matches(self, job_key: str, type_key: str | None) -> bool:
        if self.pattern.startswith("type:"):
            return type_key is not None and fnmatch.fnmatchcase(type_key, self.pattern)
        return fnmatch.fnmatchcase(job_key, self.pattern)


@dataclass(frozen=True)
class MappingRules:
    rules: tuple[Rule, ...] = ()
    default_region: str = UNKNOWN_REGION
    copy_jobs: tuple[str, ...] = tuple(DEFAULT_COPY_JOBS.split(","))
    _cache: dict[tuple[str, str, str | None, str | None], JobClass] = field(default_factory=dict, compare=False, repr=False)

    @classmethod
    def parse(cls, rules: str = "", default_region: str = UNKNOWN_REGION, copy_jobs: str = DEFAULT_COPY_JOBS) -> MappingRules:
        """Read the settings' text; raises ``ValueError`` naming every bad rule at once."""
        parsed: list[Rule] = []
        problems: list[str] = []
        for raw in (r.strip() for r in rules.split(";")):
            if not raw:
                continue
            pattern, eq, target = raw.rpartition("=")
            source, _, region = target.strip().partition("@")
            source = source.strip().upper()
            region = region.strip().upper()
            if not eq or not pattern.strip().lower().startswith(("job:", "type:")):
                problems.append(f"{raw!r}: expected job:GLOB=SOURCE[@REGION] or type:GLOB=SOURCE[@REGION]")
            elif source not in SOURCES:
                problems.append(f"{raw!r}: source must be one of {', '.join(sorted(SOURCES))}")
            elif region and not is_region(region):
                problems.append(f"{raw!r}: region must be an ISO 3166-2 code such as CN-GD")
            else:
                parsed.append(Rule(pattern.strip().lower(), source, region or None))
        if default_region != UNKNOWN_REGION and not is_region(default_region):
            problems.append(f"default region {default_region!r}: must be an ISO 3166-2 code or {UNKNOWN_REGION!r}")
        if problems:
            raise ValueError("; ".join(problems))
        globs = tuple(g.strip().lower() for g in copy_jobs.split(",") if g.strip())
        return cls(tuple(parsed), default_region, globs)

    def classify(self, job_namespace: str, job_name: str, integration: str | None, job_type: str | None) -> JobClass:
        """The job's source and region by the rules (OTHER/None when none matches) and whether it is a
        copy job. Cached per job: the same jobs run again and again."""
        key = (job_namespace, job_name, integration, job_type)
        hit = self._cache.get(key)
        if hit is None:
            type_key = f"type:{integration or ''}/{job_type or ''}".lower() if (integration or job_type) else None
            job_key = f"job:{job_namespace}/{job_name}".lower()
            source, region = next(((r.source, r.region) for r in self.rules if r.matches(job_key, type_key)), ("OTHER", None))
            copy = (job_type or "").upper() == "COPY" or any(fnmatch.fnmatchcase(job_key[4:], g) for g in self.copy_jobs)
            hit = JobClass(source, region, copy)
            if len(self._cache) < 100_000:
                self._cache[key] = hit
        return hit
