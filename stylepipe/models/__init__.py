"""Neural models: specs and architectures, weights (load, check, sha256), the loaded-model
descriptor, devices and precision.

Import the modules themselves; this file stays empty so that importing one
module never loads the others (nor torch)."""
