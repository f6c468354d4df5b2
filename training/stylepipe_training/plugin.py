"""Adds ``stylepipe train`` and ``stylepipe eval`` through ``register_commands``.

This module stays import-light: the training code is imported only when a training
command runs, so ``stylepipe run`` never pays for it.
"""
