"""Target-setting reports of the cpu workloads, written by `bench set-targets` (bench.targets)."""
