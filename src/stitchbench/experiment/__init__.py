"""Experiments: config, plan of keyed tasks, executors and the runner."""
