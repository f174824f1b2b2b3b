"""Events written by real Avro libraries, each with its own writer and its own fingerprint, decode in EventCodec.

Nothing of ours touches the bytes under test: each library parses the ``.avsc``
files as a producer would, computes the fingerprint its own way, and writes the
body; only EventCodec reads them. The libraries: Apache avro for Python (no
single-object writer, so the header is ``C3 01`` + its ``fingerprint()``),
fastavro (``schemaless_writer`` + ``fingerprint(to_parsing_canonical_form(expand_schema(...)))``)
and Apache avro for Java (``BinaryMessageEncoder``), run from
``tests/interop/java`` when java and mvn are on the PATH.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import json
import os
import re
import shutil
import subprocess
from functools import cache
from pathlib import Path
from typing import Any

import avro.io
import avro.name
import avro.schema
import fastavro
import pytest

from tests.unit.samples import SAMPLES, batch_of
from zettaledger.schemas import EventCodec, SchemaDecodeError
from zettaledger.schemas.fingerprints import AVRO_PYTHON, SPEC, header_hex
from zettaledger.schemas.registry import AVRO_DIR

ROOT = Path(__file__).resolve().parents[2]
JAVA_DIR = ROOT / "tests" / "interop" / "java"
JAVA_SOURCE = JAVA_DIR / "src" / "main" / "java" / "io" / "zettaledger" / "interop" / "AvroInterop.java"
NAMES = ["CollectionRun", "DataCreated", "DatasetRegistered", "EventBatch", "TokenUsage"]
BATCH = batch_of(list(SAMPLES.items()))
EXPECTED: dict[str, dict[str, Any]] = {**SAMPLES, "EventBatch": BATCH}


def _files() -> list[Path]:
    """Event records first, the batch (which names them) last: the order a producer parses them in."""
    return sorted(AVRO_DIR.glob("*.avsc"), key=lambda p: (p.stem == "EventBatch", p.stem))


# -- Apache avro for Python ---------------------------------------------------------------


@cache
def _apache_schemas() -> dict[str, avro.schema.Schema]:
    names = avro.name.Names()
    return {p.stem: avro.schema.make_avsc_object(json.loads(p.read_text()), names) for p in _files()}


def _with_datetimes(value: Any) -> Any:
    """Apache avro for Python writes a timestamp-millis field from a datetime, as its users hold it."""
    if isinstance(value, dict):
        return {
            k: dt.datetime.fromtimestamp(v / 1000, dt.UTC) if k in ("event_time", "sent_at") else _with_datetimes(v)
            for k, v in value.items()
        }
    if isinstance(value, list):
        return [_with_datetimes(v) for v in value]
    return value


def _apache_encode(name: str, datum: dict[str, Any]) -> bytes:
    schema = _apache_schemas()[name]
    out = io.BytesIO()
    out.write(b"\xc3\x01" + schema.fingerprint("CRC-64-AVRO"))  # the library has no single-object writer
    avro.io.DatumWriter(schema).write(_with_datetimes(datum), avro.io.BinaryEncoder(out))
    return out.getvalue()


@pytest.mark.parametrize("name", NAMES)
def test_apache_avro_python_events_with_its_own_fingerprint_decode(name: str) -> None:
    payload = _apache_encode(name, EXPECTED[name])
    assert EventCodec().decode(payload).datum == EXPECTED[name]


@pytest.mark.parametrize("name", NAMES)
def test_apache_avro_python_fingerprint_is_the_published_avro_python_one(name: str) -> None:
    version = EventCodec().registry.current(name)
    own = _apache_schemas()[name].fingerprint("CRC-64-AVRO").hex()
    assert own == header_hex(version.accepted[AVRO_PYTHON.key])
    assert own != header_hex(version.fingerprint)  # the reason the form exists: see schemas/fingerprints.py


# -- fastavro -----------------------------------------------------------------------------


@cache
def _fastavro_schemas() -> dict[str, Any]:
    named: dict[str, Any] = {}
    return {p.stem: fastavro.parse_schema(json.loads(p.read_text()), named_schemas=named) for p in _files()}


def _fastavro_fingerprint(schema: Any) -> str:
    """As fastavro's documentation has it; ``expand_schema`` writes out the records EventBatch names."""
    return fastavro.schema.fingerprint(
        fastavro.schema.to_parsing_canonical_form(fastavro.schema.expand_schema(schema)), "CRC-64-AVRO"
    )


def _fastavro_encode(name: str, datum: dict[str, Any], fingerprint: str | None = None) -> bytes:
    schema = _fastavro_schemas()[name]
    fingerprint = fingerprint or _fastavro_fingerprint(schema)
    out = io.BytesIO()
    out.write(b"\xc3\x01" + bytes.fromhex(fingerprint))
    fastavro.schemaless_writer(out, schema, datum)
    return out.getvalue()


@pytest.mark.parametrize("name", NAMES)
def test_fastavro_events_with_its_own_fingerprint_decode(name: str) -> None:
    payload = _fastavro_encode(name, EXPECTED[name])
    assert payload[2:10].hex() == header_hex(EventCodec().registry.current(name).accepted[SPEC.key])
    assert EventCodec().decode(payload).datum == EXPECTED[name]


def test_a_batch_fingerprint_over_named_references_is_refused_with_the_fix() -> None:
    """fastavro's canonical form of a parse result keeps the records EventBatch names as names. That
    fingerprint would stay the same when DataCreated changes, so it cannot identify the writer schema."""
    schema = _fastavro_schemas()["EventBatch"]
    by_reference = fastavro.schema.fingerprint(fastavro.schema.to_parsing_canonical_form(schema), "CRC-64-AVRO")
    assert by_reference != _fastavro_fingerprint(schema)
    with pytest.raises(SchemaDecodeError) as err:
        EventCodec().decode(_fastavro_encode("EventBatch", BATCH, fingerprint=by_reference))
    assert err.value.reason == "unknown_schema"
    assert by_reference in str(err.value)
    assert "expand_schema" in str(err.value)


@pytest.mark.parametrize("name", NAMES)
def test_every_library_writes_the_same_body(name: str) -> None:
    ours = EventCodec().encode(name, EXPECTED[name])
    assert _apache_encode(name, EXPECTED[name])[10:] == _fastavro_encode(name, EXPECTED[name])[10:] == ours[10:]


# -- Apache avro for Java -----------------------------------------------------------------


def _var_dir() -> Path:
    return Path(os.environ.get("ZL_VAR_DIR") or ROOT / "var")


def _java_libs() -> Path:
    """The avro jar and its dependencies, copied once per pom.xml into var/ (offline first, then Maven Central)."""
    libs = _var_dir() / "avro-java" / "libs"
    stamp = libs / ".pom.sha256"
    want = hashlib.sha256((JAVA_DIR / "pom.xml").read_bytes()).hexdigest()
    if stamp.is_file() and stamp.read_text() == want:
        return libs
    staging = libs.with_name("libs.tmp")
    shutil.rmtree(staging, ignore_errors=True)
    base = ["mvn", "-q", "-B", "-f", str(JAVA_DIR / "pom.xml"), "dependency:copy-dependencies"]
    base.append(f"-DoutputDirectory={staging}")
    result = subprocess.run([*base[:2], "-o", *base[2:]], capture_output=True, text=True, check=False)
    if result.returncode != 0:  # not in the local Maven repository yet: fetch it once
        result = subprocess.run(base, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        pytest.fail(f"Maven could not resolve {JAVA_DIR / 'pom.xml'} (exit {result.returncode}):\n{result.stdout}{result.stderr}")
    shutil.rmtree(libs, ignore_errors=True)
    staging.rename(libs)
    stamp.write_text(want)
    return libs


@cache
def _java_output() -> dict[str, dict[str, str]]:
    """What AvroInterop.java printed, as {kind: {record name: value}}."""
    classpath = f"{_java_libs()}{os.sep}*"
    result = subprocess.run(
        ["java", "-cp", classpath, str(JAVA_SOURCE), str(AVRO_DIR)], capture_output=True, text=True, check=False, timeout=300
    )
    assert result.returncode == 0, f"AvroInterop.java failed (exit {result.returncode}):\n{result.stderr}"
    out: dict[str, dict[str, str]] = {}
    for line in result.stdout.splitlines():
        kind, *rest = line.split("\t")
        if kind == "avro":
            out.setdefault(kind, {})["version"] = rest[0]
        else:
            out.setdefault(kind, {})[rest[0]] = rest[1]
    return out


needs_java = pytest.mark.skipif(
    shutil.which("java") is None or shutil.which("mvn") is None,
    reason="Apache avro for Java interop needs java (17+) and mvn on the PATH: apt-get install openjdk-17-jdk-headless maven",
)


@needs_java
@pytest.mark.parametrize("name", NAMES)
def test_apache_avro_java_single_object_events_decode(name: str) -> None:
    payload = bytes.fromhex(_java_output()["event"][name])
    assert EventCodec().decode(payload).datum == EXPECTED[name]


@needs_java
@pytest.mark.parametrize("name", NAMES)
def test_apache_avro_java_fingerprint_and_canonical_form_are_the_specification_ones(name: str) -> None:
    java = _java_output()
    version = EventCodec().registry.current(name)
    assert int(java["fingerprint"][name], 16) == version.fingerprint == version.accepted[SPEC.key]
    assert java["canonical"][name] == SPEC.render(version.definition)
    assert bytes.fromhex(java["event"][name])[2:10] == version.fingerprint.to_bytes(8, "little")


@needs_java
def test_the_java_run_used_the_avro_the_pom_pins() -> None:
    pinned = re.search(r"<avro.version>([^<]+)</avro.version>", (JAVA_DIR / "pom.xml").read_text())
    assert pinned is not None
    assert _java_output()["avro"]["version"] == pinned.group(1)
