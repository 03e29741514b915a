"""A small credit-decision system over a simulated month, then the auditor's report on it, checked offline.

    xase-ledger create-api-key --tenant lender --scopes records:write records:read payloads:erase sessions
    XASE_API_KEY=xase_pk_... XASE_BASE_URL=http://127.0.0.1:3000/api/xase/v1 python examples/eu_ai_act_month.py [--out report]

    # and, for a governed data access behind the model, a data holder's key and the lender's tenant name:
    XASE_HOLDER_API_KEY=xase_pk_... XASE_CONSUMER_TENANT=lender ...

Thirty "days" run in seconds (the ledger stamps every record with its own clock; the simulated day is in each
decision's context): decisions of policy credit_policy version 4.1, a change to 4.2 on day 16, officers overriding
decisions under a two-person rule, a stop, an erasure of a stored payload at the applicant's request, and the
training data read through a governed session. Then `xase report` writes report.json, report.html and the evidence
bundle, and `xase verify --report` re-derives every verdict from the bundle.
"""

from __future__ import annotations

import argparse
import os
import random
from datetime import datetime, timedelta, timezone

import xase
from xase import XaseClient, cli


def train_on_governed_data(holder_key: str, lender_tenant: str) -> None:
    """The data holder shares applications for model training; the lender's model reads them in a session."""
    with xase.Client(api_key=holder_key) as holder:
        dataset = holder.datasets.create(f"loan-applications-{os.urandom(3).hex()}", description="historic applications")
        dataset.upload([{"record_id": f"app_{n:04d}", "income": 30_000 + 500 * n, "defaulted": n % 7 == 0} for n in range(200)])
        dataset.grant(lender_tenant, purposes=["model-training"], max_duration="30d")
    with xase.Client() as lender, lender.access(dataset=dataset.id, purpose="model-training", duration="1d") as session:
        for batch in session.stream(batch_size=100):
            session.record_operation(operation_type="TRAIN", records=batch.record_ids, metadata={"model_id": "credit_policy-4.2"})


def run_month(client: XaseClient, rng: random.Random) -> None:
    client.set_oversight_rule("credit_policy", two_person=True)
    for day in range(1, 31):
        version = "4.1" if day < 16 else "4.2"
        for _ in range(rng.randint(3, 6)):
            income, amount = rng.randint(18_000, 140_000), rng.randint(1_000, 40_000)
            approved = amount < income / 3
            result = client.record({
                "policy": "credit_policy", "policy_version": version, "decision_type": "loan_application",
                "input": {"income": income, "amount": amount}, "output": {"decision": "APPROVED" if approved else "DENIED"},
                "confidence": round(rng.uniform(0.55, 0.99), 2), "context": {"simulated_day": day, "channel": rng.choice(["web", "branch"])},
                "store_payload": day == 3,
            })  # fmt: skip
            assert result is not None
            if not approved and rng.random() < 0.15:  # an officer overrides a denial; a second officer confirms it
                held = client.record_oversight(result["transaction_id"], "override", f"officer-{rng.randint(1, 5)}", "income verified by phone")
                client.record_oversight(result["transaction_id"], "confirm", "officer-9", "documents checked", confirms=held["event_id"])
            if day == 3:
                client.erase_payload(result["transaction_id"], reason="data subject request (GDPR Art. 17)")
        if day == 20:
            client.record_oversight(result["transaction_id"], "stop", "officer-2", "drift in approvals after 4.2: paused for review")
            client.record_oversight(
                result["transaction_id"],
                "confirm",
                "officer-9",
                "agreed",
                confirms=client.get_explanation(result["transaction_id"])["oversight"][-1]["event_id"],
            )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="report", help="where the report and its evidence go")
    args = parser.parse_args()
    since = (datetime.now(timezone.utc) - timedelta(seconds=1)).isoformat().replace("+00:00", "Z")
    with XaseClient(fire_and_forget=False) as client:
        run_month(client, random.Random(2027))
    if os.environ.get("XASE_HOLDER_API_KEY") and os.environ.get("XASE_CONSUMER_TENANT"):
        train_on_governed_data(os.environ["XASE_HOLDER_API_KEY"], os.environ["XASE_CONSUMER_TENANT"])
    if cli.main(["report", "--since", since, "--out", args.out]) != 0:
        return 1
    return cli.main(["verify", os.path.join(args.out, "evidence.jsonl"), "--report", os.path.join(args.out, "report.json")])


if __name__ == "__main__":
    raise SystemExit(main())
