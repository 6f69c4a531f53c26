"""Models for the leak test: canary strings planted where only `internal` may look."""
