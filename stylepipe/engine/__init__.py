"""The batch engine: planning inputs and outputs, the job and result types, the executor
that runs a job, and the JSON report.

Import the modules themselves; this file stays empty so that importing one
module never loads the others (nor torch)."""
