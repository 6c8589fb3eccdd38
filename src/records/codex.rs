//! Codex's records: parsing its JSONL rows into [`RecordFact`](super::RecordFact)s.
