"""Exact, memory-bounded tiled inference: the policy (torch-free), tile geometry, sweeps,
jobs and global instance-norm statistics.

Import the modules themselves; this file stays empty so that importing one
module never loads the others (nor torch)."""
