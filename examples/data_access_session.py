"""Governed data access (seed 002): train on a data holder's dataset inside a session.

    XASE_API_KEY=xase_pk_... XASE_BASE_URL=http://127.0.0.1:3000/api/xase/v1 python examples/data_access_session.py DATASET

The data holder must have shared DATASET with your tenant for "model-training"
(POST /datasets/{id}/grants). Every call below is recorded as evidence.
"""

from __future__ import annotations

import os
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
    sys.exit(main(sys.argv[1] if len(sys.argv) > 1 else "medical-records-2024"))
