"""The seed table of the synthetic national data accounts, as exact integers.

Every figure the report prints comes from here, through the generator: the
generator only decides how finely each total is cut into events. Units are
decimal SI (1 PB = 10**15 bytes), because the published accounts use them.
Names and organisations are invented; only the aggregate figures are meant to
look like the published ones.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from types import MappingProxyType
from typing import Final

from zettaledger.schemas.models import Source

__all__ = [
    "AVERAGE_RECORD_BYTES",
    "DATA_CREATED_BYTES",
    "DATA_CREATED_RECORDS",
    "EB",
    "HIGH_QUALITY_BYTES",
    "HIGH_QUALITY_DATASETS",
    "INFERENCE_DATASETS",
    "INFERENCE_REGISTERED_BYTES",
    "NATIONAL_LIBRARY_DIGITAL_BYTES",
    "PB",
    "PIPELINES",
    "RAW_DATASETS",
    "RAW_REGISTERED_BYTES",
    "REGIONS",
    "REGISTRATION_FIRST_DAY",
    "REGISTRATION_LAST_DAY",
    "TB",
    "TOKEN_ANCHORS",
    "TOKEN_FIRST_DAY",
    "TOKEN_INPUT_PERCENT",
    "TOKEN_LAST_DAY",
    "TOKEN_MODELS",
    "TOKEN_REGIONS",
    "TRAINING_DATASETS",
    "TRAINING_REGISTERED_BYTES",
    "YEARS",
    "ZB",
    "CollectionPipeline",
    "TokenModel",
]

TB: Final = 10**12
PB: Final = 10**15
EB: Final = 10**18
ZB: Final = 10**21

YEARS: Final = (2024, 2025)

# --- Data created, by event-time year and source ---------------------------------
# 2025: 52.26 ZB in all, AI and system software 26.92 ZB; IoT takes what is left
# after training and inference, which puts AI ahead of IoT for the first time.
# 2024: 41.06 ZB, so 2025 grows by 52.26 / 41.06 - 1 = 27.28 % (2 decimals).
_DATA_2025_TOTAL: Final = 52_260 * EB
_DATA_2025_AI: Final = 26_920 * EB
_DATA_2025_TRAINING: Final = 98_140 * PB
_DATA_2025_INFERENCE: Final = 101_340 * PB

DATA_CREATED_BYTES: Final = MappingProxyType(
    {
        (2024, Source.IOT): 21_500 * EB,
        (2024, Source.AI): 19_400 * EB,
        (2024, Source.TRAINING): 90 * EB,
        (2024, Source.INFERENCE): 70 * EB,
        (2025, Source.IOT): _DATA_2025_TOTAL - _DATA_2025_AI - _DATA_2025_TRAINING - _DATA_2025_INFERENCE,
        (2025, Source.AI): _DATA_2025_AI,
        (2025, Source.TRAINING): _DATA_2025_TRAINING,
        (2025, Source.INFERENCE): _DATA_2025_INFERENCE,
    }
)

# Typical size of one record: sensor readings are small, training shards large.
AVERAGE_RECORD_BYTES: Final = MappingProxyType(
    {
        Source.IOT: 2_000,
        Source.AI: 40_000,
        Source.TRAINING: 4_000_000,
        Source.INFERENCE: 25_000,
    }
)

DATA_CREATED_RECORDS: Final = MappingProxyType(
    {key: value // AVERAGE_RECORD_BYTES[key[1]] for key, value in DATA_CREATED_BYTES.items()}
)

# --- Daily AI token usage (input + output, per UTC day) ---------------------------
# Anchors of a geometric curve; days between anchors are interpolated. The last
# two anchors are equal, so every day of March 2026 is exactly 1.4e14: 40 % above
# 2025-12-31 and 1400 times 2024-01-01.
TOKEN_FIRST_DAY: Final = date(2024, 1, 1)
TOKEN_LAST_DAY: Final = date(2026, 3, 31)
TOKEN_ANCHORS: Final[tuple[tuple[date, int], ...]] = (
    (date(2024, 1, 1), 100_000_000_000),
    (date(2025, 1, 1), 1_020_000_000_000),
    (date(2025, 12, 31), 100_000_000_000_000),
    (date(2026, 3, 1), 140_000_000_000_000),
    (date(2026, 3, 31), 140_000_000_000_000),
)
TOKEN_INPUT_PERCENT: Final = 70  # prompts outweigh completions; the rest of each day's tokens are output


@dataclass(frozen=True, slots=True)
class TokenModel:
    """One served model; ``weight`` is its relative share of token traffic, ``output_bias`` how talkative it is."""

    model: str
    provider: str
    weight: int
    output_bias: float


TOKEN_MODELS: Final = (
    TokenModel("chat-large", "provider-a", 34, 1.0),
    TokenModel("chat-medium", "provider-b", 24, 1.1),
    TokenModel("code-assist", "provider-c", 14, 0.6),
    TokenModel("vision-language", "provider-a", 12, 0.8),
    TokenModel("reasoning-pro", "provider-d", 10, 1.8),
    TokenModel("embedding-base", "provider-b", 6, 0.1),
)

# The national computing hubs plus the largest coastal markets.
TOKEN_REGIONS: Final[tuple[tuple[str, int], ...]] = (
    ("CN-BJ", 26),
    ("CN-SH", 20),
    ("CN-GD", 20),
    ("CN-ZJ", 14),
    ("CN-GZ", 11),
    ("CN-NM", 9),
)

# --- Regions: the 31 provincial-level divisions (ISO 3166-2:CN), uneven weights ---
REGIONS: Final[tuple[tuple[str, int], ...]] = (
    ("CN-BJ", 85),
    ("CN-TJ", 22),
    ("CN-HE", 30),
    ("CN-SX", 16),
    ("CN-NM", 18),
    ("CN-LN", 22),
    ("CN-JL", 10),
    ("CN-HL", 11),
    ("CN-SH", 80),
    ("CN-JS", 105),
    ("CN-ZJ", 90),
    ("CN-AH", 32),
    ("CN-FJ", 35),
    ("CN-JX", 18),
    ("CN-SD", 70),
    ("CN-HA", 34),
    ("CN-HB", 36),
    ("CN-HN", 30),
    ("CN-GD", 120),
    ("CN-GX", 16),
    ("CN-HI", 6),
    ("CN-CQ", 24),
    ("CN-SC", 42),
    ("CN-GZ", 20),
    ("CN-YN", 14),
    ("CN-XZ", 2),
    ("CN-SN", 25),
    ("CN-GS", 7),
    ("CN-QH", 3),
    ("CN-NX", 4),
    ("CN-XJ", 10),
)

# --- Registered datasets -----------------------------------------------------------
REGISTRATION_FIRST_DAY: Final = date(2024, 1, 1)
REGISTRATION_LAST_DAY: Final = date(2025, 12, 31)

HIGH_QUALITY_DATASETS: Final = 101_268
HIGH_QUALITY_BYTES: Final = 890_560 * TB  # 890.56 PB
# Assumed size of the national library's digital resources. The published
# comparison says high-quality datasets hold about 310 times that; 2.87 PB makes
# 890.56 PB / 2.87 PB = 310.3.
NATIONAL_LIBRARY_DIGITAL_BYTES: Final = 2_870 * TB

# Everything else in the register (STANDARD or UNGRADED; bytes not in the 890.56 PB):
# the raw IoT and AI datasets at the roots of lineage, training sets and inference outputs.
RAW_DATASETS: Final = MappingProxyType({Source.IOT: 4_800, Source.AI: 3_200})
RAW_REGISTERED_BYTES: Final = MappingProxyType({Source.IOT: 1_200 * PB, Source.AI: 800 * PB})
TRAINING_DATASETS: Final = 2_000
TRAINING_REGISTERED_BYTES: Final = 240 * PB
INFERENCE_DATASETS: Final = 2_000
INFERENCE_REGISTERED_BYTES: Final = 60 * PB

# ASSUMPTION, not a published figure: the share (per mille of events) of derived DataCreated events that
# are replicas (derivation COPY) of their parent: training sets copied to training clusters, inference
# outputs mirrored across serving sites. No statistic splits unique from replicated data yet; this only
# gives the lineage accounts' unique / derived / replicated split something to show, and every published
# total stays exact (derivation changes no byte). The report flags it from the manifest.
REPLICATED_PER_MILLE: Final = MappingProxyType({Source.TRAINING: 100, Source.INFERENCE: 100})


# --- Robotic / embodied data collection (all runs in 2025) --------------------------
@dataclass(frozen=True, slots=True)
class CollectionPipeline:
    """A collection pipeline's yearly totals; usable = attempted * usable_basis_points / 10000 exactly."""

    pipeline_id: str
    region: str
    attempted_captures: int
    attempted_bytes: int
    usable_basis_points: int

    @property
    def usable_captures(self) -> int:
        return self.attempted_captures * self.usable_basis_points // 10_000

    @property
    def usable_bytes(self) -> int:
        return self.attempted_bytes * self.usable_basis_points // 10_000


# Attempted figures are multiples of 10_000, so the usable share is exact.
PIPELINES: Final = (
    CollectionPipeline("rbt-sh-humanoid-01", "CN-SH", 48_000_000, 118_400 * TB, 9_500),
    CollectionPipeline("rbt-gd-warehouse-02", "CN-GD", 36_500_000, 64_250 * TB, 9_120),
    CollectionPipeline("rbt-bj-household-03", "CN-BJ", 29_000_000, 81_100 * TB, 8_850),
    CollectionPipeline("rbt-zj-factory-04", "CN-ZJ", 22_000_000, 40_700 * TB, 8_400),
    CollectionPipeline("rbt-js-outdoor-05", "CN-JS", 15_500_000, 52_900 * TB, 7_940),
)
