"""Migrating a vector index from model A to model B through a stitch."""
