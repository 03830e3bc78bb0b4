"""One trial's life, in one place.

- `record`: the typed, versioned trial record (`Record`, `TrialResult`, `TrialId`), read and
  written atomically; imports nothing from the loop;
- `loop`: the training loop (`run_trial`, `TrainingLoop`, `TrainingHandle` for controllers);
- `checkpoint`: saving and restoring an unfinished trial;
- `execute`: check the record, results directory, lock and checkpoint, then train and record;
- `backends`: where a trial runs (inline, an isolated child process, a cluster job) and
  `record_failure` for a trial whose process left no record;
- `files`: atomic, umask-respecting writes; `hashes`: the workload's definition hash.

Nothing is imported here, so `import bench.trial.record` stays light.
"""
