"""Governed data access (seed 002): the seed's training loop, on a generated medical-records dataset.

    XASE_HOLDER_API_KEY=xase_pk_... XASE_CONSUMER_TENANT=ai-lab XASE_API_KEY=xase_pk_... \
    XASE_BASE_URL=http://127.0.0.1:3000/api/xase/v1 python examples/sessions_training.py

As the data holder (XASE_HOLDER_API_KEY, scope "sessions") it generates a
medical-records dataset with `xase.Client(...).datasets` and shares it with the
tenant XASE_CONSUMER_TENANT for "model-training"; then, as that tenant's AI team
(XASE_API_KEY), it runs the seed's code as written. Every call of the second part
is recorded as evidence in the team's chain; at the end the holder lists each
access and verifies its receipt.
"""

from __future__ import annotations

import os
import random
import sys
from typing import Any

import xase


class TinyModel:
    """Stands in for your model: it counts what it trained on."""

    def __init__(self) -> None:
        self.seen = 0
        self.current_loss, self.current_accuracy = 1.0, 0.0

    def train(self, batch: Any) -> None:
        self.seen += len(batch)
        self.current_loss, self.current_accuracy = 1.0 / (1 + self.seen), 1.0 - 1.0 / (1 + self.seen)


def share_generated_dataset(holder_key: str, consumer_tenant: str, count: int = 500) -> str:
    """The data holder's part: a synthetic dataset, shared for model training for 30 days."""
    rng = random.Random(2024)
    records = [{"record_id": f"rec_{n:05d}", "patient_id": f"p{n:05d}", "name": f"Patient {n}", "address": f"{n} Rua Augusta, Lisboa",
                "age": rng.randint(18, 95), "diagnosis": rng.choice(["diabetes", "hypertension", "asthma", "copd"]),
                "lab_results": {"glucose": rng.randint(70, 300), "a1c": round(rng.uniform(4.5, 11), 1)}} for n in range(count)]  # fmt: skip
    with xase.Client(api_key=holder_key) as holder:
        dataset = holder.datasets.create(f"medical-records-2024-{os.urandom(3).hex()}", description="synthetic patients")
        dataset.upload(records)  # or a path to a JSON Lines file; progress=True draws a bar
        dataset.grant(consumer_tenant, purposes=["model-training"], max_duration="30d")
    return dataset.id


def show_access_log(holder_key: str, dataset_id: str) -> None:
    """The data holder again: every access to its dataset, newest first, each with a receipt that verifies offline."""
    with xase.Client(api_key=holder_key) as holder:
        accesses = list(holder.datasets.get(dataset_id).accesses())
    for access in accesses:
        xase.verify_receipt(access["receipt"])
    print(f"holder sees {len(accesses)} accesses, each receipt verified")


def main(dataset: str) -> int:
    model = TinyModel()
    client = xase.Client(api_key=os.environ["XASE_API_KEY"])
    session = client.access(dataset=dataset, purpose="model-training", duration="30d")

    for batch in session.stream(batch_size=32):
        model.train(batch)
        session.record_operation(
            operation_type="TRAIN",
            records=batch.record_ids,
            metadata={"model_id": "diagnostic-model-v2", "metrics": {"loss": model.current_loss, "accuracy": model.current_accuracy}},
        )

    elderly_diabetics = session.filter(query={"age": {"$gte": 65}, "diagnosis": "diabetes"}, sort={"age": -1}, limit=100)
    print(f"Found {len(elderly_diabetics)} records")

    anonymized = session.transform(
        records=elderly_diabetics, transformation="anonymize", parameters={"fields": ["patient_id", "name", "address"], "method": "hash"}
    )
    print(f"Anonymized {len(anonymized)} records (transformation {anonymized.info['transformation_id']})")

    first = elderly_diabetics[0].record_id if elderly_diabetics else batch.record_ids[0]
    patient = session.get_record(first)
    print(f"Patient age: {patient.age}, diagnosis: {patient.diagnosis}")

    results = session.aggregate([
        {"$match": {"age": {"$gte": 50}}},
        {"$group": {"_id": "$diagnosis", "count": {"$sum": 1}, "avg_age": {"$avg": "$age"}}},
        {"$sort": {"count": -1}},
    ])  # fmt: skip
    for result in results:
        print(f"Diagnosis: {result['_id']}  Count: {result['count']}  Average age: {result['avg_age']:.1f}")

    session.close(reason="Analysis complete")
    print(f"trained on {model.seen} records; session closed")
    return 0


if __name__ == "__main__":
    shared = share_generated_dataset(os.environ["XASE_HOLDER_API_KEY"], os.environ["XASE_CONSUMER_TENANT"])
    status = main(shared)
    show_access_log(os.environ["XASE_HOLDER_API_KEY"], shared)
    sys.exit(status)
