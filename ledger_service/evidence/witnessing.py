"""The ledger as a log witnesses follow (C2SP tlog-witness): each new checkpoint goes to every configured witness
with a consistency proof from the size that witness last cosigned, and the cosignatures that come back are
verified and stored (`log_cosignatures`), to be served with the checkpoint, in receipts and in tlog proofs.

`XASE_WITNESSES` names them, one `<submission URL> <witness vkey>` per entry, entries separated by `;` or new
lines. All of it runs in a background thread (`BackgroundJobs`): a slow or dead witness never delays an append.
A 409 says the size the witness holds: the request goes again from there at once. 403, 404, 422 and 400 mean
the witness refuses this log or this checkpoint: reported (log line, metric, `xase-ledger witnesses`) and tried
again with backoff, as is a witness that cannot be reached. Redirects are never followed; an answer is read up to
16 KiB (a cosignature line is ~150 bytes).
"""

from __future__ import annotations

import base64
import logging
import re
import time
from collections.abc import Hashable, Sequence
from dataclasses import dataclass
from typing import Any, Optional

import requests
from sqlalchemy import Engine, func, insert, select

from ledger_service.db import read_connection, write_transaction
from ledger_service.evidence import checkpoints, tree
from ledger_service.evidence.background import BackgroundJobs
from ledger_service.evidence.tables import LogCheckpoint, LogCosignature
from xase import note, tlog
from xase.capped_read import BodyTooLarge, read_at_most

__all__ = ["Witness", "Witnessing", "WitnessRefused", "parse_witnesses"]

log = logging.getLogger(__name__)
TIMEOUT = 10.0
MAX_ANSWER_BYTES = 16 * 1024  # a cosignature line is ~150 bytes; a witness may answer a few
_SIZE = re.compile(r"(0|[1-9][0-9]{0,18})\n?")


@dataclass(frozen=True)
class Witness:
    """A witness the ledger submits to: its add-checkpoint URL and its cosigner key (type 0x04)."""

    url: str
    verifier: note.Verifier

    @property
    def name(self) -> str:
        return self.verifier.name


def parse_witnesses(text: str) -> list[Witness]:
    """`XASE_WITNESSES`: `<URL> <vkey>` entries separated by `;` or new lines; ValueError naming a bad entry."""
    witnesses = []
    for entry in re.split(r"[;\n]", text):
        if not entry.strip():
            continue
        parts = entry.split()
        if len(parts) != 2 or not parts[0].startswith(("http://", "https://")):
            raise ValueError(f"XASE_WITNESSES: expected '<URL> <witness vkey>', got {entry.strip()[:120]!r}")
        verifier = note.parse_vkey(parts[1])
        if verifier.key_type != note.COSIGNATURE_V1:
            raise ValueError(f"XASE_WITNESSES: {verifier.name}: expected a cosigner key (type 0x04)")
        witnesses.append(Witness(parts[0].rstrip("/") + "/add-checkpoint", verifier))
    return witnesses


class WitnessRefused(RuntimeError):
    """A witness did not cosign: unreachable, a refusal (400, 403, 404, 422), or cosignatures that do not verify."""


class Witnessing:
    """Sends each organisation's newest checkpoint to every witness and keeps what they cosign."""

    def __init__(self, engine: Engine, witnesses: Sequence[Witness], cache: tree.TileCache, metrics: Any = None) -> None:
        self._engine, self.witnesses, self._cache, self._metrics = engine, list(witnesses), cache, metrics
        self._sizes: dict[tuple[int, str], int] = {}  # (witness, organisation) -> the size it last cosigned, as it told us
        self.last_error: dict[tuple[int, str], str] = {}
        self._jobs = BackgroundJobs("witnessing", self._submit_job)
        self._session = requests.Session()

    def notify(self, tenant_id: str) -> None:
        """A checkpoint was signed: send it to every witness. Never blocks."""
        for index in range(len(self.witnesses)):
            self._jobs.notify((index, tenant_id))

    def _count(self, witness: Witness, outcome: str) -> None:
        if self._metrics is not None:
            self._metrics.witness_submissions.labels(witness.name, outcome).inc()

    def _submit_job(self, key: Hashable) -> None:
        assert isinstance(key, tuple)
        index, tenant_id = int(key[0]), str(key[1])
        try:
            self.submit(index, tenant_id)
            self.last_error.pop((index, tenant_id), None)
        except Exception as failure:
            self.last_error[(index, tenant_id)] = str(failure)
            raise

    def submit(self, index: int, tenant_id: str) -> Optional[int]:
        """Send the organisation's newest checkpoint to witness `index`; the size it cosigned, or None without one."""
        witness = self.witnesses[index]
        for _attempt in range(3):  # a 409 tells the witness's size: once more from there (and once for a race)
            with read_connection(self._engine, snapshot=True) as conn:
                signed = checkpoints.latest(conn, tenant_id)
                if signed is None:
                    return None
                cosigned = self._cosigned(conn, tenant_id, witness)  # by any process of the ledger
                if cosigned >= signed.size:  # the newest checkpoint is cosigned already
                    return signed.size
                old = min(max(self._sizes.get((index, tenant_id), 0), cosigned), signed.size)
                reader = tree.TreeReader(conn, tenant_id, signed.size, self._cache)
                proof = tlog.consistency_proof(reader, old, signed.size) if old else []
            unsigned = _own_lines(signed.note)
            body = f"old {old}\n" + "".join(base64.b64encode(node).decode() + "\n" for node in proof) + "\n" + unsigned
            try:
                response = self._session.post(witness.url, data=body.encode(), timeout=TIMEOUT, allow_redirects=False, stream=True)
                answer = read_at_most(response, MAX_ANSWER_BYTES).decode("utf-8", errors="replace")
            except requests.RequestException as failure:
                self._count(witness, "unavailable")
                raise WitnessRefused(f"{witness.name} cannot be reached: {failure}") from None
            except BodyTooLarge:
                self._count(witness, "invalid")
                raise WitnessRefused(f"{witness.name} answered more than {MAX_ANSWER_BYTES} bytes") from None
            if response.status_code == 409 and _SIZE.fullmatch(answer):
                held = int(answer)
                self._count(witness, "conflict")
                if held > signed.size:
                    raise WitnessRefused(f"{witness.name} holds {held} leaves of this log, more than its {signed.size}: a rollback or a fork")
                self._sizes[(index, tenant_id)] = held
                continue
            if response.status_code != 200:
                self._count(witness, "refused" if response.status_code in (400, 403, 404, 422) else "unavailable")
                raise WitnessRefused(f"{witness.name} answered {response.status_code}: {answer[:200]}")
            self._store(tenant_id, signed.size, unsigned, answer, witness)
            self._sizes[(index, tenant_id)] = signed.size
            self._count(witness, "cosigned")
            return signed.size
        raise WitnessRefused(f"{witness.name} kept answering 409")

    @staticmethod
    def _has(conn: Any, tenant_id: str, size: int, witness: Witness) -> bool:
        found = conn.execute(
            select(LogCosignature.key_id).where(
                LogCosignature.tenant_id == tenant_id, LogCosignature.tree_size == size, LogCosignature.key_id == witness.verifier.key_id.hex()
            )
        ).first()
        return found is not None

    @staticmethod
    def _cosigned(conn: Any, tenant_id: str, witness: Witness) -> int:
        """The largest size this witness cosigned for the organisation, as stored by any process of the ledger."""
        found = conn.execute(
            select(func.max(LogCosignature.tree_size)).where(LogCosignature.tenant_id == tenant_id, LogCosignature.key_id == witness.verifier.key_id.hex())
        ).scalar()
        return int(found or 0)

    def _store(self, tenant_id: str, size: int, signed: str, lines: str, witness: Witness) -> None:
        """Keep the witness's cosignature of the checkpoint once it verifies; WitnessRefused when it does not."""
        try:
            note.open_note(signed + lines, [witness.verifier])
            ours = [s for s in note.split_note(signed + lines)[1] if (s.name, s.key_id) == (witness.name, witness.verifier.key_id)]
        except note.NoteError as problem:
            self._count(witness, "invalid")
            raise WitnessRefused(f"{witness.name} answered a cosignature that does not verify: {problem}") from None
        with write_transaction(self._engine) as conn:
            if self._has(conn, tenant_id, size, witness):
                return
            conn.execute(
                insert(LogCosignature).values(
                    tenant_id=tenant_id, tree_size=size, key_id=witness.verifier.key_id.hex(), witness=witness.name,
                    line=ours[0].line, cosigned_at=note.cosignature_time(ours[0].signature),
                )
            )  # fmt: skip

    def state(self, tenant_id: Optional[str] = None) -> list[dict[str, Any]]:
        """Per witness and organisation (or of one organisation): the newest checkpoint, the newest it cosigned, the
        lag, the last error."""
        mine = [LogCheckpoint.tenant_id == tenant_id] if tenant_id is not None else []
        theirs = [LogCosignature.tenant_id == tenant_id] if tenant_id is not None else []
        with read_connection(self._engine) as conn:
            newest = dict(conn.execute(select(LogCheckpoint.tenant_id, func.max(LogCheckpoint.tree_size)).where(*mine).group_by(LogCheckpoint.tenant_id)).all())
            rows = conn.execute(
                select(LogCosignature.tenant_id, LogCosignature.key_id, func.max(LogCosignature.tree_size), func.max(LogCosignature.cosigned_at))
                .where(*theirs)
                .group_by(LogCosignature.tenant_id, LogCosignature.key_id)
            ).all()
        cosigned = {(row[0], row[1]): (int(row[2]), int(row[3])) for row in rows}
        report = []
        for index, witness in enumerate(self.witnesses):
            for organisation, size in sorted(newest.items()):
                done, at = cosigned.get((organisation, witness.verifier.key_id.hex()), (0, 0))
                report.append({"witness": witness.name, "vkey": witness.verifier.vkey, "url": witness.url, "organisation": organisation,
                               "checkpoint": int(size), "cosigned": done,
                               "behind": int(size) - done, "cosigned_at": at or None, "seconds_since": round(time.time() - at) if at else None,
                               "last_error": self.last_error.get((index, organisation))})  # fmt: skip
        return report

    def lag_metrics(self) -> list[Any]:
        """Gauges for a scrape, per witness (never per organisation): entries not yet cosigned, summed over the
        organisations' newest checkpoints, and when the witness last cosigned."""
        from prometheus_client.core import GaugeMetricFamily

        behind = GaugeMetricFamily("xase_witness_behind_entries", "Entries of the newest checkpoints a witness has not cosigned yet", labels=["witness"])
        last = GaugeMetricFamily("xase_witness_last_cosigned_timestamp_seconds", "When a witness last cosigned a checkpoint (0: never)", labels=["witness"])
        totals: dict[str, list[int]] = {witness.name: [0, 0] for witness in self.witnesses}
        for row in self.state():
            totals[row["witness"]][0] += row["behind"]
            totals[row["witness"]][1] = max(totals[row["witness"]][1], row["cosigned_at"] or 0)
        for name, (entries, at) in totals.items():
            behind.add_metric([name], entries)
            last.add_metric([name], at)
        return [behind, last]


def _own_lines(signed: str) -> str:
    """The note as the ledger signed it: witnesses' lines removed (a witness MUST ignore them anyway; shorter is kinder)."""
    text, signatures = note.split_note(signed)
    origin = note.parse_checkpoint(text).origin
    return text + "\n" + "".join(signature.line for signature in signatures if signature.name == origin)
