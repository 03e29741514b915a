"""The auditor's report (EU AI Act): machine-checked verdicts over one organisation's evidence for a period, each
with its article and the figures it rests on. One implementation: the ledger builds the report with it, and
`xase verify --report` re-derives every verdict with it from the evidence, so an edited number cannot pass.

Inputs, all named in the report (`inputs`):
    the chain        records [0, N) of an export bundle (EVIDENCE-FORMAT.md section 6), N the checkpoint's size;
                     their digest is SHA-256 over the N record hashes, in order;
    the checkpoint   the organisation's log checkpoint of size N, signed by the ledger, with any cosignatures;
    the facts        what the evidence cannot show about the ledger's configuration (retention, the witnesses and
                     their quorum, the gap threshold), attested with the rest by the ledger's signature over the
                     report (`attestation`).

    builder = ReportBuilder(period, facts)
    for line in bundle_lines: builder.add(line)          # record lines, in chain order
    report = builder.finish(checkpoint, public_keys)     # checks + statistics, not yet attested
"""

from __future__ import annotations

import hashlib
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, Optional

from xase import evidence, note, tlog
from xase.references import LEDGER_POLICY_PREFIX, BadReference, EvidenceReference, TurnReference, evidence_problem, parse_references

__all__ = [
    "REPORT_VERSION",
    "RETENTION_MINIMUM_DAYS",
    "Period",
    "ReportBuilder",
    "ReportMismatch",
    "attestation_holds",
    "attested_bytes",
    "check_report",
    "verdicts_of",
]

REPORT_VERSION = 1
RETENTION_MINIMUM_DAYS = 183  # Articles 19(1) and 26(6): at least six months
PASS, FAIL, NOT_APPLICABLE = "pass", "fail", "not_applicable"
_LISTED = 20  # items named in a check's evidence; the counts are always whole


class ReportMismatch(Exception):
    """A report that the evidence does not give: `problems` says where."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("; ".join(problems[:5]) + (f" (and {len(problems) - 5} more)" if len(problems) > 5 else ""))
        self.problems = problems


@dataclass(frozen=True)
class Period:
    since: str  # ISO 8601 UTC, inclusive
    until: str  # exclusive

    def holds(self, recorded_at: str) -> bool:
        return self.since <= recorded_at < self.until


def _time(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00")).astimezone(timezone.utc)


def _week(recorded_at: str) -> str:
    year, week, _ = _time(recorded_at).isocalendar()
    return f"{year}-W{week:02d}"


def _check(check_id: str, title: str, article: str, verdict: str, evidence: dict[str, Any]) -> dict[str, Any]:
    return {"id": check_id, "title": title, "article": article, "verdict": verdict, "evidence": evidence}


@dataclass
class ReportBuilder:
    """Reads the chain's record lines in order and keeps only what the checks need (it never holds the chain)."""

    period: Period
    facts: Mapping[str, Any]
    records: int = 0
    _digest: Any = field(default_factory=hashlib.sha256)
    _tree: tlog.Frontier = field(default_factory=tlog.Frontier)  # the records' tree, by its right edge
    _by_transaction: dict[str, tuple[int, str]] = field(default_factory=dict)  # transaction id -> (seq, policy), the chain's
    _oldest: Optional[str] = None
    _decisions: int = 0
    _unversioned: list[str] = field(default_factory=list)
    _versions: dict[tuple[str, str], str] = field(default_factory=dict)  # (policy, version) -> first seen in the period
    _last_time: Optional[str] = None
    _longest_gap: tuple[float, str, str] = (0.0, "", "")
    _erasures: list[dict[str, Any]] = field(default_factory=list)
    _oversight: list[dict[str, Any]] = field(default_factory=list)
    _sessions: Counter[str] = field(default_factory=Counter)
    _references: Counter[str] = field(default_factory=Counter)
    _unresolved: list[dict[str, Any]] = field(default_factory=list)
    _confidence: dict[str, Counter[str]] = field(default_factory=lambda: defaultdict(Counter))  # policy -> decile -> count
    _weekly: dict[str, Counter[str]] = field(default_factory=lambda: defaultdict(Counter))  # policy -> week -> decisions
    _types: dict[str, Counter[str]] = field(default_factory=lambda: defaultdict(Counter))  # policy -> decision type -> count
    _rules: dict[str, bool] = field(default_factory=dict)

    def add(self, line: Mapping[str, Any]) -> None:
        """One record line of the bundle (`{"type": "record", "record": ..., "record_hash": ..., "context": ...}`)."""
        body, record_hash, context = line["record"], str(line["record_hash"]), line.get("context")
        if body["seq"] != self.records:
            raise ReportMismatch([f"record {self.records}: the bundle gives seq {body['seq']}"])
        self.records += 1
        self._digest.update(bytes.fromhex(record_hash))
        self._tree.append(tlog.leaf_hash(bytes.fromhex(record_hash)))
        policy, recorded_at = str(body["policy_id"]), str(body["recorded_at"])
        self._by_transaction[str(body["transaction_id"])] = (int(body["seq"]), policy)
        self._oldest = self._oldest or recorded_at
        if policy == "xase.oversight.rule" and isinstance(context, dict):
            self._rules[str(context.get("policy_id"))] = bool(context.get("two_person"))
        if not self.period.holds(recorded_at):
            return
        if policy.startswith(LEDGER_POLICY_PREFIX):
            self._ledger_record(body, context)
        else:
            self._decision(body, context)

    def _ledger_record(self, body: Mapping[str, Any], context: Any) -> None:
        policy = body["policy_id"]
        if policy == "xase.erasure" and isinstance(context, dict):
            self._erasures.append({"transaction_id": body["transaction_id"], "erased_at": body["recorded_at"], "record": context.get("requested_for")})
        elif policy == "xase.oversight" and isinstance(context, dict) and isinstance(context.get("oversight"), dict):
            event = context["oversight"]
            decision = self._by_transaction.get(str(event.get("decision")))
            self._oversight.append({**{key: event.get(key) for key in ("decision", "action", "actor", "confirms", "needs_confirmation")},
                                    "event_id": body["transaction_id"], "decision_policy": decision[1] if decision else None,
                                    "linked": decision is not None and decision[0] < body["seq"]})  # fmt: skip
        elif policy == "xase.sessions":
            self._sessions[str(body.get("decision_type"))] += 1

    def _decision(self, body: Mapping[str, Any], context: Any) -> None:
        self._decisions += 1
        policy, version, recorded_at = str(body["policy_id"]), body.get("policy_version"), str(body["recorded_at"])
        if not version:
            if len(self._unversioned) < _LISTED:
                self._unversioned.append(str(body["transaction_id"]))
        else:
            self._versions.setdefault((policy, str(version)), recorded_at)
        if self._last_time is not None:
            gap = (_time(recorded_at) - _time(self._last_time)).total_seconds()
            if gap > self._longest_gap[0]:
                self._longest_gap = (gap, self._last_time, recorded_at)
        self._last_time = recorded_at
        confidence = body.get("confidence")
        self._confidence[policy]["none" if confidence is None else f"{min(int(float(confidence) * 10), 9) / 10:.1f}"] += 1
        self._weekly[policy][_week(recorded_at)] += 1
        self._types[policy][str(body.get("decision_type") or "-")] += 1
        self._cites(body, context)

    def _cites(self, body: Mapping[str, Any], context: Any) -> None:
        try:
            references = parse_references(context)
        except BadReference as bad:
            self._unresolved.append({"transaction_id": body["transaction_id"], "problem": str(bad)})
            return
        for reference in references:
            self._references["cxdb" if isinstance(reference, TurnReference) else reference.member] += 1
            if isinstance(reference, EvidenceReference):
                problem = evidence_problem(reference, body["seq"], self._by_transaction.get(reference.transaction_id))
                if problem is not None and len(self._unresolved) < _LISTED:
                    self._unresolved.append({"transaction_id": body["transaction_id"], "cites": reference.transaction_id, "problem": problem})

    def finish(self, checkpoint: str, public_keys: list[dict[str, Any]]) -> dict[str, Any]:
        """The report without its attestation: inputs, checks, statistics."""
        return {
            "report_version": REPORT_VERSION,
            "period": {"since": self.period.since, "until": self.period.until},
            "inputs": self._inputs(checkpoint, public_keys),
            "checks": self._checks(checkpoint, public_keys),
            "statistics": self._statistics(),
        }

    def _inputs(self, checkpoint: str, public_keys: list[dict[str, Any]]) -> dict[str, Any]:
        return {"records": self.records, "records_digest": self._digest.hexdigest(), "checkpoint": checkpoint, "facts": dict(self.facts),
                "public_keys": public_keys}  # fmt: skip

    # the checks -------------------------------------------------------------------------------------------------

    def _checks(self, checkpoint: str, public_keys: list[dict[str, Any]]) -> list[dict[str, Any]]:
        return [
            self._chain(),
            self._log(checkpoint),
            self._witnessed(checkpoint),
            self._continuity(),
            self._versioned(),
            self._policy_changes(),
            self._retention(),
            self._erasure(),
            self._oversight_linked(),
            self._two_person(),
            self._overrides(),
            self._provenance(),
            self._citations(),
            self._keys(public_keys),
        ]

    def _chain(self) -> dict[str, Any]:
        return _check("chain", "The chain of records and signed blocks verifies", "Art. 12(1), 19(1)", PASS if self.records else NOT_APPLICABLE,
                      {"records": self.records, "decisions_in_period": self._decisions, "records_digest": self._digest.hexdigest()})  # fmt: skip

    def _log(self, checkpoint: str) -> dict[str, Any]:
        try:
            checkpoint_text = note.parse_checkpoint(note.split_note(checkpoint)[0])
        except note.NoteError as problem:
            return _check("log", "The records are the organisation's signed log", "Art. 12(1)", FAIL, {"problem": str(problem)})
        root = self._tree.root() if checkpoint_text.size == self.records else None
        matches = root == checkpoint_text.root
        return _check("log", "The records are the organisation's signed log", "Art. 12(1)", PASS if matches else FAIL,
                      {"origin": checkpoint_text.origin, "tree_size": checkpoint_text.size, "root_matches": matches})  # fmt: skip

    def _witnessed(self, checkpoint: str) -> dict[str, Any]:
        witnesses = list(self.facts.get("witnesses") or [])
        quorum = int(self.facts.get("witness_quorum") or len(witnesses))
        if not witnesses:
            return _check("witnessed", "Independent witnesses cosigned the log", "Art. 12(1)", NOT_APPLICABLE, {"witnesses": 0})
        try:
            _text, cosigners = note.verified_signers(checkpoint, [note.parse_vkey(vkey) for vkey in witnesses])
        except note.NoteError as problem:
            return _check("witnessed", "Independent witnesses cosigned the log", "Art. 12(1)", FAIL, {"problem": str(problem)})
        return _check("witnessed", "Independent witnesses cosigned the log", "Art. 12(1)", PASS if len(cosigners) >= quorum else FAIL,
                      {"witnesses": len(witnesses), "quorum": quorum, "cosigned_by": sorted(cosigner.name for cosigner in cosigners)})  # fmt: skip

    def _continuity(self) -> dict[str, Any]:
        threshold = float(self.facts.get("gap_threshold_seconds") or 86_400)
        gap, start, end = self._longest_gap
        verdict = NOT_APPLICABLE if self._decisions < 2 else (PASS if gap <= threshold else FAIL)
        return _check("continuity", "No silence in the record of operation longer than the threshold", "Art. 12(2)(c), 26(5)", verdict,
                      {"threshold_seconds": threshold, "longest_gap_seconds": round(gap, 3), "gap_from": start or None, "gap_to": end or None})  # fmt: skip

    def _versioned(self) -> dict[str, Any]:
        verdict = NOT_APPLICABLE if not self._decisions else (FAIL if self._unversioned else PASS)
        return _check("versioned", "Every decision names its policy and version", "Art. 12(2)(a)", verdict,
                      {"decisions": self._decisions, "without_version": self._unversioned})  # fmt: skip

    def _policy_changes(self) -> dict[str, Any]:
        changes = [
            {"policy_id": policy, "version": version, "first_seen": seen}
            for (policy, version), seen in sorted(self._versions.items(), key=lambda item: item[1])
        ]
        by_policy = Counter(change["policy_id"] for change in changes)
        changed = sorted(policy for policy, versions in by_policy.items() if versions > 1)
        return _check("policy_changes", "Policy versions in use, and every change of version", "Art. 12(2)(a), 43(4)",
                      PASS if changes else NOT_APPLICABLE, {"versions": changes, "policies_changed": changed})  # fmt: skip

    def _retention(self) -> dict[str, Any]:
        days = self.facts.get("retention_days")
        oldest_days = round((_time(self.period.until) - _time(self._oldest)).total_seconds() / 86_400, 1) if self._oldest else None
        verdict = FAIL if days is not None and 0 < int(days) < RETENTION_MINIMUM_DAYS else PASS
        return _check("retention", "Logs are kept at least six months", "Art. 19(1), 26(6)", verdict,
                      {"retention_days": days, "minimum_days": RETENTION_MINIMUM_DAYS, "oldest_record_age_days": oldest_days,
                       "note": "0 or none: records are never deleted (the chain is append-only)"})  # fmt: skip

    def _erasure(self) -> dict[str, Any]:
        return _check("erasures", "Payload erasures, each evidence, with the chain still verifying", "Art. 10(5); GDPR Art. 17",
                      PASS if self._erasures else NOT_APPLICABLE, {"erasures": len(self._erasures), "listed": self._erasures[:_LISTED]})  # fmt: skip

    def _oversight_linked(self) -> dict[str, Any]:
        unlinked = [event["event_id"] for event in self._oversight if not event["linked"]]
        verdict = NOT_APPLICABLE if not self._oversight else (FAIL if unlinked else PASS)
        return _check("oversight_linked", "Every oversight event acts on an earlier decision of the chain", "Art. 14(4)", verdict,
                      {"events": len(self._oversight), "unlinked": unlinked[:_LISTED]})  # fmt: skip

    def _two_person(self) -> dict[str, Any]:
        held = {event["event_id"]: event for event in self._oversight if event.get("needs_confirmation")}
        confirmations = {event["confirms"]: event for event in self._oversight if event["action"] == "confirm" and event.get("confirms")}
        pending = [event_id for event_id in held if event_id not in confirmations]
        same = [event_id for event_id, event in held.items() if event_id in confirmations and confirmations[event_id]["actor"] == event["actor"]]
        rules = sorted(policy for policy, on in self._rules.items() if on)
        verdict = NOT_APPLICABLE if not held and not rules else (FAIL if pending or same else PASS)
        return _check("two_person", "Overrides under a two-person rule were confirmed by another person", "Art. 14(5)", verdict,
                      {"rules": rules, "held": len(held), "awaiting_confirmation": pending[:_LISTED], "confirmed_by_same_actor": same})  # fmt: skip

    def _overrides(self) -> dict[str, Any]:
        per_policy: dict[str, Counter[str]] = defaultdict(Counter)
        for event in self._oversight:
            per_policy[str(event["decision_policy"])][str(event["action"])] += 1
        counts = {policy: dict(sorted(actions.items())) for policy, actions in sorted(per_policy.items())}
        return _check("oversight_per_policy", "Human interventions per policy", "Art. 14(4), 72",
                      PASS if counts else NOT_APPLICABLE, {"per_policy": counts})  # fmt: skip

    def _provenance(self) -> dict[str, Any]:
        sessions = dict(sorted(self._sessions.items()))
        evidence = {"accesses_by_kind": sessions, "decisions_citing_data_access": self._references["data_access"]}
        return _check("data_provenance", "Governed data accesses behind the models", "Art. 10", PASS if sessions else NOT_APPLICABLE, evidence)

    def _citations(self) -> dict[str, Any]:
        cited = sum(self._references.values())
        verdict = NOT_APPLICABLE if not cited and not self._unresolved else (FAIL if self._unresolved else PASS)
        return _check("citations", "What decisions cite resolves to earlier evidence (explanations are complete)", "Art. 12(3), 86", verdict,
                      {"references": dict(sorted(self._references.items())), "unresolved": self._unresolved[:_LISTED],
                       "note": "agent-context turns are checked against the context store by xase-ledger verify"})  # fmt: skip

    def _keys(self, public_keys: list[dict[str, Any]]) -> dict[str, Any]:
        keys = [{"key_id": key.get("key_id"), "algorithm": key.get("algorithm"), "kms_key_arn": key.get("kms_key_arn"),
                 "provenance": "AWS KMS" if key.get("kms_key_arn") else "local key file"} for key in public_keys]  # fmt: skip
        return _check("signing_keys", "The keys that signed the evidence, and where they are kept", "Art. 12(1), 15(4)",
                      PASS if keys else FAIL, {"keys": keys})  # fmt: skip

    def _statistics(self) -> dict[str, Any]:
        return {
            "decisions": self._decisions,
            "confidence_by_policy": {policy: dict(sorted(bins.items())) for policy, bins in sorted(self._confidence.items())},
            "decisions_by_week": {policy: dict(sorted(weeks.items())) for policy, weeks in sorted(self._weekly.items())},
            "decision_types_by_policy": {policy: dict(sorted(types.items())) for policy, types in sorted(self._types.items())},
        }


def attested_bytes(report: Mapping[str, Any]) -> bytes:
    """What the ledger's attestation signs (ECDSA P-256 over its SHA-256): the report's RFC 8785 form without
    its `attestation` member."""
    return evidence.canonicalize({key: value for key, value in report.items() if key != "attestation"})


def attestation_holds(report: Mapping[str, Any], public_key: evidence.PublicKeyLike) -> bool:
    """Whether `report["attestation"]` is `public_key`'s signature over `attested_bytes(report)`."""
    attestation = report.get("attestation")
    signature = attestation.get("signature") if isinstance(attestation, Mapping) else None
    digest = hashlib.sha256(attested_bytes(report)).digest()
    return isinstance(signature, str) and evidence.verify_signature(public_key, digest, signature)


def verdicts_of(report: Mapping[str, Any]) -> dict[str, str]:
    return {str(check["id"]): str(check["verdict"]) for check in report["checks"]}


def check_report(report: Mapping[str, Any], record_lines: Iterable[Mapping[str, Any]]) -> dict[str, Any]:
    """Re-derive `report` from the chain's record lines (the bundle's, in order; lines past the report's N are
    ignored): ReportMismatch naming every part that differs. Returns the report as re-derived. The bundle itself,
    the checkpoint's and the attestation's signatures are checked by the caller (`xase verify --report`)."""
    inputs = report["inputs"]
    period = Period(report["period"]["since"], report["period"]["until"])
    builder = ReportBuilder(period, inputs["facts"])
    for line in record_lines:
        if builder.records == inputs["records"]:
            break
        builder.add(line)
    again = builder.finish(inputs["checkpoint"], inputs["public_keys"])
    problems = []
    if builder.records != inputs["records"]:
        problems.append(f"the bundle holds {builder.records} records; the report used {inputs['records']}")
    for part in ("report_version", "period", "inputs", "statistics"):
        if again[part] != report.get(part):
            problems.append(f"{part} differs from what the evidence gives")
    mine = {check["id"]: check for check in again["checks"]}
    theirs = {check.get("id"): check for check in report.get("checks", [])}
    for check_id in sorted(set(mine) | set(theirs), key=str):
        if mine.get(check_id) != theirs.get(check_id):
            problems.append(f"check {check_id!r} differs from what the evidence gives")
    if problems:
        raise ReportMismatch(problems)
    return again
