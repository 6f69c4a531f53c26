"""Data tools: ingest, DataFrames, snapshots, the consistency audit, plots, notifications, to-do lists."""
